/// A binary tree of sums over a flat array: set a leaf and find a prefix-sum position in O(log n).
///
/// Leaves sit at `[width, width + capacity)` of ``nodes`` with `width` the next power of two;
/// node `j` holds the sum of its children `2j` and `2j + 1`, so the root, node 1, is the total.
/// Sums are `Double`, so 200,000 leaves do not drift the way `Float` sums would.
struct SumTree: Sendable, Equatable {
  let capacity: Int
  let width: Int
  private(set) var nodes: [Double]

  init(capacity: Int) {
    self.capacity = capacity
    var width = 1
    while width < capacity { width *= 2 }
    self.width = width
    nodes = [Double](repeating: 0, count: 2 * width)
  }

  var total: Double { nodes[1] }

  subscript(leaf: Int) -> Double { nodes[width + leaf] }

  mutating func set(_ leaf: Int, to value: Double) {
    var node = width + leaf
    nodes[node] = value
    node /= 2
    while node >= 1 {
      nodes[node] = nodes[2 * node] + nodes[2 * node + 1]
      node /= 2
    }
  }

  /// The leaf whose cumulative range `[Σ_{j<i} v_j, Σ_{j≤i} v_j)` holds `mass`, for
  /// `0 ≤ mass < total`. Rounding can land on a zero leaf at the edge; the nearest non-zero leaf
  /// to its left is returned instead.
  func leaf(containing mass: Double) -> Int {
    var node = 1
    var rest = mass
    while node < width {
      let left = nodes[2 * node]
      if rest < left {
        node = 2 * node
      } else {
        rest -= left
        node = 2 * node + 1
      }
    }
    var leaf = min(node - width, capacity - 1)
    while leaf > 0 && nodes[width + leaf] <= 0 { leaf -= 1 }
    return leaf
  }
}

/// One neighbour of a prediction: its similarity, its place in the rating column, and the
/// term it contributes (its rating, or its rating minus its mean or baseline).
struct NeighborCandidate {
  var similarity: Float
  var order: Int32
  var term: Double

  /// True when `self` ranks below `other`: lower similarity, or equal and later in the column.
  @inline(__always)
  func ranksBelow(_ other: NeighborCandidate) -> Bool {
    similarity < other.similarity || (similarity == other.similarity && order > other.order)
  }
}

/// Moves the `k` best candidates (highest similarity, earlier on ties) to the front.
///
/// Matches `heapq.nlargest(k, neighbors, key=sim)`, which Surprise uses: on equal similarity the
/// neighbour met first in the column wins. Returns how many candidates were kept, `min(count, k)`.
///
/// - Complexity: O(count · log k), in place, no allocation.
func selectLargest(
  _ candidates: UnsafeMutableBufferPointer<NeighborCandidate>, count: Int, keep k: Int
)
  -> Int
{
  guard count > k else { return count }
  guard k > 0 else { return 0 }
  // A min-heap on the first k slots whose root is the worst candidate kept so far.
  var start = k / 2 - 1
  while start >= 0 {
    siftDown(candidates, from: start, heapSize: k)
    start -= 1
  }
  for t in k..<count where candidates[0].ranksBelow(candidates[t]) {
    candidates[0] = candidates[t]
    siftDown(candidates, from: 0, heapSize: k)
  }
  return k
}

@inline(__always)
private func siftDown(
  _ heap: UnsafeMutableBufferPointer<NeighborCandidate>, from start: Int, heapSize: Int
) {
  var parent = start
  while true {
    let left = 2 * parent + 1
    if left >= heapSize { return }
    var worst = left
    let right = left + 1
    if right < heapSize, heap[right].ranksBelow(heap[left]) { worst = right }
    guard heap[worst].ranksBelow(heap[parent]) else { return }
    heap.swapAt(worst, parent)
    parent = worst
  }
}

import AffinityCore
import AffinityLinalg

/// Shared pieces of the factor models: initialisation, the rating loss, the divergence check.
enum FactorTraining {
  /// A `rows × k` matrix with entries drawn from N(mean, std²), one seeded stream per matrix.
  static func gaussian(rows: Int, columns: Int, mean: Float, standardDeviation: Float, seed: UInt64, stream: UInt64)
    -> DenseMatrix
  {
    var generator = SeededGenerator(seed: seed, stream: stream)
    var matrix = DenseMatrix(rows: rows, columns: columns)
    for r in 0..<rows {
      for c in 0..<columns {
        matrix[r, c] = mean + standardDeviation * Float(generator.nextGaussian())
      }
    }
    return matrix
  }

  /// A `rows × k` matrix with entries uniform in `low..<high`.
  static func uniform(rows: Int, columns: Int, low: Float, high: Float, seed: UInt64, stream: UInt64)
    -> DenseMatrix
  {
    var generator = SeededGenerator(seed: seed, stream: stream)
    var matrix = DenseMatrix(rows: rows, columns: columns)
    for r in 0..<rows {
      for c in 0..<columns { matrix[r, c] = low + (high - low) * Float(generator.nextUniform()) }
    }
    return matrix
  }

  /// User and item vectors uniform in `[−1/(2k), 1/(2k))`, LightFM's and implicit's BPR start.
  static func initialEmbeddings(_ data: InteractionData, embeddingSize k: Int, seed: UInt64) -> (DenseMatrix, DenseMatrix) {
    let half = 0.5 / Float(k)
    return (
      uniform(rows: data.users.count, columns: k, low: -half, high: half, seed: seed, stream: 1),
      uniform(rows: data.items.count, columns: k, low: -half, high: half, seed: seed, stream: 2)
    )
  }

  /// The order in which one epoch visits the ratings: positions into the user × item CSR.
  ///
  /// Users come in a fresh seeded order and each user's ratings in a seeded order, so the
  /// user's factor row stays in cache while their ratings are visited (at 5M ratings a fully
  /// random order was 5× slower) and the visit order still changes every epoch.
  static func epochOrder(_ ratings: SparseRowMatrix, generator: inout SeededGenerator) -> [Int32] {
    var users = Array(0..<ratings.rowCount)
    generator.shuffle(&users)
    var order = [Int32]()
    order.reserveCapacity(ratings.nonZeroCount)
    var block: [Int32] = []
    for u in users {
      block.removeAll(keepingCapacity: true)
      for p in ratings.range(ofRow: u) { block.append(Int32(p)) }
      generator.shuffle(&block)
      order.append(contentsOf: block)
    }
    return order
  }

  /// The row of every stored position of `matrix`.
  static func rowOfPosition(_ matrix: SparseRowMatrix) -> [Int32] {
    var rows = [Int32](repeating: 0, count: matrix.nonZeroCount)
    for r in 0..<matrix.rowCount { for p in matrix.range(ofRow: r) { rows[p] = Int32(r) } }
    return rows
  }
}

/// The schedule of stratified SGD: each user's ratings grouped by the block of their item.
///
/// Users and items fall in ``blocks`` contiguous index ranges (contiguous, so that biases of
/// neighbouring indices, which share a cache line, are written by one thread). Stratum `s` pairs user
/// block `b` with item block `(b + s) % blocks`, so the blocks of a stratum touch disjoint rows
/// of both factor matrices and can run in parallel without changing the result.
///
/// Gemulla, Nijkamp, Haas, Sismanis. "Large-Scale Matrix Factorization with Distributed
/// Stochastic Gradient Descent." KDD 2011.
struct StratifiedSchedule: Sendable {
  /// Fixed, never derived from the core count, so results do not depend on the machine.
  let blocks = 4
  /// CSR positions, grouped by user, then by item block, input order within a group.
  let positions: [Int32]
  /// `users · blocks + 1` offsets into ``positions``.
  let starts: [Int]

  let userCount: Int
  let itemCount: Int

  init(_ ratings: SparseRowMatrix, itemCount: Int) {
    self.userCount = ratings.rowCount
    self.itemCount = itemCount
    let blocks = self.blocks
    var positions = [Int32]()
    positions.reserveCapacity(ratings.nonZeroCount)
    var starts = [Int]()
    starts.reserveCapacity(ratings.rowCount * blocks + 1)
    for u in 0..<ratings.rowCount {
      for b in 0..<blocks {
        starts.append(positions.count)
        for p in ratings.range(ofRow: u) where Int(ratings.columns[p]) * blocks / max(itemCount, 1) == b {
          positions.append(Int32(p))
        }
      }
    }
    starts.append(positions.count)
    self.positions = positions
    self.starts = starts
  }

  func userBlock(_ u: Int) -> Int { u * blocks / max(userCount, 1) }

  func range(user u: Int, itemBlock b: Int) -> Range<Int> {
    starts[u * blocks + b]..<starts[u * blocks + b + 1]
  }
}

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

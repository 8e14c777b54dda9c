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

  /// The order in which one epoch visits the training rows.
  static func epochOrder(_ count: Int, generator: inout SeededGenerator) -> [Int32] {
    var order = (0..<Int32(count)).map { $0 }
    generator.shuffle(&order)
    return order
  }
}

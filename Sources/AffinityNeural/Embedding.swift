import AffinityCore

/// A lookup table of `count` vectors of width `dimension`, trained by sparse updates: a batch
/// touches only the rows it looked up.
public struct Embedding: Sendable, Equatable {
  public let count: Int
  public let dimension: Int
  /// Row-major `count × dimension`.
  public var table: [Float]

  /// Rows drawn from `N(0, scale²)`.
  public init(count: Int, dimension: Int, scale: Float = 0.1, seed: UInt64) throws(NeuralError) {
    guard count > 0, dimension > 0 else {
      throw .shapeMismatch(expected: "an embedding of ≥ 1 rows and ≥ 1 columns", received: "\(count)×\(dimension)")
    }
    var generator = SeededGenerator(seed: seed, stream: 0xE3B)
    self.count = count
    self.dimension = dimension
    table = (0..<(count * dimension)).map { _ in Float(generator.nextGaussian()) * scale }
  }

  public init(count: Int, dimension: Int, table: [Float]) throws(NeuralError) {
    guard count > 0, dimension > 0, table.count == count * dimension else {
      throw .shapeMismatch(expected: "\(count)×\(dimension) values", received: "\(table.count)")
    }
    self.count = count
    self.dimension = dimension
    self.table = table
  }

  /// One row per id. Ids must be in `0..<count` (callers map external ids through a vocabulary).
  public func lookup(_ ids: [Int32]) -> Matrix {
    var out = Matrix(rows: ids.count, columns: dimension)
    for (r, id) in ids.enumerated() {
      let base = Int(id) * dimension
      for c in 0..<dimension { out.storage[r * dimension + c] = table[base + c] }
    }
    return out
  }

  /// The gradient of the table given ∂loss/∂(looked-up rows): repeated ids are summed, rows
  /// come out sorted.
  public static func gradient(ids: [Int32], outputGradient: Matrix) -> SparseGradient {
    let d = outputGradient.columns
    let order = ids.indices.sorted { ids[$0] < ids[$1] || (ids[$0] == ids[$1] && $0 < $1) }
    var rows: [Int32] = []
    var values: [Float] = []
    for i in order {
      if rows.last != ids[i] {
        rows.append(ids[i])
        values.append(contentsOf: repeatElement(0, count: d))
      }
      let base = values.count - d
      for c in 0..<d { values[base + c] += outputGradient.storage[i * d + c] }
    }
    return SparseGradient(rows: rows, dimension: d, values: values)
  }
}

/// Gradient rows for an ``Embedding``: `values` is `rows.count × dimension`, row-major.
public struct SparseGradient: Sendable, Equatable {
  public var rows: [Int32]
  public var dimension: Int
  public var values: [Float]
}

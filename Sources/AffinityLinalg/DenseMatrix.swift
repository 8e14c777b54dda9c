/// A row-major matrix of `Float` in one contiguous buffer, rows padded to a multiple of 8.
///
/// Padding keeps every row's start aligned for `SIMD8<Float>` and lets kernels run over
/// `stride` columns without a scalar tail; padding columns are zero and stay zero under the
/// kernels of ``Vector``.
public struct DenseMatrix: Sendable, Equatable, Codable {
  /// Number of rows.
  public let rows: Int
  /// Number of logical columns.
  public let columns: Int
  /// Distance between the starts of consecutive rows, a multiple of 8 and at least `columns`.
  public let stride: Int
  /// The storage, `rows · stride` values.
  public var storage: [Float]

  /// A matrix of zeros.
  public init(rows: Int, columns: Int) {
    self.rows = max(0, rows)
    self.columns = max(0, columns)
    self.stride = DenseMatrix.paddedStride(columns)
    self.storage = [Float](repeating: 0, count: self.rows * self.stride)
  }

  /// A matrix whose entries come from `value(row, column)`.
  public init(rows: Int, columns: Int, _ value: (Int, Int) -> Float) {
    self.init(rows: rows, columns: columns)
    for r in 0..<self.rows {
      for c in 0..<self.columns { storage[r * stride + c] = value(r, c) }
    }
  }

  /// The smallest multiple of 8 that is at least `columns` (and at least 8).
  public static func paddedStride(_ columns: Int) -> Int { max(8, (columns + 7) / 8 * 8) }

  /// The entry at `row`, `column`.
  public subscript(row: Int, column: Int) -> Float {
    get { storage[row * stride + column] }
    set { storage[row * stride + column] = newValue }
  }

  /// A copy of one row's logical columns.
  public func row(_ index: Int) -> [Float] {
    Array(storage[(index * stride)..<(index * stride + columns)])
  }

  /// True when every entry is finite.
  public var isFinite: Bool { storage.allSatisfy { $0.isFinite } }
}

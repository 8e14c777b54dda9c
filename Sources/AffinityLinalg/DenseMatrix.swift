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

  private init(unchecked rows: Int, _ columns: Int, _ stride: Int, _ storage: [Float]) {
    self.rows = rows
    self.columns = columns
    self.stride = stride
    self.storage = storage
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

  enum CodingKeys: String, CodingKey { case rows, columns, stride, storage, tensor }

  /// Encodes `{rows, columns, stride, storage: [...]}`, or, with a ``TensorSink`` in
  /// `userInfo`, `{rows, columns, tensor: name}` with the unpadded `rows × columns` values in
  /// the tensor.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(rows, forKey: .rows)
    try container.encode(columns, forKey: .columns)
    if let sink = encoder.userInfo[.tensorSink] as? TensorSink {
      var values = [Float]()
      values.reserveCapacity(rows * columns)
      for r in 0..<rows { values.append(contentsOf: storage[(r * stride)..<(r * stride + columns)]) }
      try container.encode(sink.add(values, shape: [rows, columns], at: encoder.codingPath), forKey: .tensor)
    } else {
      try container.encode(stride, forKey: .stride)
      try container.encode(storage, forKey: .storage)
    }
  }

  /// Decodes either form and checks the sizes, so a corrupted file cannot index out of bounds.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let rows = try container.decode(Int.self, forKey: .rows)
    let columns = try container.decode(Int.self, forKey: .columns)
    guard rows >= 0, columns >= 0, rows.multipliedReportingOverflow(by: columns).overflow == false else {
      throw DecodingError.dataCorruptedError(forKey: .rows, in: container, debugDescription: "matrix size \(rows) × \(columns)")
    }
    if container.contains(.tensor), let source = decoder.userInfo[.tensorSource] as? TensorSource {
      let name = try container.decode(String.self, forKey: .tensor)
      let (values, shape) = try source.values(named: name, as: Float.self, codingPath: container.codingPath)
      guard shape == [rows, columns] else {
        throw DecodingError.dataCorruptedError(
          forKey: .tensor, in: container, debugDescription: "tensor '\(name)' has shape \(shape); expected [\(rows), \(columns)]")
      }
      self.init(rows: rows, columns: columns)
      for r in 0..<rows {
        storage.replaceSubrange((r * stride)..<(r * stride + columns), with: values[(r * columns)..<((r + 1) * columns)])
      }
    } else {
      let stride = try container.decode(Int.self, forKey: .stride)
      let storage = try container.decode([Float].self, forKey: .storage)
      guard stride == DenseMatrix.paddedStride(columns), storage.count == rows * stride else {
        throw DecodingError.dataCorruptedError(
          forKey: .storage, in: container,
          debugDescription: "\(storage.count) values with stride \(stride) do not fill \(rows) × \(columns)")
      }
      self.init(unchecked: rows, columns, stride, storage)
    }
  }
}

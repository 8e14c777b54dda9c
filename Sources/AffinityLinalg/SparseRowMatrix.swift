/// A compressed sparse row (CSR) matrix: row `r` holds `columns[rowStarts[r]..<rowStarts[r+1]]`.
///
/// Within a row, entries keep the order in which they were given (a stable counting sort), so
/// algorithms that depend on input order (Surprise's neighbour tie-breaking) see the same order.
/// Memory: 8 bytes per stored entry plus 8 per row.
public struct SparseRowMatrix: Sendable, Equatable, Codable {
  /// Number of rows.
  public let rowCount: Int
  /// Number of columns.
  public let columnCount: Int
  /// `rowCount + 1` offsets into ``columns`` and ``values``.
  public let rowStarts: [Int]
  /// Column index of each stored entry.
  public let columns: [Int32]
  /// Value of each stored entry.
  public let values: [Float]

  /// Builds the matrix from coordinate triples in `O(nnz + rows)`.
  ///
  /// Indices must be in range; callers build them from an id vocabulary.
  public init(rowCount: Int, columnCount: Int, rows: [Int32], columns: [Int32], values: [Float]) {
    self.rowCount = rowCount
    self.columnCount = columnCount
    var starts = [Int](repeating: 0, count: rowCount + 1)
    for r in rows { starts[Int(r) + 1] += 1 }
    for r in 0..<rowCount { starts[r + 1] += starts[r] }
    var next = starts
    var outColumns = [Int32](repeating: 0, count: rows.count)
    var outValues = [Float](repeating: 0, count: rows.count)
    for n in 0..<rows.count {
      let r = Int(rows[n])
      let position = next[r]
      next[r] += 1
      outColumns[position] = columns[n]
      outValues[position] = values[n]
    }
    self.rowStarts = starts
    self.columns = outColumns
    self.values = outValues
  }

  /// Number of stored entries.
  public var nonZeroCount: Int { columns.count }

  /// The same structure with other values, one per stored entry in storage order. The index
  /// arrays are shared (copy-on-write), so this costs only the new values.
  public func withValues(_ newValues: [Float]) -> SparseRowMatrix {
    precondition(newValues.count == values.count, "withValues needs \(values.count) values; got \(newValues.count)")
    return SparseRowMatrix(
      rowCount: rowCount, columnCount: columnCount, rowStarts: rowStarts, columns: columns, values: newValues)
  }

  enum CodingKeys: String, CodingKey { case rowCount, columnCount, rowStarts, columns, values }

  /// Decodes and checks the structure, so a corrupted file cannot index out of bounds later.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    rowCount = try c.decode(Int.self, forKey: .rowCount)
    columnCount = try c.decode(Int.self, forKey: .columnCount)
    rowStarts = try c.decode(TensorArray<Int>.self, forKey: .rowStarts).values
    columns = try c.decode(TensorArray<Int32>.self, forKey: .columns).values
    values = try c.decode(TensorArray<Float>.self, forKey: .values).values
    let consistent =
      rowCount >= 0 && columnCount >= 0 && rowStarts.count == rowCount + 1
      && rowStarts.first == 0 && rowStarts.last == columns.count
      && values.count == columns.count
      && zip(rowStarts, rowStarts.dropFirst()).allSatisfy { $0 <= $1 }
      && columns.allSatisfy { $0 >= 0 && Int($0) < columnCount }
    guard consistent else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "inconsistent sparse matrix"))
    }
  }

  /// Encodes the three arrays as JSON arrays, or as tensors when a ``TensorSink`` is present.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(rowCount, forKey: .rowCount)
    try c.encode(columnCount, forKey: .columnCount)
    try c.encode(TensorArray(rowStarts), forKey: .rowStarts)
    try c.encode(TensorArray(columns), forKey: .columns)
    try c.encode(TensorArray(values), forKey: .values)
  }

  /// The range of positions that row `r` occupies.
  @inlinable
  public func range(ofRow r: Int) -> Range<Int> { rowStarts[r]..<rowStarts[r + 1] }

  /// Number of stored entries in row `r`.
  @inlinable
  public func count(ofRow r: Int) -> Int { rowStarts[r + 1] - rowStarts[r] }

  /// The transpose (CSC of this matrix); within a row of the result, entries are ordered by
  /// their row in this matrix.
  public func transposed() -> SparseRowMatrix {
    var rowsOfEntries = [Int32](repeating: 0, count: nonZeroCount)
    for r in 0..<rowCount {
      for p in range(ofRow: r) { rowsOfEntries[p] = Int32(r) }
    }
    return SparseRowMatrix(
      rowCount: columnCount, columnCount: rowCount, rows: columns, columns: rowsOfEntries, values: values)
  }

  private init(rowCount: Int, columnCount: Int, rowStarts: [Int], columns: [Int32], values: [Float]) {
    self.rowCount = rowCount
    self.columnCount = columnCount
    self.rowStarts = rowStarts
    self.columns = columns
    self.values = values
  }
}

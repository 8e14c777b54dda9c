import AffinityCore

/// Sparse rows of one value per co-rated pair (a similarity or a deviation), columns sorted.
///
/// Row `x` holds the pairs `(x, columns[p])` for `p` in `rowStarts[x]..<rowStarts[x + 1]`, in
/// ascending column order, so one pair is found by binary search. Only pairs that share at least
/// one rating are ever stored, so memory grows with the number of co-rated pairs (8 bytes each),
/// never with `rows × columns`.
///
/// Encodes row lengths, columns and values as base64 blobs; decoding checks every index, so a
/// corrupted bundle throws instead of reading out of bounds.
///
/// - Complexity: lookup O(log n_x) for a row of `n_x` stored pairs.
public struct PairRows: Sendable, Equatable {
  /// Number of rows.
  public let rowCount: Int
  /// Number of columns; every stored column index is below it.
  public let columnCount: Int
  /// `rowCount + 1` offsets into ``columns`` and ``values``.
  public let rowStarts: [Int]
  /// The column of each stored pair, ascending within a row.
  public let columns: [Int32]
  /// The value of each stored pair.
  public let values: [Float]

  init(rowCount: Int, columnCount: Int, rowStarts: [Int], columns: [Int32], values: [Float]) {
    self.rowCount = rowCount
    self.columnCount = columnCount
    self.rowStarts = rowStarts
    self.columns = columns
    self.values = values
  }

  /// Number of stored pairs.
  public var storedCount: Int { columns.count }

  /// The positions that row `row` occupies.
  public func range(ofRow row: Int) -> Range<Int> { rowStarts[row]..<rowStarts[row + 1] }

  /// The value stored for `(row, column)`, or nil when the pair is not stored.
  public func value(row: Int, column: Int) -> Float? {
    guard (0..<rowCount).contains(row), (0..<columnCount).contains(column) else { return nil }
    return withView { $0.value(row: row, column: Int32(column)) }
  }

  /// Runs `body` with raw views of the rows, for hot loops.
  @inline(__always)
  func withView<R>(_ body: (PairRowsView) -> R) -> R {
    rowStarts.withUnsafeBufferPointer { starts in
      columns.withUnsafeBufferPointer { columns in
        values.withUnsafeBufferPointer { values in
          body(PairRowsView(starts: starts, columns: columns, values: values))
        }
      }
    }
  }
}

/// Raw buffers of a ``PairRows``, valid only inside ``PairRows/withView(_:)``.
struct PairRowsView {
  let starts: UnsafeBufferPointer<Int>
  let columns: UnsafeBufferPointer<Int32>
  let values: UnsafeBufferPointer<Float>

  /// Binary search for `column` in row `row`.
  @inline(__always)
  func value(row: Int, column: Int32) -> Float? {
    var low = starts[row]
    var high = starts[row + 1]
    while low < high {
      let middle = low + (high - low) / 2
      let found = columns[middle]
      if found < column {
        low = middle + 1
      } else if found > column {
        high = middle
      } else {
        return values[middle]
      }
    }
    return nil
  }
}

extension PairRows: Codable {
  private enum CodingKeys: String, CodingKey {
    case rowCount, columnCount, rowLengths, columns, values
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let rowCount = try container.decode(Int.self, forKey: .rowCount)
    let columnCount = try container.decode(Int.self, forKey: .columnCount)
    let lengths = try container.decode(Int32Blob.self, forKey: .rowLengths).values
    let columns = try container.decode(Int32Blob.self, forKey: .columns).values
    let values = try container.decode(FloatBlob.self, forKey: .values).values
    func corrupted(_ reason: String) -> DecodingError {
      .dataCorruptedError(forKey: .columns, in: container, debugDescription: reason)
    }
    guard rowCount >= 0, columnCount >= 0, columnCount <= Int(Int32.max),
      lengths.count == rowCount, values.count == columns.count
    else { throw corrupted("pair rows: sizes disagree") }
    var starts = [Int](repeating: 0, count: rowCount + 1)
    for row in 0..<rowCount {
      guard lengths[row] >= 0 else { throw corrupted("pair rows: negative row length") }
      starts[row + 1] = starts[row] + Int(lengths[row])
    }
    guard starts[rowCount] == columns.count else {
      throw corrupted("pair rows: row lengths do not add up to the number of pairs")
    }
    for row in 0..<rowCount {
      var previous: Int32 = -1
      for p in starts[row]..<starts[row + 1] {
        guard columns[p] > previous, columns[p] < columnCount else {
          throw corrupted("pair rows: row \(row) has an unsorted or out-of-range column")
        }
        previous = columns[p]
      }
    }
    self.init(
      rowCount: rowCount, columnCount: columnCount, rowStarts: starts, columns: columns,
      values: values)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(rowCount, forKey: .rowCount)
    try container.encode(columnCount, forKey: .columnCount)
    let lengths = (0..<rowCount).map { Int32(rowStarts[$0 + 1] - rowStarts[$0]) }
    try container.encode(Int32Blob(lengths), forKey: .rowLengths)
    try container.encode(Int32Blob(columns), forKey: .columns)
    try container.encode(FloatBlob(values), forKey: .values)
  }
}

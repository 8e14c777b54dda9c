import AffinityLinalg

/// What is summed over the co-rated pairs `(x, x')` and how the sums become one stored value.
///
/// `a` is `x`'s value on a shared `y` and `b` is `x'`'s (ratings, or baseline residuals for
/// ``shrunkCosine(shrinkage:)``); `n` is the number of shared `y`.
enum PairStatistic: Sendable, Equatable {
  /// `Σab / √(Σa² Σb²)`; needs `n ≥ minimumSupport`.
  case cosine
  /// `1 / (Σ(a − b)² / n + 1)`; needs `n ≥ minimumSupport`.
  case msd
  /// `(nΣab − ΣaΣb) / √((nΣa² − (Σa)²)(nΣb² − (Σb)²))`; needs `n ≥ minimumSupport`.
  case pearson
  /// The cosine times `(n − 1) / (n − 1 + shrinkage)`; needs `n ≥ max(2, minimumSupport)`.
  case shrunkCosine(shrinkage: Double)
  /// `Σ(a − b) / n`, kept for every co-rated pair (Slope One's deviation).
  case meanDifference

  /// The value stored for a pair, or nil when the pair is not stored.
  ///
  /// Similarities are stored only when positive: every neighbourhood predictor skips the others,
  /// and a missing pair reads as 0, as in Surprise's dense matrix.
  @inline(__always)
  func storedValue(count n: Int, sums s: UnsafePointer<Double>, minimumSupport: Int) -> Float? {
    let value: Double
    switch self {
    case .meanDifference:
      return Float(s[0] / Double(n))
    case .msd:
      guard n >= minimumSupport else { return nil }
      value = 1 / (s[0] / Double(n) + 1)
    case .cosine:
      guard n >= minimumSupport else { return nil }
      let denominator = (s[1] * s[2]).squareRoot()
      guard denominator > 0 else { return nil }
      value = s[0] / denominator
    case .pearson:
      guard n >= minimumSupport else { return nil }
      let count = Double(n)
      let spread = (count * s[1] - s[3] * s[3]) * (count * s[2] - s[4] * s[4])
      guard spread > 0 else { return nil }
      value = (count * s[0] - s[3] * s[4]) / spread.squareRoot()
    case .shrunkCosine(let shrinkage):
      guard n >= max(2, minimumSupport) else { return nil }
      let denominator = (s[1] * s[2]).squareRoot()
      guard denominator > 0 else { return nil }
      value = s[0] / denominator * (Double(n - 1) / (Double(n - 1) + shrinkage))
    }
    let stored = Float(value)
    return stored > 0 && stored.isFinite ? stored : nil
  }
}

/// Sums kept per candidate pair in the dense scratch of one worker.
protocol PairAccumulator {
  /// Doubles per pair.
  static var width: Int { get }
  static func add(_ sums: UnsafeMutablePointer<Double>, _ a: Double, _ b: Double)
}

/// `Σab, Σa², Σb²`.
enum ProductSums: PairAccumulator {
  static var width: Int { 3 }
  @inline(__always)
  static func add(_ sums: UnsafeMutablePointer<Double>, _ a: Double, _ b: Double) {
    sums[0] += a * b
    sums[1] += a * a
    sums[2] += b * b
  }
}

/// `Σab, Σa², Σb², Σa, Σb`.
enum MomentSums: PairAccumulator {
  static var width: Int { 5 }
  @inline(__always)
  static func add(_ sums: UnsafeMutablePointer<Double>, _ a: Double, _ b: Double) {
    sums[0] += a * b
    sums[1] += a * a
    sums[2] += b * b
    sums[3] += a
    sums[4] += b
  }
}

/// `Σ(a − b)²`.
enum SquaredDifferenceSums: PairAccumulator {
  static var width: Int { 1 }
  @inline(__always)
  static func add(_ sums: UnsafeMutablePointer<Double>, _ a: Double, _ b: Double) {
    let d = a - b
    sums[0] += d * d
  }
}

/// `Σ(a − b)`.
enum DifferenceSums: PairAccumulator {
  static var width: Int { 1 }
  @inline(__always)
  static func add(_ sums: UnsafeMutablePointer<Double>, _ a: Double, _ b: Double) {
    sums[0] += a - b
  }
}

/// A CSR matrix as raw buffers, values widened to `Double`; valid only inside its closure.
struct RatingRowsView {
  let starts: UnsafeBufferPointer<Int>
  let columns: UnsafeBufferPointer<Int32>
  let values: UnsafeBufferPointer<Double>
}

extension SparseRowMatrix {
  /// Runs `body` with raw buffers of this matrix and `values` in place of its own.
  func withView<R>(values: [Double], _ body: (RatingRowsView) -> R) -> R {
    rowStarts.withUnsafeBufferPointer { starts in
      columns.withUnsafeBufferPointer { columns in
        values.withUnsafeBufferPointer { values in
          body(RatingRowsView(starts: starts, columns: columns, values: values))
        }
      }
    }
  }
}

/// The rows built by one chunk of workers, in row order.
struct PairRowsChunk {
  var lengths: [Int] = []
  var columns: [Int32] = []
  var values: [Float] = []
}

/// Builds ``PairRows`` from ratings: row `x` of the result pairs `x` with every `x'` that shares
/// a `y` with it.
///
/// For each `x`, the builder walks `x`'s entries `(y, a)` in `rows` and, for each, the entries
/// `(x', b)` of row `y` in `columns`, summing into a dense scratch indexed by `x'`. Each worker
/// owns one scratch of `columnCount` slots, and each fixed chunk of rows writes only its own
/// output, so the result is the same at any thread count.
///
/// - Complexity: O(Σ_y |column y|²) time, like Surprise; O(stored pairs) memory plus one
///   scratch of O(columnCount) per chunk.
struct PairRowsBuilder {
  var statistic: PairStatistic
  var minimumSupport: Int
  /// When positive, each row keeps only its largest values (ties to the lower column).
  var maximumPerRow: Int

  /// Builds every row of `rows` (x × y) against `columns` (y × x).
  func build(
    rows: SparseRowMatrix, rowValues: [Double], columns: SparseRowMatrix, columnValues: [Double]
  ) -> PairRows {
    let count = rows.rowCount
    let columnCount = columns.columnCount
    let chunks = rows.withView(values: rowValues) { x in
      columns.withView(values: columnValues) { y in
        Parallel.mapChunks(count: count, chunkCount: 64, minimumParallelCount: 128) { range, _ in
          buildChunk(range, x: x, y: y, columnCount: columnCount)
        }
      }
    }
    var rowStarts = [0]
    rowStarts.reserveCapacity(count + 1)
    let total = chunks.reduce(0) { $0 + $1.columns.count }
    var allColumns: [Int32] = []
    var allValues: [Float] = []
    allColumns.reserveCapacity(total)
    allValues.reserveCapacity(total)
    for chunk in chunks {
      for length in chunk.lengths { rowStarts.append(rowStarts[rowStarts.count - 1] + length) }
      allColumns.append(contentsOf: chunk.columns)
      allValues.append(contentsOf: chunk.values)
    }
    return PairRows(
      rowCount: count, columnCount: columnCount, rowStarts: rowStarts, columns: allColumns,
      values: allValues)
  }

  /// Builds one row only: the pairs of `row` in ascending column order.
  func buildRow(
    _ row: Int, rows: SparseRowMatrix, rowValues: [Double], columns: SparseRowMatrix,
    columnValues: [Double]
  ) -> (columns: [Int32], values: [Float]) {
    let chunk = rows.withView(values: rowValues) { x in
      columns.withView(values: columnValues) { y in
        buildChunk(row..<(row + 1), x: x, y: y, columnCount: columns.columnCount)
      }
    }
    return (chunk.columns, chunk.values)
  }

  private func buildChunk(
    _ range: Range<Int>, x: RatingRowsView, y: RatingRowsView, columnCount: Int
  ) -> PairRowsChunk {
    switch statistic {
    case .cosine, .shrunkCosine:
      buildChunk(ProductSums.self, range, x: x, y: y, columnCount: columnCount)
    case .msd:
      buildChunk(SquaredDifferenceSums.self, range, x: x, y: y, columnCount: columnCount)
    case .pearson:
      buildChunk(MomentSums.self, range, x: x, y: y, columnCount: columnCount)
    case .meanDifference:
      buildChunk(DifferenceSums.self, range, x: x, y: y, columnCount: columnCount)
    }
  }

  private func buildChunk<Sums: PairAccumulator>(
    _: Sums.Type, _ range: Range<Int>, x: RatingRowsView, y: RatingRowsView, columnCount: Int
  ) -> PairRowsChunk {
    let width = Sums.width
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(columnCount, 1))
    counts.initialize(repeating: 0, count: max(columnCount, 1))
    let sums = UnsafeMutablePointer<Double>.allocate(capacity: max(columnCount * width, 1))
    sums.initialize(repeating: 0, count: max(columnCount * width, 1))
    let touched = UnsafeMutablePointer<Int32>.allocate(capacity: max(columnCount, 1))
    defer {
      counts.deallocate()
      sums.deallocate()
      touched.deallocate()
    }
    var chunk = PairRowsChunk()
    chunk.lengths.reserveCapacity(range.count)
    for row in range {
      var touchedCount = 0
      for p in x.starts[row]..<x.starts[row + 1] {
        let shared = Int(x.columns[p])
        let a = x.values[p]
        for q in y.starts[shared]..<y.starts[shared + 1] {
          let other = Int(y.columns[q])
          if counts[other] == 0 {
            touched[touchedCount] = Int32(other)
            touchedCount += 1
          }
          counts[other] += 1
          Sums.add(sums + other * width, a, y.values[q])
        }
      }
      var touchedRow = UnsafeMutableBufferPointer(start: touched, count: touchedCount)
      touchedRow.sort()
      let rowBegin = chunk.columns.count
      for t in 0..<touchedCount {
        let other = Int(touched[t])
        let slot = sums + other * width
        if other != row,
          let value = statistic.storedValue(
            count: counts[other], sums: slot, minimumSupport: minimumSupport)
        {
          chunk.columns.append(Int32(other))
          chunk.values.append(value)
        }
        counts[other] = 0
        slot.update(repeating: 0, count: width)
      }
      if maximumPerRow > 0, chunk.columns.count - rowBegin > maximumPerRow {
        keepLargest(in: &chunk, from: rowBegin)
      }
      chunk.lengths.append(chunk.columns.count - rowBegin)
    }
    return chunk
  }

  /// Trims the row starting at `rowBegin` to its `maximumPerRow` largest values.
  private func keepLargest(in chunk: inout PairRowsChunk, from rowBegin: Int) {
    let positions = (rowBegin..<chunk.columns.count).sorted { p, q in
      let (a, b) = (chunk.values[p], chunk.values[q])
      return a > b || (a == b && chunk.columns[p] < chunk.columns[q])
    }
    let kept = positions.prefix(maximumPerRow).sorted()
    let columns = kept.map { chunk.columns[$0] }
    let values = kept.map { chunk.values[$0] }
    chunk.columns.replaceSubrange(rowBegin..., with: columns)
    chunk.values.replaceSubrange(rowBegin..., with: values)
  }
}

import AffinityCore
import AffinityLinalg

/// The weighted rows of one orientation and their normalisers: everything needed to compare a
/// row, or a query vector weighted the same way, with every row.
struct NeighborSpace: Sendable, Equatable, Codable {
  let weighting: ImplicitWeighting
  /// y × x: the weighted values `ŵ_xy` by column, rows of `x` ascending within each `y`.
  let byColumn: SparseRowMatrix
  /// Per row `x`: its denominator factor when it owns a neighbour list.
  let ownerFactors: [Double]
  /// Per row `x`: its denominator factor when it is the other side of a pair.
  let otherFactors: [Double]

  /// The space of the rows of `rows` (x × y, ascending columns).
  init(rows: SparseRowMatrix, weighting: ImplicitWeighting) {
    self.weighting = weighting
    let weighted = weighting.weightedRows(rows)
    byColumn = weighted.transposed()
    var owner = [Double](repeating: 0, count: rows.rowCount)
    var other = [Double](repeating: 0, count: rows.rowCount)
    for x in 0..<rows.rowCount {
      (owner[x], other[x]) = weighting.factors(of: weighted.values[weighted.range(ofRow: x)])
    }
    ownerFactors = owner
    otherFactors = other
  }

  var rowCount: Int { ownerFactors.count }

  /// True when the arrays agree with `rowCount` rows over `columnCount` columns.
  func isConsistent(rowCount: Int, columnCount: Int) -> Bool {
    ownerFactors.count == rowCount && otherFactors.count == rowCount
      && byColumn.rowCount == columnCount && byColumn.columnCount == rowCount
      && (weighting.idf.isEmpty || weighting.idf.count == columnCount)
  }

  /// The weighted rows `x × y` again, for building every row.
  var byRow: SparseRowMatrix { byColumn.transposed() }
}

/// Builds the top-k neighbour rows of an implicit-feedback similarity, in parallel.
///
/// For row `x` it accumulates `Σ_y ŵ_xy ŵ_x'y` over the rows `x'` sharing a column with `x`
/// into a dense scratch (in `Double`, in ascending `y` then `x'` order), turns each sum into a
/// similarity, and keeps the `neighborCount` largest positive ones (ties to the lower index),
/// never `x` itself, stored in ascending column order. Rows are split into fixed chunks, each
/// writing only its own output, so the result is the same bytes on one thread or many.
///
/// - Complexity: O(Σ_y n_y² + rows · k log k) time for columns with `n_y` entries;
///   O(rows · k) memory plus one O(rows) scratch per chunk in flight.
struct ImplicitNeighborBuilder {
  let space: NeighborSpace
  let neighborCount: Int

  func build(parallel: Bool) -> PairRows {
    let rows = space.byRow
    let count = space.rowCount
    let chunks = Parallel.mapChunks(
      count: count, chunkCount: 64, minimumParallelCount: parallel ? 256 : Int.max
    ) { range, _ -> PairRowsChunk in
      let scratch = DotScratch(count: count)
      var chunk = PairRowsChunk()
      chunk.lengths.reserveCapacity(range.count)
      for x in range {
        let p = rows.range(ofRow: x)
        let kept = neighbors(
          columns: rows.columns[p], weights: rows.values[p], owner: space.ownerFactors[x],
          excluding: x, keep: neighborCount, scratch: scratch)
        chunk.lengths.append(kept.count)
        for entry in kept {
          chunk.columns.append(Int32(entry.index))
          chunk.values.append(entry.score)
        }
      }
      return chunk
    }
    var rowStarts = [0]
    rowStarts.reserveCapacity(count + 1)
    var columns: [Int32] = []
    var values: [Float] = []
    for chunk in chunks {
      for length in chunk.lengths { rowStarts.append(rowStarts[rowStarts.count - 1] + length) }
      columns.append(contentsOf: chunk.columns)
      values.append(contentsOf: chunk.values)
    }
    return PairRows(
      rowCount: count, columnCount: count, rowStarts: rowStarts, columns: columns, values: values)
  }

  /// The `keep` rows most similar to a vector of weights `ŵ` over ascending `columns`, whose
  /// owner factor is `owner`, ascending by row; `excluding` (if in range) is never returned.
  func neighbors(
    columns: ArraySlice<Int32>, weights: ArraySlice<Float>, owner: Double, excluding: Int,
    keep: Int, scratch: DotScratch
  ) -> [BoundedMinHeap.Entry] {
    let byColumn = space.byColumn
    let weighting = space.weighting
    let sums = scratch.sums
    let isTouched = scratch.isTouched
    let touched = scratch.touched
    var touchedCount = 0
    byColumn.rowStarts.withUnsafeBufferPointer { starts in
      byColumn.columns.withUnsafeBufferPointer { others in
        byColumn.values.withUnsafeBufferPointer { values in
          for (column, weight) in zip(columns, weights) {
            let a = Double(weight)
            let y = Int(column)
            for q in starts[y]..<starts[y + 1] {
              let other = Int(others[q])
              if !isTouched[other] {
                isTouched[other] = true
                touched[touchedCount] = Int32(other)
                touchedCount += 1
              }
              sums[other] += a * Double(values[q])
            }
          }
        }
      }
    }
    var heap = BoundedMinHeap(capacity: keep)
    space.otherFactors.withUnsafeBufferPointer { otherFactors in
      for t in 0..<touchedCount {
        let other = Int(touched[t])
        let similarity = Float(
          weighting.value(dot: sums[other], owner: owner, other: otherFactors[other]))
        if other != excluding, similarity > 0, similarity.isFinite {
          heap.offer(score: similarity, index: other)
        }
        sums[other] = 0
        isTouched[other] = false
      }
    }
    return heap.entries.sorted { $0.index < $1.index }
  }
}

/// One worker's dense accumulator over all rows; every use leaves it zeroed again.
final class DotScratch {
  let sums: UnsafeMutablePointer<Double>
  let isTouched: UnsafeMutablePointer<Bool>
  let touched: UnsafeMutablePointer<Int32>
  private let count: Int

  init(count: Int) {
    self.count = max(count, 1)
    sums = .allocate(capacity: self.count)
    sums.initialize(repeating: 0, count: self.count)
    isTouched = .allocate(capacity: self.count)
    isTouched.initialize(repeating: false, count: self.count)
    touched = .allocate(capacity: self.count)
    touched.initialize(repeating: 0, count: self.count)
  }

  deinit {
    sums.deallocate()
    isTouched.deallocate()
    touched.deallocate()
  }
}

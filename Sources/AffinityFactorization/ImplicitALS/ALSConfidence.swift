import AffinityLinalg
import Foundation

/// The confidence `c_ui` of every observed pair, computed from the stored value when a row is
/// solved instead of being kept as a second copy of the matrix.
///
/// `c = 1 + α w` (or `1 + α log(1 + w/ε)`) with `w` the value (1 when values are ignored)
/// after optional BM25 or TF-IDF weighting, which needs only a length norm per user and an
/// idf per item: `O(users + items)` memory instead of `O(nnz)`.
struct ALSConfidence: Sendable, Codable, Equatable {
  let scaling: ImplicitALS.ConfidenceScaling
  let alpha: Float
  let logEpsilon: Float
  let usesValues: Bool
  let weighting: ImplicitALS.Weighting
  let bm25K1: Float
  /// BM25: `k1 · ((1 − b) + b · |u| / avg|u|)` per user; empty otherwise.
  let userLengthTerms: [Float]
  /// BM25 and TF-IDF: `log(n_users) − log(1 + n_i)` per item; empty otherwise.
  let itemIDF: [Float]

  /// The weights of implicit's `bm25_weight` / `tfidf_weight` over `byUser` (user × item).
  init(byUser: SparseRowMatrix, configuration c: ImplicitALS.Configuration) {
    scaling = c.confidenceScaling
    alpha = c.confidenceWeight
    logEpsilon = c.logEpsilon
    usesValues = c.usesValues
    weighting = c.weighting
    bm25K1 = c.bm25K1
    guard c.weighting != .none else {
      userLengthTerms = []
      itemIDF = []
      return
    }
    let n = Double(byUser.rowCount)
    var itemCounts = [Double](repeating: 0, count: byUser.columnCount)
    for column in byUser.columns { itemCounts[Int(column)] += 1 }
    itemIDF = itemCounts.map { Float(Foundation.log(n) - Foundation.log1p($0)) }
    guard c.weighting == .bm25 else {
      userLengthTerms = []
      return
    }
    let usesValues = c.usesValues
    let rowSums = (0..<byUser.rowCount).map { u in
      byUser.range(ofRow: u).reduce(0.0) { $0 + Double(usesValues ? max(byUser.values[$1], 0) : 1) }
    }
    let average = rowSums.reduce(0, +) / max(1, Double(rowSums.count))
    let b = Double(c.bm25B)
    userLengthTerms = rowSums.map { Float(Double(c.bm25K1) * ((1 - b) + b * $0 / max(average, .leastNonzeroMagnitude))) }
  }

  /// `c` of the pair (`user`, `item`) with stored value `value`.
  @inline(__always)
  func confidence(value: Float, user: Int, item: Int) -> Float {
    var w = usesValues ? max(value, 0) : 1
    switch weighting {
    case .none: break
    case .tfidf: w = w.squareRoot() * itemIDF[item]
    case .bm25: w = w * (bm25K1 + 1) / (userLengthTerms[user] + w) * itemIDF[item]
    }
    return scaled(w)
  }

  /// The confidence of an interaction of weight `w` after weighting.
  @inline(__always)
  func scaled(_ w: Float) -> Float {
    switch scaling {
    case .linear: 1 + alpha * w
    case .log: 1 + alpha * Foundation.log(1 + w / logEpsilon)
    }
  }

  /// The confidences of row `row` of `matrix` into `out`; `matrix` is user × item when
  /// `rowsAreUsers`, item × user otherwise.
  @inline(__always)
  func fill(row: Int, of matrix: SparseRowMatrix, rowsAreUsers: Bool, into out: UnsafeMutablePointer<Float>) {
    let start = matrix.rowStarts[row]
    let end = matrix.rowStarts[row + 1]
    matrix.values.withUnsafeBufferPointer { values in
      matrix.columns.withUnsafeBufferPointer { columns in
        for p in start..<end {
          let column = Int(columns[p])
          out[p - start] = rowsAreUsers
            ? confidence(value: values[p], user: row, item: column)
            : confidence(value: values[p], user: column, item: row)
        }
      }
    }
  }
}

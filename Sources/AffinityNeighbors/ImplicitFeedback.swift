import AffinityCore
import AffinityLinalg
import Foundation

/// Implicit-feedback weights: one entry per (user, item) pair, duplicates merged.
enum ImplicitFeedback {
  /// The user × item matrix `a_ui` with ascending columns: the sum of a pair's values when
  /// `usesValues`, else 1 for every pair seen. Pairs whose values sum to 0 are left out.
  ///
  /// - Throws: ``FitError/invalidData(_:)`` for a negative value, naming its user and item.
  /// - Complexity: O(nnz log d) for users with at most `d` interactions.
  static func userItemWeights(
    _ data: InteractionData, usesValues: Bool, model: String
  ) throws(FitError) -> SparseRowMatrix {
    for k in 0..<data.count where data.values[k] < 0 {
      let interaction = data[k]
      throw .invalidData(
        .invalidValue(
          SourceLocation(file: data.source, field: "value"), value: "\(interaction.value)",
          expected: "a weight ≥ 0 for \(model) (the row of user '\(interaction.user)' and "
            + "item '\(interaction.item)')"))
    }
    let byUser = data.byUser
    var rows: [Int32] = []
    var columns: [Int32] = []
    var values: [Float] = []
    rows.reserveCapacity(byUser.nonZeroCount)
    columns.reserveCapacity(byUser.nonZeroCount)
    values.reserveCapacity(byUser.nonZeroCount)
    var pairs: [(column: Int32, value: Float)] = []
    for u in 0..<byUser.rowCount {
      pairs.removeAll(keepingCapacity: true)
      for p in byUser.range(ofRow: u) { pairs.append((byUser.columns[p], byUser.values[p])) }
      // Stable, so summed duplicates add in input order.
      pairs.sort { $0.column < $1.column }
      var n = 0
      while n < pairs.count {
        let column = pairs[n].column
        var total: Float = 0
        while n < pairs.count, pairs[n].column == column {
          total += pairs[n].value
          n += 1
        }
        let weight: Float = usesValues ? total : 1
        guard weight > 0 else { continue }
        rows.append(Int32(u))
        columns.append(column)
        values.append(weight)
      }
    }
    return SparseRowMatrix(
      rowCount: byUser.rowCount, columnCount: byUser.columnCount, rows: rows, columns: columns,
      values: values)
  }

  /// A query history as ascending (item index, weight) pairs: each known occurrence adds 1 when
  /// `usesValues`, else every known item weighs 1. Unknown items are skipped.
  static func historyWeights(
    _ history: [ItemID], items: IDVocabulary<ItemID>, usesValues: Bool
  ) -> (columns: [Int32], values: [Float]) {
    var counts: [Int: Float] = [:]
    for id in history {
      guard let i = items.index(of: id) else { continue }
      counts[i, default: 0] += 1
    }
    let sorted = counts.keys.sorted()
    return (sorted.map { Int32($0) }, sorted.map { usesValues ? counts[$0] ?? 1 : 1 })
  }

  /// Row `row` of `matrix` as (columns, values).
  static func row(_ row: Int, of matrix: SparseRowMatrix) -> (columns: [Int32], values: [Float]) {
    let range = matrix.range(ofRow: row)
    return (Array(matrix.columns[range]), Array(matrix.values[range]))
  }
}

/// The weights and normalisers of one ``ImplicitSimilarity`` over rows `x` (the things compared)
/// and columns `y` (what they are compared on).
///
/// Training rows and query vectors are weighted by the same function, so a user folded in from
/// a history is compared exactly as a training user would be.
struct ImplicitWeighting: Sendable, Equatable, Codable {
  let similarity: ImplicitSimilarity
  let k1: Double
  let b: Double
  let alpha: Double
  let shrinkage: Double
  /// True when the row that owns a stored neighbour list is the candidate of the asymmetric
  /// cosine (user-based: the user being scored); false when it is the history side.
  let ownerIsCandidate: Bool
  /// `idf_y = ln N − ln(1 + df_y)` for bm25 and tfidf; empty otherwise.
  let idf: [Double]
  /// The mean row length `Σ_y a_xy` over all rows, for bm25.
  let averageLength: Double

  /// The weighting of the rows of `rows` (x × y, ascending columns).
  init(
    rows: SparseRowMatrix, similarity: ImplicitSimilarity, k1: Float, b: Float, alpha: Float,
    shrinkage: Float, ownerIsCandidate: Bool
  ) {
    self.similarity = similarity
    self.k1 = Double(k1)
    self.b = Double(b)
    self.alpha = Double(alpha)
    self.shrinkage = Double(shrinkage)
    self.ownerIsCandidate = ownerIsCandidate
    switch similarity {
    case .bm25, .tfidf:
      var frequency = [Int](repeating: 0, count: rows.columnCount)
      for column in rows.columns { frequency[Int(column)] += 1 }
      let logN = log(Double(rows.rowCount))
      idf = frequency.map { logN - log1p(Double($0)) }
    case .cosine, .jaccard, .asymmetricCosine:
      idf = []
    }
    var total = 0.0
    for value in rows.values { total += Double(value) }
    averageLength = rows.rowCount > 0 ? total / Double(rows.rowCount) : 0
  }

  /// The weighted values `ŵ_xy` of one row, rounded to `Float` as they are stored.
  func weighted(columns: ArraySlice<Int32>, values: ArraySlice<Float>) -> [Float] {
    switch similarity {
    case .cosine, .jaccard, .asymmetricCosine:
      return Array(values)
    case .tfidf:
      return zip(columns, values).map { column, value in
        Float(Double(value).squareRoot() * idf[Int(column)])
      }
    case .bm25:
      var length = 0.0
      for value in values { length += Double(value) }
      let norm = averageLength > 0 ? (1 - b) + b * length / averageLength : 1
      return zip(columns, values).map { column, value in
        let a = Double(value)
        return Float(a * (k1 + 1) / (k1 * norm + a) * idf[Int(column)])
      }
    }
  }

  /// The weighted copy of every row of `rows`.
  func weightedRows(_ rows: SparseRowMatrix) -> SparseRowMatrix {
    var values = [Float](repeating: 0, count: rows.nonZeroCount)
    var triples: [Int32] = []
    triples.reserveCapacity(rows.nonZeroCount)
    for x in 0..<rows.rowCount {
      let range = rows.range(ofRow: x)
      let row = weighted(columns: rows.columns[range], values: rows.values[range])
      for (offset, p) in range.enumerated() {
        values[p] = row[offset]
        triples.append(Int32(x))
      }
    }
    return SparseRowMatrix(
      rowCount: rows.rowCount, columnCount: rows.columnCount, rows: triples, columns: rows.columns,
      values: values)
  }

  /// The normaliser of a row from its stored weights: `(owner, other)` factors of the
  /// denominator, as it is the owner of a neighbour list or the other side.
  ///
  /// cosine and tfidf: `‖ŵ_x‖` both; asymmetric cosine: `(‖a_x‖²)^α` on the candidate side and
  /// `(‖a_x‖²)^(1 − α)` on the history side; jaccard: `‖a_x‖²` both; bm25: 1.
  func factors(of weights: ArraySlice<Float>) -> (owner: Double, other: Double) {
    var squares = 0.0
    for w in weights { squares += Double(w) * Double(w) }
    switch similarity {
    case .cosine, .tfidf:
      let norm = squares.squareRoot()
      return (norm, norm)
    case .jaccard:
      return (squares, squares)
    case .bm25:
      return (1, 1)
    case .asymmetricCosine:
      let candidate = pow(squares, alpha)
      let history = pow(squares, 1 - alpha)
      return ownerIsCandidate ? (candidate, history) : (history, candidate)
    }
  }

  /// The similarity from a dot product and the two rows' factors; not finite or ≤ 0 means
  /// "not a neighbour".
  @inline(__always)
  func value(dot: Double, owner: Double, other: Double) -> Double {
    switch similarity {
    case .cosine, .tfidf, .asymmetricCosine:
      let denominator = owner * other + shrinkage
      return denominator > 0 ? dot / denominator : 0
    case .jaccard:
      let denominator = owner + other - dot + shrinkage
      return denominator > 0 ? dot / denominator : 0
    case .bm25:
      return dot
    }
  }
}

extension ImplicitFeedback {
  /// `data` with each value multiplied by `2^(−r / halfLife)`, `r` the number of the same user's
  /// interactions that are later (by timestamp, then row order); values become 1 first when
  /// `usesValues` is false. A half-life of 0 returns the data unchanged (values binarised).
  static func recencyWeighted(_ data: InteractionData, halfLife: Float, usesValues: Bool) throws(FitError) -> InteractionData {
    var values = usesValues ? data.values : [Float](repeating: 1, count: data.count)
    if halfLife > 0 {
      let order = data.interactionIndicesByUser()
      for u in 0..<data.users.count {
        var rows = data.byUser.range(ofRow: u).map { Int(order[$0]) }
        rows.sort { (data.timestamps[$0], $0) > (data.timestamps[$1], $1) }
        for (later, row) in rows.enumerated() { values[row] *= Float(Foundation.pow(2.0, -Double(later) / Double(halfLife))) }
      }
    }
    do {
      return try InteractionData(
        users: data.users, items: data.items, userIndices: data.userIndices, itemIndices: data.itemIndices,
        values: values, timestamps: data.timestamps, source: data.source)
    } catch { throw .invalidData(error) }
  }
}

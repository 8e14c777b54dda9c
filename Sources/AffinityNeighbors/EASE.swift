public import AffinityCore
public import AffinityLinalg
import Foundation

/// Embarrassingly Shallow Autoencoder: a dense item-to-item linear model solved in closed form.
///
/// With `X` the user × item matrix (1 per interacted pair, or the summed values with
/// `usesValues`), `G = XᵀX + λI` and `P = G⁻¹`, the weights are
/// `B = I − P · diag(1 / diag(P))`, so `B_jj = 0` and `B_ji = −P_ji / P_ii`: the minimiser of
/// `‖X − XB‖² + λ‖B‖²` with a zero diagonal. A user's scores are `x_u B`, that is
/// `score(i) = Σ_j x_uj B_ji`; an unknown (or nil) user is scored from
/// ``RecommendationQuery/history`` the same way (each occurrence of a known item weighs 1 with
/// `usesValues`, else every known item 1), and an empty history scores every item 0.
///
/// `G` is inverted in `Double` by a SIMD Cholesky factorisation (n³ flops) on both cores; the
/// result does not depend on the thread count. Catalogs above `maximumItems` are refused,
/// because `B` is dense: use ``ItemKNN`` for them.
///
/// - Complexity: fit O(Σ_u n_u² + n³) time for `n` items, with peak memory 12 n² bytes
///   (`G` in `Double`, `B` in `Float`), 4 n² after; one score vector O(n_u · n).
///
/// Steck. "Embarrassingly Shallow Autoencoders for Sparse Data." WWW 2019.
public struct EASE: Recommender, SimilarItemsProviding, Explainable, ColdStartCapable {
  public struct Configuration: ModelConfiguration {
    /// λ, the L2 penalty on `B` (Steck's λ).
    public var regularization: Float
    /// False counts every (user, item) pair as 1; true sums its values.
    public var usesValues: Bool
    /// The largest catalog accepted; `B` takes 4 n² bytes (3.6 GB at 30,000 items) and fitting
    /// 12 n².
    public var maximumItems: Int
    /// When > 0, a known user's history is weighted by recency when scoring: the interaction
    /// with `r` later ones by the same user counts `2^(−r / historyHalfLife)`. 0 turns it off.
    /// The default 8 won a validation search on the per-user temporal split of MovieLens-100k
    /// training data (NDCG@10 0.2355 against 0.1745 without; docs/benchmarks/tuning.md): what a
    /// user watched last predicts what they watch next.
    public var historyHalfLife: Float
    /// Whether the recency weights also enter `XᵀX` (true) or only the scoring history (false).
    public var recencyInTraining: Bool

    /// The defaults won a validation search on MovieLens-100k training data (per-user temporal
    /// split, `docs/benchmarks/tuning-implicit-topn.md`): summed values (ratings 1–5) with λ = 6,000 (NDCG@10 0.1745, flat from 3,500 to
    /// 7,000) beat binary interactions with λ = 300 (0.1701). λ scales with the squared weights:
    /// for clicks of weight 1, start near 300.
    public init(
      regularization: Float = 6_000, usesValues: Bool = true, maximumItems: Int = 30_000,
      historyHalfLife: Float = 8, recencyInTraining: Bool = false
    ) {
      self.regularization = regularization
      self.usesValues = usesValues
      self.maximumItems = maximumItems
      self.historyHalfLife = historyHalfLife
      self.recencyInTraining = recencyInTraining
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("EASE")
      try check.positive("regularization", regularization)
      try check.positive("maximumItems", maximumItems)
      try check.nonNegative("historyHalfLife", historyHalfLife)
    }
  }

  public static let kind = "ease"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// `x_ui`, user × item, duplicates merged, ascending columns.
  public let interactions: SparseRowMatrix
  /// `B`, item × item: row `j` holds what item `j` in a history adds to every item's score.
  public let weights: DenseMatrix

  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  init(
    configuration: Configuration, index: TrainingIndex, interactions: SparseRowMatrix,
    weights: DenseMatrix
  ) {
    self.configuration = configuration
    self.index = index
    self.interactions = interactions
    self.weights = weights
  }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> EASE {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let n = data.items.count
    guard n <= configuration.maximumItems else {
      throw .invalidConfiguration(
        ConfigurationError(
          model: "EASE", parameter: "maximumItems",
          value: "\(configuration.maximumItems), but the training data has \(n) items "
            + "(fitting would need \(byteCount(12 * Double(n) * Double(n))) for the dense item × "
            + "item matrices); use item-knn for a catalog this large",
          requirement: "at least the number of training items"))
    }
    let recent = try ImplicitFeedback.recencyWeighted(data, halfLife: configuration.historyHalfLife, usesValues: configuration.usesValues)
    let history = try ImplicitFeedback.userItemWeights(recent, usesValues: true, model: "EASE")
    let x =
      configuration.recencyInTraining
      ? history : try ImplicitFeedback.userItemWeights(data, usesValues: configuration.usesValues, model: "EASE")
    let total = 5
    let stride = DenseMatrix.paddedStride(n)
    var gram = [Double](repeating: 0, count: n * stride)
    let inverted = gram.withUnsafeMutableBufferPointer { buffer -> Bool in
      guard let a = buffer.baseAddress else { return true }
      lowerGram(
        x, into: a, stride: stride, regularization: Double(configuration.regularization),
        parallel: options.isParallel)
      options.report(kind, step: 1, of: total)
      return SymmetricInverse.invertLower(
        a, count: n, stride: stride, parallel: options.isParallel
      ) { step in options.report(kind, step: 1 + step, of: total) }
    }
    guard inverted else {
      throw .invalidConfiguration(
        ConfigurationError(
          model: "EASE", parameter: "regularization", value: configuration.regularization,
          requirement: "large enough for XᵀX + λI to be numerically positive definite"))
    }
    let weights = Self.weights(
      fromInverse: gram, count: n, stride: stride, parallel: options.isParallel)
    guard weights.isFinite else { throw .diverged(model: "EASE", epoch: 1) }
    options.report(kind, step: total, of: total)
    return EASE(
      configuration: configuration, index: TrainingIndex(data), interactions: history, weights: weights)
  }

  /// `bytes` for a person: "432 bytes", "3.4 MB", "10.8 GB".
  static func byteCount(_ bytes: Double) -> String {
    switch bytes {
    case ..<1e6: "\(Int(bytes)) bytes"
    case ..<1e9: String(format: "%.1f MB", bytes / 1e6)
    default: String(format: "%.1f GB", bytes / 1e9)
    }
  }

  /// The lower triangle (with the diagonal) of `XᵀX + λI` into `a`, one item row per task.
  static func lowerGram(
    _ x: SparseRowMatrix, into a: UnsafeMutablePointer<Double>, stride: Int,
    regularization: Double, parallel: Bool
  ) {
    let byItem = x.transposed()
    let n = x.columnCount
    x.rowStarts.withUnsafeBufferPointer { starts in
      x.columns.withUnsafeBufferPointer { columns in
        x.values.withUnsafeBufferPointer { values in
          Parallel.forEachChunk(
            count: n, chunkCount: 64, minimumParallelCount: parallel ? 256 : Int.max
          ) { range, _ in
            for i in range {
              let row = a + i * stride
              for p in byItem.range(ofRow: i) {
                let u = Int(byItem.columns[p])
                let weight = Double(byItem.values[p])
                // Columns ascend, so the user's items up to i come first.
                for q in starts[u]..<starts[u + 1] {
                  let j = Int(columns[q])
                  if j > i { break }
                  row[j] += weight * Double(values[q])
                }
              }
              row[i] += regularization
            }
          }
        }
      }
    }
  }

  /// `B_ji = −P_ji / P_ii` (0 on the diagonal) from the lower triangle of `P`.
  static func weights(fromInverse p: [Double], count n: Int, stride: Int, parallel: Bool)
    -> DenseMatrix
  {
    var b = DenseMatrix(rows: n, columns: n)
    let out = b.stride
    b.storage.withUnsafeMutableBufferPointer { storage in
      p.withUnsafeBufferPointer { inverse in
        guard let target = storage.baseAddress, let source = inverse.baseAddress else { return }
        Parallel.forEachChunk(
          count: n, chunkCount: 64, minimumParallelCount: parallel ? 256 : Int.max
        ) { range, _ in
          for j in range {
            let row = target + j * out
            for i in 0..<n where i != j {
              let pji = j >= i ? source[j * stride + i] : source[i * stride + j]
              row[i] = Float(-pji / source[i * stride + i])
            }
          }
        }
      }
    }
    return b
  }

  /// Scores of every item: `x_u B` for a known user, else the history's vector times `B`.
  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    if let user = query.user, let u = users.index(of: user) {
      let row = interactions.range(ofRow: u)
      return scores(history: interactions.columns[row], weights: interactions.values[row])
    }
    return try scores(forHistory: query.history)
  }

  /// `x B` for the vector that `history` implies; unknown items are skipped.
  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    let vector = ImplicitFeedback.historyWeights(
      history, items: items, usesValues: configuration.usesValues)
    return scores(history: vector.columns[...], weights: vector.values[...])
  }

  /// `Σ_j x_j · row j of B`, in ascending `j`.
  func scores(history: ArraySlice<Int32>, weights x: ArraySlice<Float>) -> [Float] {
    let stride = weights.stride
    var scores = [Float](repeating: 0, count: stride)
    scores.withUnsafeMutableBufferPointer { out in
      weights.storage.withUnsafeBufferPointer { b in
        guard let target = out.baseAddress, let rows = b.baseAddress else { return }
        for (column, value) in zip(history, x) {
          Vector.axpy(value, rows + Int(column) * stride, target, count: stride)
        }
      }
    }
    scores.removeLast(stride - items.count)
    return scores
  }

  /// The items `j` with the largest positive `B_ji`: those whose presence most raises `item`.
  public func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem] {
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    var heap = BoundedMinHeap(capacity: count)
    for j in 0..<items.count where j != i {
      let value = weights[j, i]
      if value > 0 { heap.offer(score: value, index: j) }
    }
    return heap.sortedDescending().map { ScoredItem(item: items[$0.index], score: $0.score) }
  }

  /// One contribution `x_uj · B_j,item` per history item `j`, largest first; they add up to the
  /// score.
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError)
    -> Explanation
  {
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    let history: (columns: [Int32], values: [Float])
    if let user = query.user, let u = users.index(of: user) {
      history = ImplicitFeedback.row(u, of: interactions)
    } else {
      history = ImplicitFeedback.historyWeights(
        query.history, items: items, usesValues: configuration.usesValues)
    }
    var score: Float = 0
    var contributions: [Explanation.Contribution] = []
    for (column, value) in zip(history.columns, history.values) {
      let j = Int(column)
      let part = value * weights[j, i]
      score += part
      if part != 0 { contributions.append(.init(source: items[j].rawValue, weight: part)) }
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: score, contributions: contributions)
  }
}

extension EASE: Codable {
  private enum CodingKeys: String, CodingKey {
    case configuration, index, interactions, itemCount, weights
  }

  /// Decodes `B` from its base64 blob and checks its size against the training index.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    interactions = try container.decode(SparseRowMatrix.self, forKey: .interactions)
    let n = try container.decode(Int.self, forKey: .itemCount)
    let values = try container.decode(FloatBlob.self, forKey: .weights).values
    guard n == index.items.count, values.count == n * n,
      interactions.rowCount == index.users.count, interactions.columnCount == n
    else {
      throw DecodingError.dataCorruptedError(
        forKey: .weights, in: container,
        debugDescription: "EASE: the stored weights do not match the training index")
    }
    var weights = DenseMatrix(rows: n, columns: n)
    for j in 0..<n {
      for i in 0..<n { weights.storage[j * weights.stride + i] = values[j * n + i] }
    }
    self.weights = weights
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(index, forKey: .index)
    try container.encode(interactions, forKey: .interactions)
    try container.encode(weights.rows, forKey: .itemCount)
    var values = [Float]()
    values.reserveCapacity(weights.rows * weights.columns)
    for j in 0..<weights.rows { values.append(contentsOf: weights.row(j)) }
    try container.encode(FloatBlob(values), forKey: .weights)
  }
}

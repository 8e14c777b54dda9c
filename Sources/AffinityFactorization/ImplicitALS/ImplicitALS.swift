public import AffinityCore
public import AffinityLinalg

/// Matrix factorization for implicit feedback, trained by alternating least squares.
///
/// Scores are `x_uᵀ y_i`. Training minimizes
/// `Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)` over all pairs, with
/// preference `p_ui = 1` for observed pairs and 0 otherwise, and confidence `c_ui = 1 + α w_ui`
/// (or `1 + α log(1 + w_ui/ε)`), `w_ui` the interaction's value after optional BM25 or TF-IDF
/// weighting. Each half-step solves every row exactly (Cholesky) or approximately with a few
/// warm-started conjugate-gradient steps (Takács et al. 2011), using
/// `YᵀC_uY = YᵀY + Yᵀ(C_u − I)Y` so the cost per user is O(n_u k + k²) per CG step.
///
/// A user not in the training data is folded in at request time from ``RecommendationQuery/history``
/// by one exact solve against the fixed item factors (implicit's `recalculate_user`).
///
/// - Complexity: O(epochs · (nnz · k · s + (users + items) · k² · s)) with `s` CG steps;
///   O(epochs · (nnz · k² + (users + items) · k³)) with Cholesky. Memory O(nnz + (users + items) · k).
///
/// Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets." ICDM 2008.
/// Takács, Pilászy, Tikk. "Applications of the Conjugate Gradient Method for Implicit Feedback
/// Collaborative Filtering." RecSys 2011.
public struct ImplicitALS: Recommender, SimilarItemsProviding, Explainable, ColdStartCapable,
  IncrementallyTrainable
{
  public enum Solver: String, Sendable, Codable, Hashable, CaseIterable {
    case conjugateGradient = "cg"
    case cholesky
  }

  public enum ConfidenceScaling: String, Sendable, Codable, Hashable, CaseIterable {
    /// `c = 1 + α w`.
    case linear
    /// `c = 1 + α log(1 + w / ε)`.
    case log
  }

  public enum Weighting: String, Sendable, Codable, Hashable, CaseIterable {
    case none
    /// Okapi BM25 over the user × item matrix (implicit's `bm25_weight`).
    case bm25
    /// `√w · idf` (implicit's `tfidf_weight`).
    case tfidf
  }

  public struct Configuration: ModelConfiguration {
    /// Latent dimensions k (implicit: `factors`).
    public var embeddingSize: Int
    /// λ (implicit: `regularization`).
    public var regularization: Float
    /// α in the confidence (implicit: `alpha`).
    public var confidenceWeight: Float
    /// Alternating passes (implicit: `iterations`).
    public var epochs: Int
    public var solver: Solver
    /// Conjugate-gradient steps per row and half-step (implicit: `cg_steps`).
    public var cgSteps: Int
    public var confidenceScaling: ConfidenceScaling
    /// ε of the log scaling.
    public var logEpsilon: Float
    public var weighting: Weighting
    public var bm25K1: Float
    public var bm25B: Float
    /// False treats every interaction as value 1.
    public var usesValues: Bool

    /// Defaults tuned on a validation split of MovieLens-100k training data (per-user temporal),
    /// see `docs/benchmarks/tuning.md`.
    public init(
      embeddingSize: Int = 128, regularization: Float = 20, confidenceWeight: Float = 0.5,
      epochs: Int = 15, solver: Solver = .conjugateGradient, cgSteps: Int = 3,
      confidenceScaling: ConfidenceScaling = .linear, logEpsilon: Float = 1,
      weighting: Weighting = .none, bm25K1: Float = 100, bm25B: Float = 0.8, usesValues: Bool = true
    ) {
      self.embeddingSize = embeddingSize
      self.regularization = regularization
      self.confidenceWeight = confidenceWeight
      self.epochs = epochs
      self.solver = solver
      self.cgSteps = cgSteps
      self.confidenceScaling = confidenceScaling
      self.logEpsilon = logEpsilon
      self.weighting = weighting
      self.bm25K1 = bm25K1
      self.bm25B = bm25B
      self.usesValues = usesValues
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("ImplicitALS")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("regularization", regularization)
      try check.nonNegative("confidenceWeight", confidenceWeight)
      try check.positive("epochs", epochs)
      try check.positive("cgSteps", cgSteps)
      try check.positive("logEpsilon", logEpsilon)
      try check.nonNegative("bm25K1", bm25K1)
      if !(0...1).contains(bm25B) {
        throw ConfigurationError(model: "ImplicitALS", parameter: "bm25B", value: bm25B, requirement: "in [0, 1]")
      }
    }
  }

  public static let kind = "als"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// x_u, one row per user.
  public let userFactors: DenseMatrix
  /// y_i, one row per item.
  public let itemFactors: DenseMatrix
  /// `YᵀY + λI` of the final item factors, for folding in users.
  public let itemGram: DenseMatrix
  /// How `c_ui` follows from a training pair's value (per-user and per-item terms only).
  let confidence: ALSConfidence
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  /// Scores of every item for `query`: the user's factors if known, else a fold-in of the history.
  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    if let user = query.user, let u = users.index(of: user) {
      return scores(forVector: userFactors.row(u))
    }
    return try scores(forHistory: query.history)
  }

  /// Folds in a user from `history` (each item with confidence `1 + α`) and scores every item.
  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    scores(forVector: foldIn(history))
  }

  /// The user vector that `history` implies with the item factors fixed; zero for no history.
  public func foldIn(_ history: [ItemID]) -> [Float] {
    let known = history.compactMap { items.index(of: $0) }
    let c = confidence.scaled(1)
    return ALSSolver.exactRow(
      gram: itemGram, factors: itemFactors, columns: known.map { Int32($0) },
      confidences: Array(repeating: c, count: known.count))
  }

  func scores(forVector x: [Float]) -> [Float] {
    var padded = x
    padded.append(contentsOf: repeatElement(0, count: itemFactors.stride - x.count))
    var scores = [Float](repeating: 0, count: items.count)
    padded.withUnsafeBufferPointer { xb in
      itemFactors.storage.withUnsafeBufferPointer { yb in
        scores.withUnsafeMutableBufferPointer { sb in
          guard let xp = xb.baseAddress, let yp = yb.baseAddress, let out = sb.baseAddress else { return }
          DenseKernels.scores(users: xp, userCount: 1, items: yp, itemCount: items.count, stride: itemFactors.stride, out: out)
        }
      }
    }
    return scores
  }

  /// The items whose factors have the highest cosine similarity with `item`'s.
  public func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem] {
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    let raw = scores(forVector: itemFactors.row(i))
    var norms = [Float](repeating: 0, count: items.count)
    for j in 0..<items.count {
      var s: Float = 0
      for f in 0..<configuration.embeddingSize { s += itemFactors[j, f] * itemFactors[j, f] }
      norms[j] = s.squareRoot()
    }
    var cosine = (0..<items.count).map { j in norms[i] * norms[j] > 0 ? raw[j] / (norms[i] * norms[j]) : 0 }
    cosine[i] = -.infinity
    return TopK.indices(of: cosine, count: count).map { ScoredItem(item: items[$0], score: cosine[$0]) }
  }

  /// The contribution of each history item to `item`'s score, as implicit's `explain`:
  /// `score = Σ_j c_uj · y_iᵀ A_u⁻¹ y_j` with `A_u = YᵀC_uY + λI`.
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation {
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    var columns: [Int32] = []
    var confidences: [Float] = []
    if let user = query.user, let u = users.index(of: user) {
      for p in seen.range(ofRow: u) {
        columns.append(seen.columns[p])
        confidences.append(confidence.confidence(value: seen.values[p], user: u, item: Int(seen.columns[p])))
      }
    } else {
      let c = confidence.scaled(1)
      for id in query.history {
        if let j = items.index(of: id) {
          columns.append(Int32(j))
          confidences.append(c)
        }
      }
    }
    let weighted = ALSSolver.solve(
      gram: itemGram, factors: itemFactors, columns: columns, confidences: confidences,
      rightHandSide: itemFactors.row(i))
    var contributions: [Explanation.Contribution] = []
    var total: Float = 0
    for (n, j) in columns.enumerated() {
      var dot: Float = 0
      for f in 0..<configuration.embeddingSize { dot += weighted[f] * itemFactors[Int(j), f] }
      let weight = confidences[n] * dot
      total += weight
      contributions.append(.init(source: items[Int(j)].rawValue, weight: weight))
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: total, contributions: contributions)
  }
}

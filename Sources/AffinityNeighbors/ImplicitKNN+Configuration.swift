public import AffinityCore

/// Picks the orientation of an ``ImplicitKNN``; one caseless type per model.
public protocol ImplicitNeighborSide: Sendable {
  /// True compares users, false compares items.
  static var isUserBased: Bool { get }
  /// The model's stable name for bundles and the CLI.
  static var kind: String { get }
  /// The model's type name, used in error messages.
  static var modelName: String { get }
  /// The configuration that won the validation search for this orientation.
  static var defaults: ImplicitKNNDefaults { get }
}

/// The defaults of one orientation, from a validation search on MovieLens-100k training data.
public struct ImplicitKNNDefaults: Sendable {
  public var similarity: ImplicitSimilarity
  public var neighborCount: Int
  public var asymmetricAlpha: Float
  public var shrinkage: Float
}

/// The orientation of ``ItemKNN``: items are compared over their users.
public enum ItemNeighbors: ImplicitNeighborSide {
  public static var isUserBased: Bool { false }
  public static var kind: String { "item-knn" }
  public static var modelName: String { "ItemKNN" }
  /// Asymmetric cosine with α = 0.62 and k = 300: validation NDCG@10 0.198 against 0.179 for
  /// implicit's cosine with k = 20. The score falls sharply above α = 0.66, so the default keeps
  /// clear of the single best grid point (α = 0.64, k = 400, 0.1981).
  public static var defaults: ImplicitKNNDefaults {
    .init(similarity: .asymmetricCosine, neighborCount: 300, asymmetricAlpha: 0.62, shrinkage: 0)
  }
}

/// The orientation of ``UserKNN``: users are compared over their items.
public enum UserNeighbors: ImplicitNeighborSide {
  public static var isUserBased: Bool { true }
  public static var kind: String { "user-knn" }
  public static var modelName: String { "UserKNN" }
  /// Jaccard with k = 10 and shrinkage 500: validation NDCG@10 0.178 against 0.169 for the
  /// cosine with k = 20 and no shrinkage.
  public static var defaults: ImplicitKNNDefaults {
    .init(similarity: .jaccard, neighborCount: 10, asymmetricAlpha: 0.5, shrinkage: 500)
  }
}

extension ImplicitKNN {
  /// The hyperparameters of an implicit-feedback k-NN model; names follow implicit's
  /// `nearest_neighbours` (`K`, `K1`, `B`).
  ///
  /// The similarity, `neighborCount`, `asymmetricAlpha` and `shrinkage` default to
  /// ``ImplicitNeighborSide/defaults``, which won a validation search on MovieLens-100k training
  /// data (per-user temporal split, `docs/benchmarks/tuning-implicit-topn.md`); BM25's K1 and B
  /// default to implicit's.
  public struct Configuration: ModelConfiguration {
    /// How two items (or users) are compared.
    public var similarity: ImplicitSimilarity
    /// The neighbours kept per item (or user), k (implicit's `K`); the item itself is never one
    /// of them, while implicit counts it among its `K`.
    public var neighborCount: Int
    /// BM25's term-frequency saturation K1 (implicit's `K1`).
    public var bm25K1: Float
    /// BM25's length normalisation B in [0, 1] (implicit's `B`).
    public var bm25B: Float
    /// α of the asymmetric cosine, in [0, 1]; 0.5 is the cosine.
    public var asymmetricAlpha: Float
    /// False counts every (user, item) pair as 1, whatever its values; true sums them.
    public var usesValues: Bool
    /// Added to the similarity's denominator (cosine, tfidf, jaccard, asymmetric cosine), which
    /// favours pairs with more support; bm25 has no denominator and ignores it.
    public var shrinkage: Float

    public init(
      similarity: ImplicitSimilarity = Side.defaults.similarity,
      neighborCount: Int = Side.defaults.neighborCount, bm25K1: Float = 1.2, bm25B: Float = 0.75,
      asymmetricAlpha: Float = Side.defaults.asymmetricAlpha, usesValues: Bool = true,
      shrinkage: Float = Side.defaults.shrinkage
    ) {
      self.similarity = similarity
      self.neighborCount = neighborCount
      self.bm25K1 = bm25K1
      self.bm25B = bm25B
      self.asymmetricAlpha = asymmetricAlpha
      self.usesValues = usesValues
      self.shrinkage = shrinkage
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck(Side.modelName)
      try check.positive("neighborCount", neighborCount)
      try check.nonNegative("bm25K1", bm25K1)
      try check.unitInterval("bm25B", bm25B)
      try check.unitInterval("asymmetricAlpha", asymmetricAlpha)
      try check.nonNegative("shrinkage", shrinkage)
    }
  }
}

extension ConfigurationCheck {
  /// Throws unless `value` is in [0, 1].
  func unitInterval(_ parameter: String, _ value: Float) throws(ConfigurationError) {
    if !(0...1).contains(value) {
      throw ConfigurationError(
        model: model, parameter: parameter, value: value, requirement: "in [0, 1]")
    }
  }
}

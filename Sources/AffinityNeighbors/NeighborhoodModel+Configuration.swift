public import AffinityCore

extension NeighborhoodModel {
  /// The hyperparameters of a k-NN model; the defaults are Surprise's, except that
  /// ``KNNBaseline`` defaults to the item-based Pearson-baseline similarity.
  ///
  /// Every field is always present, so the configuration round-trips through JSON with any
  /// subset of fields changed.
  public struct Configuration: ModelConfiguration {
    /// The most neighbours used per prediction, k (Surprise's `k`).
    public var neighborCount: Int
    /// Fewer neighbours with a positive similarity than this gives the fallback (Surprise's
    /// `min_k`).
    public var minimumNeighbors: Int
    /// How neighbours are compared (Surprise's `sim_options['name']`).
    public var similarity: Similarity
    /// True compares users, false compares items (Surprise's `user_based`).
    public var userBased: Bool
    /// Pairs with fewer common ratings than this get similarity 0 (Surprise's `min_support`).
    public var minimumSupport: Int
    /// Shrinkage of the Pearson-baseline similarity (Surprise's `shrinkage`).
    public var shrinkage: Float
    /// When positive, each user (or item) keeps only this many most similar neighbours after
    /// fitting, to bound memory; predictions then differ from Surprise's. 0 keeps all.
    public var maximumStoredNeighbors: Int
    /// How the baselines of KNNBaseline and of the Pearson-baseline similarity are fitted.
    public var baselineMethod: BaselineEstimates.Method
    /// Baseline epochs (Surprise's `n_epochs`: 10 for ALS, 20 for SGD).
    public var baselineEpochs: Int
    /// ALS item regularization λ₂ (Surprise's `reg_i`).
    public var itemRegularization: Float
    /// ALS user regularization λ₃ (Surprise's `reg_u`).
    public var userRegularization: Float
    /// SGD learning rate of the baselines (Surprise's `learning_rate`).
    public var baselineLearningRate: Float
    /// SGD regularization of the baselines (Surprise's `reg`).
    public var baselineRegularization: Float

    /// Surprise's defaults; `baselineEpochs` defaults to 10 for ALS and 20 for SGD.
    public init(
      neighborCount: Int = 40, minimumNeighbors: Int = 1,
      similarity: Similarity = Variant.rule.defaultSimilarity,
      userBased: Bool = Variant.rule.defaultUserBased, minimumSupport: Int = 1,
      shrinkage: Float = 100, maximumStoredNeighbors: Int = 0,
      baselineMethod: BaselineEstimates.Method = .als, baselineEpochs: Int? = nil,
      itemRegularization: Float = 10, userRegularization: Float = 15,
      baselineLearningRate: Float = 0.005, baselineRegularization: Float = 0.02
    ) {
      self.neighborCount = neighborCount
      self.minimumNeighbors = minimumNeighbors
      self.similarity = similarity
      self.userBased = userBased
      self.minimumSupport = minimumSupport
      self.shrinkage = shrinkage
      self.maximumStoredNeighbors = maximumStoredNeighbors
      self.baselineMethod = baselineMethod
      self.baselineEpochs = baselineEpochs ?? (baselineMethod == .als ? 10 : 20)
      self.itemRegularization = itemRegularization
      self.userRegularization = userRegularization
      self.baselineLearningRate = baselineLearningRate
      self.baselineRegularization = baselineRegularization
    }

    /// The baseline settings these fields describe.
    public var baselineSettings: BaselineEstimates.Settings {
      .init(
        method: baselineMethod, epochs: baselineEpochs, itemRegularization: itemRegularization,
        userRegularization: userRegularization, learningRate: baselineLearningRate,
        regularization: baselineRegularization)
    }

    /// True when fitting needs the baselines: KNNBaseline, or the Pearson-baseline similarity.
    var needsBaselines: Bool {
      Variant.rule == .baselineCentered || similarity == .pearsonBaseline
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck(Variant.rule.modelName)
      try check.positive("neighborCount", neighborCount)
      try check.nonNegative("minimumNeighbors", minimumNeighbors)
      try check.nonNegative("minimumSupport", minimumSupport)
      try check.nonNegative("shrinkage", shrinkage)
      try check.nonNegative("maximumStoredNeighbors", maximumStoredNeighbors)
      try baselineSettings.validate(model: Variant.rule.modelName)
    }
  }
}

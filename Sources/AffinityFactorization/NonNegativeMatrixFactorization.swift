public import AffinityCore
public import AffinityLinalg

/// Non-negative matrix factorization with regularised multiplicative updates.
///
/// Predicts `r̂_ui = q_iᵀ p_u` with `p_u, q_i ≥ 0`. Each epoch sets
/// `p_uf ← p_uf · Σ_{i∈I_u} q_if r_ui / (Σ_{i∈I_u} q_if r̂_ui + |I_u| λ_u p_uf)` and the same for
/// `q_if`, as Surprise's `NMF` (Luo et al. 2014). Factors start uniform in `[low, high)`.
/// Unknown users or items fall back to μ.
///
/// - Complexity: O(epochs · n · k) time; O((users + items) · k) memory.
///
/// Luo et al. "An Efficient Non-Negative Matrix-Factorization-Based Approach to Collaborative
/// Filtering for Recommender Systems." 2014.
public struct NonNegativeMatrixFactorization: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    public var embeddingSize: Int
    public var epochs: Int
    /// λ_u (`reg_pu`).
    public var userRegularization: Float
    /// λ_i (`reg_qi`).
    public var itemRegularization: Float
    public var initialLow: Float
    public var initialHigh: Float

    /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`); Surprise's are
    /// 15 factors, 50 epochs, λ = 0.06.
    public init(
      embeddingSize: Int = 50, epochs: Int = 100, userRegularization: Float = 0.1,
      itemRegularization: Float = 0.1, initialLow: Float = 0, initialHigh: Float = 1
    ) {
      self.embeddingSize = embeddingSize
      self.epochs = epochs
      self.userRegularization = userRegularization
      self.itemRegularization = itemRegularization
      self.initialLow = initialLow
      self.initialHigh = initialHigh
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("NMF")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("epochs", epochs)
      try check.nonNegative("userRegularization", userRegularization)
      try check.nonNegative("itemRegularization", itemRegularization)
      try check.nonNegative("initialLow", initialLow)
      if !(initialHigh > initialLow) {
        throw ConfigurationError(
          model: "NMF", parameter: "initialHigh", value: initialHigh,
          requirement: "> initialLow (\(initialLow))")
      }
    }
  }

  public static let kind = "nmf"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let userFactors: DenseMatrix
  public let itemFactors: DenseMatrix
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> NonNegativeMatrixFactorization {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var p = FactorTraining.uniform(
      rows: data.users.count, columns: k, low: c.initialLow, high: c.initialHigh,
      seed: options.seed, stream: 1)
    var q = FactorTraining.uniform(
      rows: data.items.count, columns: k, low: c.initialLow, high: c.initialHigh,
      seed: options.seed, stream: 2)
    let ratings = data.byUser
    for epoch in 1...c.epochs {
      var userNumerator = DenseMatrix(rows: data.users.count, columns: k)
      var userDenominator = DenseMatrix(rows: data.users.count, columns: k)
      var itemNumerator = DenseMatrix(rows: data.items.count, columns: k)
      var itemDenominator = DenseMatrix(rows: data.items.count, columns: k)
      let stride = p.stride
      var squaredError = 0.0
      p.storage.withUnsafeBufferPointer { pp in
        q.storage.withUnsafeBufferPointer { qq in
          userNumerator.storage.withUnsafeMutableBufferPointer { un in
            userDenominator.storage.withUnsafeMutableBufferPointer { ud in
              itemNumerator.storage.withUnsafeMutableBufferPointer { inum in
                itemDenominator.storage.withUnsafeMutableBufferPointer { iden in
                  guard let pBase = pp.baseAddress, let qBase = qq.baseAddress, let unBase = un.baseAddress,
                    let udBase = ud.baseAddress, let inBase = inum.baseAddress, let idBase = iden.baseAddress
                  else { return }
                  for u in 0..<data.users.count {
                    let pu = pBase + u * stride
                    for position in ratings.range(ofRow: u) {
                      let i = Int(ratings.columns[position])
                      let r = ratings.values[position]
                      let qi = qBase + i * stride
                      let estimate = Vector.dot(pu, qi, count: stride)
                      squaredError += Double((r - estimate) * (r - estimate))
                      // numerators += factor · r, denominators += factor · r̂
                      Vector.axpy(r, qi, unBase + u * stride, count: stride)
                      Vector.axpy(estimate, qi, udBase + u * stride, count: stride)
                      Vector.axpy(r, pu, inBase + i * stride, count: stride)
                      Vector.axpy(estimate, pu, idBase + i * stride, count: stride)
                    }
                  }
                }
              }
            }
          }
        }
      }
      for u in 0..<data.users.count {
        let n = Float(ratings.count(ofRow: u))
        for f in 0..<k where p[u, f] != 0 {
          let denominator = userDenominator[u, f] + n * c.userRegularization * p[u, f]
          if denominator > 0 { p[u, f] *= userNumerator[u, f] / denominator }
        }
      }
      for i in 0..<data.items.count {
        let n = Float(data.byItem.count(ofRow: i))
        for f in 0..<k where q[i, f] != 0 {
          let denominator = itemDenominator[i, f] + n * c.itemRegularization * q[i, f]
          if denominator > 0 { q[i, f] *= itemNumerator[i, f] / denominator }
        }
      }
      let rmse = (squaredError / Double(data.count)).squareRoot()
      guard rmse.isFinite else { throw .diverged(model: "NMF", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: rmse)
    }
    guard p.isFinite, q.isFinite else { throw .diverged(model: "NMF", epoch: c.epochs) }
    return NonNegativeMatrixFactorization(
      configuration: c, index: TrainingIndex(data), userFactors: p, itemFactors: q)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    guard let u = userIndex, let i = itemIndex else {
      return RatingPrediction(value: index.globalMean, isFallback: true)
    }
    var value: Float = 0
    for f in 0..<configuration.embeddingSize { value += userFactors[u, f] * itemFactors[i, f] }
    return RatingPrediction(value: value)
  }
}

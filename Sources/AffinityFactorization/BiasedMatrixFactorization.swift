public import AffinityCore
public import AffinityLinalg

/// Matrix factorization for explicit ratings, trained by stochastic gradient descent (Funk SVD).
///
/// Predicts `r̂_ui = μ + b_u + b_i + q_iᵀ p_u` and minimizes
/// `Σ (r_ui − r̂_ui)² + λ (b_u² + b_i² + ‖p_u‖² + ‖q_i‖²)` one rating at a time, on a stratified
/// schedule (Gemulla et al., KDD 2011): users and items fall in 4 blocks by index, and each
/// epoch runs 4 strata of 4 blocks that share no user or item, users in a fresh seeded order.
/// Blocks of a stratum run on all cores; the result is the same bytes on one core or many. With `usesBiases = false` the model is
/// `r̂_ui = q_iᵀ p_u`, the probabilistic MF of Salakhutdinov & Mnih (see
/// ``ProbabilisticMatrixFactorization``). An unknown user or item drops its terms (Surprise's
/// convention), so the fallback is `μ + b_i`, `μ + b_u` or `μ`.
///
/// - Complexity: O(epochs · n · k) time with SIMD8 kernels; O((users + items) · k) memory.
///
/// Koren, Bell, Volinsky. "Matrix Factorization Techniques for Recommender Systems." 2009.
public struct BiasedMatrixFactorization: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    /// Latent dimensions k (Surprise: `n_factors`).
    public var embeddingSize: Int
    /// Passes over the training data (`n_epochs`).
    public var epochs: Int
    /// SGD step for the factors (`lr_pu`, `lr_qi`).
    public var learningRate: Float
    /// λ for the factors (`reg_pu`, `reg_qi`).
    public var regularization: Float
    /// SGD step for the biases (`lr_bu`, `lr_bi`).
    public var biasLearningRate: Float
    /// λ for the biases (`reg_bu`, `reg_bi`).
    public var biasRegularization: Float
    /// Mean of the initial factors (`init_mean`).
    public var initialMean: Float
    /// Standard deviation of the initial factors (`init_std`).
    public var initialStandardDeviation: Float
    /// Whether `μ`, `b_u`, `b_i` are part of the model (`biased`).
    public var usesBiases: Bool

    /// Defaults tuned on a validation split of MovieLens-100k training data
    /// (`docs/benchmarks/tuning.md`); Surprise's are 100, 20, 0.005, 0.02.
    public init(
      embeddingSize: Int = 150, epochs: Int = 60, learningRate: Float = 0.007,
      regularization: Float = 0.1, biasLearningRate: Float = 0.007, biasRegularization: Float = 0.02,
      initialMean: Float = 0, initialStandardDeviation: Float = 0.05, usesBiases: Bool = true
    ) {
      self.embeddingSize = embeddingSize
      self.epochs = epochs
      self.learningRate = learningRate
      self.regularization = regularization
      self.biasLearningRate = biasLearningRate
      self.biasRegularization = biasRegularization
      self.initialMean = initialMean
      self.initialStandardDeviation = initialStandardDeviation
      self.usesBiases = usesBiases
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck(usesBiases ? "SVD" : "PMF")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("epochs", epochs)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("biasLearningRate", biasLearningRate)
      try check.nonNegative("biasRegularization", biasRegularization)
      try check.nonNegative("initialStandardDeviation", initialStandardDeviation)
    }
  }

  public static let kind = "svd"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// p_u, one row per user.
  public let userFactors: DenseMatrix
  /// q_i, one row per item.
  public let itemFactors: DenseMatrix
  public let userBiases: [Float]
  public let itemBiases: [Float]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> BiasedMatrixFactorization {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var p = FactorTraining.gaussian(
      rows: data.users.count, columns: k, mean: c.initialMean,
      standardDeviation: c.initialStandardDeviation, seed: options.seed, stream: 1)
    var q = FactorTraining.gaussian(
      rows: data.items.count, columns: k, mean: c.initialMean,
      standardDeviation: c.initialStandardDeviation, seed: options.seed, stream: 2)
    var bu = [Float](repeating: 0, count: data.users.count)
    var bi = [Float](repeating: 0, count: data.items.count)
    let mu: Float = c.usesBiases ? data.globalMean : 0
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    let name = c.usesBiases ? "SVD" : "PMF"

    let ratings = data.byUser
    let schedule = StratifiedSchedule(ratings, itemCount: data.items.count)
    let blocks = schedule.blocks
    let ps = p.stride
    // Rows are zero-padded to the stride (a multiple of 8); running the kernels over the padding
    // keeps it zero and removes the scalar tail.
    let parallelFrom = options.isParallel && data.count >= 50_000 ? 0 : Int.max
    for epoch in 1...c.epochs {
      var userOrder = Array(0..<data.users.count)
      generator.shuffle(&userOrder)
      let usersByBlock = (0..<blocks).map { b in userOrder.filter { schedule.userBlock($0) == b } }
      var squaredError = 0.0
      p.storage.withUnsafeMutableBufferPointer { pp in
        q.storage.withUnsafeMutableBufferPointer { qq in
          bu.withUnsafeMutableBufferPointer { bub in
            bi.withUnsafeMutableBufferPointer { bib in
              guard let pBase = pp.baseAddress, let qBase = qq.baseAddress,
                let buBase = bub.baseAddress, let biBase = bib.baseAddress
              else { return }
              let shared = UncheckedBox((pBase, qBase, buBase, biBase))
              for stratum in 0..<blocks {
                // The blocks of one stratum share no user and no item, so running them at once
                // gives the same bytes as running them one after another.
                let errors = Parallel.mapChunks(
                  count: blocks, chunkCount: blocks, minimumParallelCount: parallelFrom
                ) { _, userBlock -> Double in
                  let (pBase, qBase, bu, bi) = shared.value
                  let itemBlock = (userBlock + stratum) % blocks
                  var blockError = 0.0
                  ratings.columns.withUnsafeBufferPointer { items in
                    ratings.values.withUnsafeBufferPointer { values in
                      schedule.positions.withUnsafeBufferPointer { positions in
                        for u in usersByBlock[userBlock] {
                          let pu = pBase + u * ps
                          for index in schedule.range(user: u, itemBlock: itemBlock) {
                            let n = Int(positions[index])
                            let i = Int(items[n])
                            let qi = qBase + i * ps
                            let dot = Vector.dot(pu, qi, count: ps)
                            let error = values[n] - (mu + bu[u] + bi[i] + dot)
                            blockError += Double(error * error)
                            if c.usesBiases {
                              bu[u] += c.biasLearningRate * (error - c.biasRegularization * bu[u])
                              bi[i] += c.biasLearningRate * (error - c.biasRegularization * bi[i])
                            }
                            Vector.factorStep(
                              pu, qi, count: ps, error: error, learningRateP: c.learningRate,
                              regularizationP: c.regularization, learningRateQ: c.learningRate,
                              regularizationQ: c.regularization)
                          }
                        }
                      }
                    }
                  }
                  return blockError
                }
                for e in errors { squaredError += e }
              }
            }
          }
        }
      }
      let rmse = (squaredError / Double(data.count)).squareRoot()
      guard rmse.isFinite else { throw .diverged(model: name, epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: rmse)
    }
    guard p.isFinite, q.isFinite else { throw .diverged(model: name, epoch: c.epochs) }
    return BiasedMatrixFactorization(
      configuration: c, index: TrainingIndex(data), userFactors: p, itemFactors: q,
      userBiases: bu, itemBiases: bi)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    if !configuration.usesBiases {
      guard let u = userIndex, let i = itemIndex else {
        return RatingPrediction(value: index.globalMean, isFallback: true)
      }
      return RatingPrediction(value: dot(u, i))
    }
    var value = index.globalMean
    if let u = userIndex { value += userBiases[u] }
    if let i = itemIndex { value += itemBiases[i] }
    if let u = userIndex, let i = itemIndex { value += dot(u, i) }
    return RatingPrediction(value: value)
  }

  func dot(_ u: Int, _ i: Int) -> Float {
    userFactors.storage.withUnsafeBufferPointer { pp in
      itemFactors.storage.withUnsafeBufferPointer { qq in
        guard let p = pp.baseAddress, let q = qq.baseAddress else { return 0 }
        return Vector.dot(
          p + u * userFactors.stride, q + i * itemFactors.stride, count: configuration.embeddingSize)
      }
    }
  }
}

/// Probabilistic matrix factorization: `r̂_ui = q_iᵀ p_u`, no biases, fitted by SGD.
///
/// The MAP estimate of Salakhutdinov & Mnih's model with Gaussian priors, which is Surprise's
/// `SVD(biased=False)`. An unknown user or item falls back to the global mean.
///
/// Salakhutdinov, Mnih. "Probabilistic Matrix Factorization." NIPS 2007.
public struct ProbabilisticMatrixFactorization: RatingPredictor {
  public typealias Configuration = BiasedMatrixFactorization.Configuration

  public static let kind = "pmf"
  public let model: BiasedMatrixFactorization
  public var configuration: Configuration { model.configuration }
  public var users: IDVocabulary<UserID> { model.users }
  public var items: IDVocabulary<ItemID> { model.items }
  public var seen: SparseRowMatrix { model.seen }
  public var ratingScale: ClosedRange<Float> { model.ratingScale }

  /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`).
  public static var defaultConfiguration: Configuration {
    Configuration(
      embeddingSize: 50, epochs: 100, learningRate: 0.005, regularization: 0.12, usesBiases: false)
  }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> ProbabilisticMatrixFactorization {
    var c = configuration
    c.usesBiases = false
    return ProbabilisticMatrixFactorization(
      model: try BiasedMatrixFactorization.fit(data, configuration: c, options: options))
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    model.estimate(userIndex: userIndex, itemIndex: itemIndex)
  }
}

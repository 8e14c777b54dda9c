public import AffinityCore
public import AffinityLinalg

/// SVD++: matrix factorization with implicit feedback from which items each user rated.
///
/// Predicts `r̂_ui = μ + b_u + b_i + q_iᵀ (p_u + |I_u|^(−½) Σ_{j∈I_u} y_j)` and fits it by SGD
/// with Surprise's update rules. Each epoch visits users in a seeded order and each user's
/// ratings in a seeded order. The per-rating update of every `y_j`, `j ∈ I_u`, is the same affine
/// map for all `j`, so it is applied lazily once per user: `y_j ← a^t y_j + c` with
/// `a = 1 − lr·λ`, which is exact and turns Surprise's O(|I_u| k) per rating into O(k).
///
/// - Complexity: O(epochs · n · k) time; O((users + 2 · items) · k) memory.
///
/// Koren. "Factorization Meets the Neighborhood: a Multifaceted Collaborative Filtering Model."
/// KDD 2008.
public struct SVDPlusPlus: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    public var embeddingSize: Int
    public var epochs: Int
    public var learningRate: Float
    public var regularization: Float
    public var biasLearningRate: Float
    public var biasRegularization: Float
    public var initialMean: Float
    public var initialStandardDeviation: Float

    /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`); Surprise's are
    /// 20 factors, 20 epochs, learning rate 0.007, regularization 0.02.
    public init(
      embeddingSize: Int = 150, epochs: Int = 60, learningRate: Float = 0.007,
      regularization: Float = 0.1, biasLearningRate: Float = 0.007, biasRegularization: Float = 0.02,
      initialMean: Float = 0, initialStandardDeviation: Float = 0.05
    ) {
      self.embeddingSize = embeddingSize
      self.epochs = epochs
      self.learningRate = learningRate
      self.regularization = regularization
      self.biasLearningRate = biasLearningRate
      self.biasRegularization = biasRegularization
      self.initialMean = initialMean
      self.initialStandardDeviation = initialStandardDeviation
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("SVDpp")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("epochs", epochs)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("biasLearningRate", biasLearningRate)
      try check.nonNegative("biasRegularization", biasRegularization)
      try check.nonNegative("initialStandardDeviation", initialStandardDeviation)
      if learningRate * regularization >= 1 {
        throw ConfigurationError(
          model: "SVDpp", parameter: "learningRate", value: learningRate,
          requirement: "such that learningRate · regularization < 1")
      }
    }
  }

  public static let kind = "svdpp"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// `p_u + |I_u|^(−½) Σ y_j` for each training user, precomputed at the end of training.
  public let userVectors: DenseMatrix
  public let itemFactors: DenseMatrix
  public let implicitFactors: DenseMatrix
  public let userBiases: [Float]
  public let itemBiases: [Float]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> SVDPlusPlus {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var p = FactorTraining.gaussian(
      rows: data.users.count, columns: k, mean: c.initialMean,
      standardDeviation: c.initialStandardDeviation, seed: options.seed, stream: 1)
    var q = FactorTraining.gaussian(
      rows: data.items.count, columns: k, mean: c.initialMean,
      standardDeviation: c.initialStandardDeviation, seed: options.seed, stream: 2)
    var y = FactorTraining.gaussian(
      rows: data.items.count, columns: k, mean: c.initialMean,
      standardDeviation: c.initialStandardDeviation, seed: options.seed, stream: 4)
    var bu = [Float](repeating: 0, count: data.users.count)
    var bi = [Float](repeating: 0, count: data.items.count)
    let mu = data.globalMean
    let ratings = data.byUser
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    let stride = p.stride
    let decayPerStep = 1 - c.learningRate * c.regularization

    for epoch in 1...c.epochs {
      var userOrder = Array(0..<data.users.count)
      generator.shuffle(&userOrder)
      var squaredError = 0.0
      var sumY = [Float](repeating: 0, count: stride)
      var impl = [Float](repeating: 0, count: stride)
      var shift = [Float](repeating: 0, count: stride)
      var positions: [Int] = []
      p.storage.withUnsafeMutableBufferPointer { pp in
        q.storage.withUnsafeMutableBufferPointer { qq in
          y.storage.withUnsafeMutableBufferPointer { yy in
            sumY.withUnsafeMutableBufferPointer { sb in
              impl.withUnsafeMutableBufferPointer { ib in
                shift.withUnsafeMutableBufferPointer { cb in
                  guard let pBase = pp.baseAddress, let qBase = qq.baseAddress,
                    let yBase = yy.baseAddress, let sum = sb.baseAddress, let implicit = ib.baseAddress,
                    let common = cb.baseAddress
                  else { return }
                  for u in userOrder {
                    let range = ratings.range(ofRow: u)
                    let n = range.count
                    guard n > 0 else { continue }
                    let scale = 1 / Float(n).squareRoot()
                    for f in 0..<stride {
                      sum[f] = 0
                      common[f] = 0
                    }
                    for position in range {
                      Vector.axpy(1, yBase + Int(ratings.columns[position]) * stride, sum, count: stride)
                    }
                    positions.removeAll(keepingCapacity: true)
                    positions.append(contentsOf: range)
                    generator.shuffle(&positions)
                    var decay: Float = 1
                    let pu = pBase + u * stride
                    for position in positions {
                      let i = Int(ratings.columns[position])
                      let qi = qBase + i * stride
                      for f in 0..<k { implicit[f] = sum[f] * scale + pu[f] }
                      let dot = Vector.dot(qi, implicit, count: stride)
                      let error = ratings.values[position] - (mu + bu[u] + bi[i] + dot)
                      squaredError += Double(error * error)
                      bu[u] += c.biasLearningRate * (error - c.biasRegularization * bu[u])
                      bi[i] += c.biasLearningRate * (error - c.biasRegularization * bi[i])
                      // y_j ← a·y_j + lr·err·|I_u|^(−½)·q_i (old q_i) for all j ∈ I_u, lazily.
                      let step = c.learningRate * error * scale
                      decay *= decayPerStep
                      for f in 0..<k {
                        let oldQ = qi[f]
                        let oldP = pu[f]
                        common[f] = decayPerStep * common[f] + step * oldQ
                        sum[f] = decayPerStep * sum[f] + Float(n) * step * oldQ
                        pu[f] = oldP + c.learningRate * (error * oldQ - c.regularization * oldP)
                        qi[f] = oldQ + c.learningRate * (error * (implicit[f]) - c.regularization * oldQ)
                      }
                    }
                    for position in range {
                      Vector.axpby(
                        1, common, decay, yBase + Int(ratings.columns[position]) * stride, count: stride)
                    }
                  }
                }
              }
            }
          }
        }
      }
      let rmse = (squaredError / Double(data.count)).squareRoot()
      guard rmse.isFinite else { throw .diverged(model: "SVDpp", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: rmse)
    }
    // Precompute p_u + |I_u|^(−½) Σ y_j for prediction.
    var userVectors = p
    for u in 0..<data.users.count {
      let range = ratings.range(ofRow: u)
      guard !range.isEmpty else { continue }
      let scale = 1 / Float(range.count).squareRoot()
      for position in range {
        let j = Int(ratings.columns[position])
        for f in 0..<k { userVectors[u, f] += scale * y[j, f] }
      }
    }
    guard userVectors.isFinite, q.isFinite else { throw .diverged(model: "SVDpp", epoch: c.epochs) }
    return SVDPlusPlus(
      configuration: c, index: TrainingIndex(data), userVectors: userVectors, itemFactors: q,
      implicitFactors: y, userBiases: bu, itemBiases: bi)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    var value = index.globalMean
    if let u = userIndex { value += userBiases[u] }
    if let i = itemIndex { value += itemBiases[i] }
    if let u = userIndex, let i = itemIndex {
      var dot: Float = 0
      for f in 0..<configuration.embeddingSize { dot += userVectors[u, f] * itemFactors[i, f] }
      value += dot
    }
    return RatingPrediction(value: value)
  }
}

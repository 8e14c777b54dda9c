public import AffinityCore
public import AffinityLinalg

/// Predicts `r̂_ui = μ + b_u + b_i` with biases fitted by ALS or SGD.
///
/// An unknown user or item contributes no bias, as in Surprise's `BaselineOnly`.
///
/// - Complexity: O(epochs · n) time, O(users + items) memory.
///
/// Koren. "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering." TKDD 2010.
public struct BaselineOnly: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    public var method: BaselineEstimates.Method
    public var epochs: Int
    public var itemRegularization: Float
    public var userRegularization: Float
    public var learningRate: Float
    public var regularization: Float

    /// Surprise's defaults for each method.
    public init(
      method: BaselineEstimates.Method = .als, epochs: Int? = nil, itemRegularization: Float = 10,
      userRegularization: Float = 15, learningRate: Float = 0.005, regularization: Float = 0.02
    ) {
      self.method = method
      self.epochs = epochs ?? (method == .als ? 10 : 20)
      self.itemRegularization = itemRegularization
      self.userRegularization = userRegularization
      self.learningRate = learningRate
      self.regularization = regularization
    }

    var settings: BaselineEstimates.Settings {
      .init(
        method: method, epochs: epochs, itemRegularization: itemRegularization,
        userRegularization: userRegularization, learningRate: learningRate,
        regularization: regularization)
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("BaselineOnly")
      try check.positive("epochs", epochs)
      try check.nonNegative("itemRegularization", itemRegularization)
      try check.nonNegative("userRegularization", userRegularization)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
    }
  }

  public static let kind = "baseline"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let baselines: BaselineEstimates
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> BaselineOnly {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let baselines = BaselineEstimates(data, settings: configuration.settings)
    guard baselines.isFinite else { throw .diverged(model: "BaselineOnly", epoch: configuration.epochs) }
    options.report(kind, step: 1, of: 1)
    return BaselineOnly(configuration: configuration, index: TrainingIndex(data), baselines: baselines)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    RatingPrediction(value: baselines.estimate(userIndex: userIndex, itemIndex: itemIndex))
  }
}

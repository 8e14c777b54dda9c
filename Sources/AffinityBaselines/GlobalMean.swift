public import AffinityCore
public import AffinityLinalg

/// Predicts the global mean rating μ for every pair: the floor any model must beat.
public struct GlobalMean: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    public init() {}
    public func validate() throws(ConfigurationError) {}
  }

  public static let kind = "global-mean"
  public let configuration: Configuration
  public let index: TrainingIndex
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> GlobalMean {
    GlobalMean(configuration: configuration, index: TrainingIndex(data))
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    RatingPrediction(value: index.globalMean)
  }
}

/// Draws each prediction from the normal distribution of the training ratings, N(μ̂, σ̂²).
///
/// As Surprise's `NormalPredictor`, with one difference that keeps models values: the draw is
/// a deterministic function of the seed, user and item, so the same question gets the same
/// answer.
public struct NormalPredictor: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    public init() {}
    public func validate() throws(ConfigurationError) {}
  }

  public static let kind = "normal"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let mean: Float
  public let standardDeviation: Float
  public let seed: UInt64
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> NormalPredictor {
    let mean = Double(data.globalMean)
    var squares = 0.0
    for v in data.values { squares += (Double(v) - mean) * (Double(v) - mean) }
    return NormalPredictor(
      configuration: configuration, index: TrainingIndex(data), mean: Float(mean),
      standardDeviation: Float((squares / Double(data.count)).squareRoot()), seed: options.seed)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    let u = UInt64(bitPattern: Int64(userIndex ?? -1))
    let i = UInt64(bitPattern: Int64(itemIndex ?? -1))
    var generator = SeededGenerator(seed: seed ^ (u &* 0x9E37_79B9_7F4A_7C15), stream: i)
    return RatingPrediction(value: mean + standardDeviation * Float(generator.nextGaussian()))
  }
}

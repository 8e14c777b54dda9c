public import AffinityCore
public import AffinityLinalg
import Foundation

/// A linear blend of several rating models, weights fitted on a held-out slice of training data.
///
/// Fitting: each member is trained on a seeded random `1 − holdoutFraction` of the training
/// rows and predicts the rest; ridge regression of the held-out ratings on
/// `[1, r̂¹_ui, …, r̂ᵐ_ui]` gives the weights; then every member is retrained on all training
/// rows. Prediction is `w₀ + Σ_m w_m r̂ᵐ_ui` (each member clipped to the rating scale first).
/// The test set is never seen. This is the stacking that won the Netflix Prize, in its
/// simplest form.
///
/// - Complexity: about twice the sum of the members' fits.
///
/// Töscher, Jahrer, Bell. "The BigChaos Solution to the Netflix Grand Prize." 2009.
public struct LinearBlend: RatingPredictor {
  public struct Configuration: ModelConfiguration {
    /// Catalogue names of the members, separated by "," or "+", each with its default parameters.
    public var models: String
    /// Share of training rows held out to fit the weights.
    public var holdoutFraction: Float
    /// Ridge penalty λ on the weights (not on the intercept).
    public var regularization: Float

    public init(
      models: String = "svd,svdpp,knn-baseline,knn-means,pmf", holdoutFraction: Float = 0.1,
      regularization: Float = 1
    ) {
      self.models = models
      self.holdoutFraction = holdoutFraction
      self.regularization = regularization
    }

    var memberNames: [String] {
      models.split(whereSeparator: { $0 == "," || $0 == "+" }).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("Blend")
      if memberNames.isEmpty {
        throw ConfigurationError(model: "Blend", parameter: "models", value: "''", requirement: "a comma-separated list of models")
      }
      for name in memberNames where name == LinearBlend.kind {
        throw ConfigurationError(model: "Blend", parameter: "models", value: name, requirement: "free of 'blend' itself")
      }
      if !(holdoutFraction > 0 && holdoutFraction < 0.5) {
        throw ConfigurationError(model: "Blend", parameter: "holdoutFraction", value: holdoutFraction, requirement: "in (0, 0.5)")
      }
      try check.nonNegative("regularization", regularization)
    }
  }

  public static let kind = "blend"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let members: [any RatingPredictor]
  /// Intercept first, then one weight per member.
  public let weights: [Double]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> LinearBlend {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let names = configuration.memberNames
    var descriptors: [ModelDescriptor] = []
    for name in names {
      guard let descriptor = try? ModelCatalog.descriptor(named: name),
        descriptor.tasks.contains(.rating)
      else {
        throw .invalidConfiguration(
          ConfigurationError(model: "Blend", parameter: "models", value: name, requirement: "rating models from `affinity models`"))
      }
      descriptors.append(descriptor)
    }
    // Hold out a seeded slice of rows.
    var generator = SeededGenerator(seed: options.seed, stream: 31)
    var order = Array(0..<data.count)
    generator.shuffle(&order)
    let holdoutCount = max(1, Int(Float(data.count) * configuration.holdoutFraction))
    let holdout: InteractionData
    let rest: InteractionData
    do {
      holdout = try data.subset(Array(order.prefix(holdoutCount)))
      rest = try data.subset(Array(order.dropFirst(holdoutCount)))
    } catch { throw .invalidData(error) }
    let steps = 2 * descriptors.count
    var columns: [[Double]] = []
    for (m, descriptor) in descriptors.enumerated() {
      let member = try fitMember(descriptor, rest, options: options)
      columns.append((0..<holdout.count).map { Double(member.predictedRating(user: holdout[$0].user, item: holdout[$0].item).value) })
      options.report(kind, step: m + 1, of: steps)
    }
    let weights = ridge(columns: columns, target: holdout.values.map(Double.init), lambda: Double(configuration.regularization))
    var members: [any RatingPredictor] = []
    for (m, descriptor) in descriptors.enumerated() {
      members.append(try fitMember(descriptor, data, options: options))
      options.report(kind, step: descriptors.count + m + 1, of: steps)
    }
    return LinearBlend(configuration: configuration, index: TrainingIndex(data), members: members, weights: weights)
  }

  static func fitMember(_ descriptor: ModelDescriptor, _ data: InteractionData, options: FitOptions) throws(FitError) -> any RatingPredictor {
    guard let model = try EnsembleMembers.fit(descriptor, data, options: options, ensemble: "Blend") as? any RatingPredictor else {
      throw .invalidConfiguration(
        ConfigurationError(model: "Blend", parameter: "models", value: descriptor.name, requirement: "rating models"))
    }
    return model
  }

  /// Solves `(XᵀX + λ D) w = Xᵀy` for `X = [1, columns…]`, `D = diag(0, 1, …, 1)`.
  static func ridge(columns: [[Double]], target: [Double], lambda: Double) -> [Double] {
    let p = columns.count + 1
    let n = target.count
    var a = [Double](repeating: 0, count: p * p)
    var b = [Double](repeating: 0, count: p)
    var row = [Double](repeating: 1, count: p)
    for r in 0..<n {
      for c in 0..<columns.count { row[c + 1] = columns[c][r] }
      for i in 0..<p {
        b[i] += row[i] * target[r]
        for j in 0..<p { a[i * p + j] += row[i] * row[j] }
      }
    }
    for i in 1..<p { a[i * p + i] += lambda }
    // Gaussian elimination with partial pivoting; p is tiny.
    for col in 0..<p {
      var pivot = col
      for r in (col + 1)..<p where abs(a[r * p + col]) > abs(a[pivot * p + col]) { pivot = r }
      if pivot != col {
        for j in 0..<p { a.swapAt(col * p + j, pivot * p + j) }
        b.swapAt(col, pivot)
      }
      let d = a[col * p + col]
      guard abs(d) > 1e-12 else { continue }
      for r in (col + 1)..<p {
        let f = a[r * p + col] / d
        for j in col..<p { a[r * p + j] -= f * a[col * p + j] }
        b[r] -= f * b[col]
      }
    }
    var w = [Double](repeating: 0, count: p)
    for i in stride(from: p - 1, through: 0, by: -1) {
      var s = b[i]
      for j in (i + 1)..<p { s -= a[i * p + j] * w[j] }
      let d = a[i * p + i]
      w[i] = abs(d) > 1e-12 ? s / d : 0
    }
    return w
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    var value = weights[0]
    var fallback = false
    for (m, member) in members.enumerated() {
      let p = member.estimate(userIndex: userIndex, itemIndex: itemIndex)
      fallback = fallback || p.isFallback
      let clipped = min(max(p.value, ratingScale.lowerBound), ratingScale.upperBound)
      value += weights[m + 1] * Double(clipped)
    }
    return RatingPrediction(value: Float(value), isFallback: fallback)
  }

  // MARK: - Codable: members are stored as (kind, JSON) and rebuilt through the catalogue.

  enum CodingKeys: String, CodingKey { case configuration, index, weights, members }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    weights = try container.decode([Double].self, forKey: .weights)
    members = try EnsembleMembers.decode(container.decode([EnsembleMembers.Stored].self, forKey: .members)).map { member in
      guard let model = member as? any RatingPredictor else {
        throw DecodingError.dataCorrupted(
          .init(codingPath: decoder.codingPath, debugDescription: "\(type(of: member).kind) is not a rating model"))
      }
      return model
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(index, forKey: .index)
    try container.encode(weights, forKey: .weights)
    try container.encode(EnsembleMembers.encode(members), forKey: .members)
  }

  init(configuration: Configuration, index: TrainingIndex, members: [any RatingPredictor], weights: [Double]) {
    self.configuration = configuration
    self.index = index
    self.members = members
    self.weights = weights
  }
}

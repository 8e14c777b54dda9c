public import AffinityLinalg

/// What every trained model keeps of its training data: ids, who saw what, the rating scale.
///
/// Models store one of these and forward ``Recommender/users``, ``Recommender/items`` and
/// ``Recommender/seen`` to it.
public struct TrainingIndex: Sendable, Codable, Equatable {
  public let users: IDVocabulary<UserID>
  public let items: IDVocabulary<ItemID>
  /// User × item, the training interactions (values are the ratings).
  public let seen: SparseRowMatrix
  /// The lowest and highest training value.
  public let ratingScale: ClosedRange<Float>
  /// The mean training value, μ.
  public let globalMean: Float

  public init(_ data: InteractionData) {
    users = data.users
    items = data.items
    seen = data.byUser
    ratingScale = data.valueRange
    globalMean = data.globalMean
  }

  /// The training interactions followed by `interactions`, for a model's incremental update:
  /// existing users and items keep their index and new ones are added at the end.
  public func appending(_ interactions: [Interaction]) throws(FitError) -> InteractionData {
    var builder = InteractionData.Builder(source: "updated training data", users: users, items: items)
    for u in 0..<seen.rowCount {
      for p in seen.range(ofRow: u) {
        builder.append(user: users[u], item: items[Int(seen.columns[p])], value: seen.values[p], timestamp: 0)
      }
    }
    for interaction in interactions {
      do { try builder.append(interaction) } catch { throw .invalidData(error) }
    }
    do { return try builder.build() } catch { throw .invalidData(error) }
  }
}

/// User and item biases `b_u`, `b_i` around the global mean μ: `r̂_ui = μ + b_u + b_i`.
///
/// Fitted by alternating least squares (Koren 2010, eq. 3, with Surprise's defaults
/// `reg_i = 10`, `reg_u = 15`, 10 epochs) or by stochastic gradient descent (`reg = 0.02`,
/// `lr = 0.005`, 20 epochs). Shared by BaselineOnly, KNNBaseline and the Pearson-baseline
/// similarity.
///
/// Koren. "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering." TKDD 2010.
public struct BaselineEstimates: Sendable, Codable, Equatable {
  public enum Method: String, Sendable, Codable, Hashable, CaseIterable {
    case als
    case sgd
  }

  /// How the biases are fitted; the defaults are Surprise's.
  public struct Settings: Sendable, Codable, Hashable {
    public var method: Method = .als
    public var epochs: Int = 10
    /// ALS: λ₂ for items; SGD: unused.
    public var itemRegularization: Float = 10
    /// ALS: λ₃ for users; SGD: unused.
    public var userRegularization: Float = 15
    /// SGD only.
    public var learningRate: Float = 0.005
    /// SGD only.
    public var regularization: Float = 0.02

    public init(
      method: Method = .als, epochs: Int? = nil, itemRegularization: Float = 10,
      userRegularization: Float = 15, learningRate: Float = 0.005, regularization: Float = 0.02
    ) {
      self.method = method
      self.epochs = epochs ?? (method == .als ? 10 : 20)
      self.itemRegularization = itemRegularization
      self.userRegularization = userRegularization
      self.learningRate = learningRate
      self.regularization = regularization
    }

    /// Checks each field for `model`.
    public func validate(model: String) throws(ConfigurationError) {
      let check = ConfigurationCheck(model)
      try check.positive("baselineEpochs", epochs)
      try check.nonNegative("itemRegularization", itemRegularization)
      try check.nonNegative("userRegularization", userRegularization)
      try check.positive("baselineLearningRate", learningRate)
      try check.nonNegative("baselineRegularization", regularization)
    }
  }

  public let globalMean: Float
  public let userBiases: [Float]
  public let itemBiases: [Float]

  /// Fits the biases on `data`.
  public init(_ data: InteractionData, settings: Settings) {
    let mu = data.globalMean
    var bu = [Float](repeating: 0, count: data.users.count)
    var bi = [Float](repeating: 0, count: data.items.count)
    switch settings.method {
    case .als:
      for _ in 0..<settings.epochs {
        for i in 0..<data.items.count {
          var deviation: Float = 0
          let range = data.byItem.range(ofRow: i)
          for p in range {
            deviation += data.byItem.values[p] - mu - bu[Int(data.byItem.columns[p])]
          }
          bi[i] = deviation / (settings.itemRegularization + Float(range.count))
        }
        for u in 0..<data.users.count {
          var deviation: Float = 0
          let range = data.byUser.range(ofRow: u)
          for p in range {
            deviation += data.byUser.values[p] - mu - bi[Int(data.byUser.columns[p])]
          }
          bu[u] = deviation / (settings.userRegularization + Float(range.count))
        }
      }
    case .sgd:
      let lr = settings.learningRate
      let reg = settings.regularization
      for _ in 0..<settings.epochs {
        for u in 0..<data.users.count {
          for p in data.byUser.range(ofRow: u) {
            let i = Int(data.byUser.columns[p])
            let error = data.byUser.values[p] - (mu + bu[u] + bi[i])
            bu[u] += lr * (error - reg * bu[u])
            bi[i] += lr * (error - reg * bi[i])
          }
        }
      }
    }
    globalMean = mu
    userBiases = bu
    itemBiases = bi
  }

  /// `μ + b_u + b_i`, leaving out the bias of an unknown side.
  @inlinable
  public func estimate(userIndex: Int?, itemIndex: Int?) -> Float {
    var value = globalMean
    if let u = userIndex { value += userBiases[u] }
    if let i = itemIndex { value += itemBiases[i] }
    return value
  }

  /// True when every bias is finite.
  public var isFinite: Bool {
    userBiases.allSatisfy(\.isFinite) && itemBiases.allSatisfy(\.isFinite)
  }
}

public import AffinityCore
public import AffinityFactorization
import AffinityLinalg

/// The environment of DRR: a user's reward for an item is their rating, observed or predicted.
///
/// `reward(u, i) = (r − m) / h`, where `r` is `u`'s training rating of `i` when there is one (the
/// mean, if rated twice) and otherwise the rating model's prediction clipped to the scale
/// `[lo, hi]`, `m = (lo + hi) / 2` and `h = (hi − lo) / 2`; on a 1–5 scale that is `(r − 3) / 2`,
/// in `[−1, 1]`. An episode starts from a user's latest N positive training items (rating ≥ the
/// threshold) as the state; each step shows a slate, pays each item's reward, and appends the
/// items with a positive reward to the state, dropping the oldest. An item can be shown once per
/// episode. Users with fewer than N positives cannot start an episode (``skippedUserCount``).
///
/// The rating model is PMF (`BiasedMatrixFactorization` with `usesBiases = false`) or biased SVD,
/// fitted on the same training data; its factors are exposed flat, row-major, so an agent can use
/// the item factors as fixed item embeddings.
///
/// The simulator is a value: copy it to run episodes side by side. Everything is deterministic.
///
/// - Complexity: building is O(n log n); `reward` is O(log d_u + k); a step is O(slate · (log d_u + k)).
///
/// Liu et al. "Deep Reinforcement Learning based Recommendation with Explicit User-Item
/// Interactions Modeling." arXiv:1810.12027, 2018.
public struct RatingRewardSimulator: Sendable {
  public struct Configuration: Codable, Hashable, Sendable {
    /// N, the number of items in a state.
    public var historyLength: Int
    /// A rating at least this is a positive item.
    public var positiveThreshold: Float
    /// The rating scale predictions are clipped to, and whose midpoint gives reward 0.
    public var ratingScale: ClosedRange<Float>
    /// Steps after which ``Step/isDone`` turns true (the caller may stop earlier or go on).
    public var episodeLength: Int

    public init(
      historyLength: Int = 5, positiveThreshold: Float = 4, ratingScale: ClosedRange<Float> = 1...5,
      episodeLength: Int = 10
    ) {
      self.historyLength = historyLength
      self.positiveThreshold = positiveThreshold
      self.ratingScale = ratingScale
      self.episodeLength = episodeLength
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("RatingRewardSimulator")
      try check.positive("historyLength", historyLength)
      try check.positive("episodeLength", episodeLength)
      if !positiveThreshold.isFinite {
        throw ConfigurationError(
          model: "RatingRewardSimulator", parameter: "positiveThreshold", value: positiveThreshold,
          requirement: "a finite number")
      }
      if !(ratingScale.lowerBound.isFinite && ratingScale.upperBound.isFinite
        && ratingScale.lowerBound < ratingScale.upperBound)
      {
        throw ConfigurationError(
          model: "RatingRewardSimulator", parameter: "ratingScale", value: "\(ratingScale)",
          requirement: "a finite range with lower bound < upper bound")
      }
    }
  }

  /// What one step returns: a reward per shown item and the next state.
  public struct Step: Sendable, Equatable {
    /// The reward of each shown item, in slate order.
    public var rewards: [Float]
    /// The state after the step: the latest N items, oldest first.
    public var history: [Int]
    /// True once the episode has run ``Configuration/episodeLength`` steps or shown every item.
    public var isDone: Bool
  }

  /// One running episode.
  public struct Episode: Sendable, Equatable {
    public let user: Int
    /// The state: the latest N items, oldest first.
    public internal(set) var history: [Int]
    /// Items shown so far, in order.
    public internal(set) var recommended: [Int]
    /// `recommendedMask[i]` is true once item `i` was shown.
    public internal(set) var recommendedMask: [Bool]
    public internal(set) var stepCount: Int
    public internal(set) var totalReward: Float
  }

  public let configuration: Configuration
  public let users: IDVocabulary<UserID>
  public let items: IDVocabulary<ItemID>
  /// k, the width of one embedding row.
  public let embeddingSize: Int
  /// q_i of the rating model, `itemCount × embeddingSize`, row-major.
  public let itemEmbeddings: [Float]
  /// p_u of the rating model, `userCount × embeddingSize`, row-major.
  public let userEmbeddings: [Float]
  /// b_i of the rating model, or nil for PMF (no biases).
  public let itemBiases: [Float]?
  /// Each user's positive training items in time order.
  public let positives: PositiveHistories
  /// Users with at least N positives, the ones an episode can start from, ascending.
  public let eligibleUsers: [Int]
  /// The current episode, nil before the first ``reset(user:)``.
  public private(set) var episode: Episode?

  let model: BiasedMatrixFactorization
  /// Each user's rated items sorted ascending, with the mean rating, CSR.
  let ratedStarts: [Int]
  let ratedItems: [Int32]
  let ratedValues: [Float]

  public var userCount: Int { users.count }
  public var itemCount: Int { items.count }
  /// Users with fewer than N positives, who cannot start an episode.
  public var skippedUserCount: Int { userCount - eligibleUsers.count }

  /// A simulator on `training` with `model` fitted on it (PMF or biased SVD).
  public init(
    training: InteractionData, model: BiasedMatrixFactorization, configuration: Configuration = .init()
  ) throws(SimulatorError) {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    guard model.users == training.users else {
      throw .modelMismatch(what: "users", model: model.users.count, training: training.users.count)
    }
    guard model.items == training.items else {
      throw .modelMismatch(what: "items", model: model.items.count, training: training.items.count)
    }
    self.configuration = configuration
    self.model = model
    users = training.users
    items = training.items
    let k = model.configuration.embeddingSize
    embeddingSize = k
    itemEmbeddings = Self.unpadded(model.itemFactors, columns: k)
    userEmbeddings = Self.unpadded(model.userFactors, columns: k)
    itemBiases = model.configuration.usesBiases ? model.itemBiases : nil
    let positives = PositiveHistories(training, threshold: configuration.positiveThreshold)
    self.positives = positives
    eligibleUsers = (0..<training.users.count).filter { positives.count(of: $0) >= configuration.historyLength }

    var starts = [0]
    var rated: [Int32] = []
    var values: [Float] = []
    for u in 0..<training.users.count {
      var sums: [Int32: (sum: Float, count: Float)] = [:]
      for p in training.byUser.range(ofRow: u) {
        sums[training.byUser.columns[p], default: (0, 0)].sum += training.byUser.values[p]
        sums[training.byUser.columns[p], default: (0, 0)].count += 1
      }
      for (item, entry) in sums.sorted(by: { $0.key < $1.key }) {
        rated.append(item)
        values.append(entry.sum / entry.count)
      }
      starts.append(rated.count)
    }
    ratedStarts = starts
    ratedItems = rated
    ratedValues = values
  }

  /// A simulator whose rating model is `model` (PMF).
  public init(
    training: InteractionData, model: ProbabilisticMatrixFactorization, configuration: Configuration = .init()
  ) throws(SimulatorError) {
    try self.init(training: training, model: model.model, configuration: configuration)
  }

  /// Fits PMF (or, with `usesBiases`, biased SVD) on `training` and builds the simulator on it.
  public static func fit(
    training: InteractionData,
    modelConfiguration: BiasedMatrixFactorization.Configuration = ProbabilisticMatrixFactorization.defaultConfiguration,
    configuration: Configuration = .init(), options: FitOptions = FitOptions()
  ) throws(SimulatorError) -> RatingRewardSimulator {
    let model: BiasedMatrixFactorization
    do {
      model = try BiasedMatrixFactorization.fit(training, configuration: modelConfiguration, options: options)
    } catch {
      throw .ratingModel(error)
    }
    return try RatingRewardSimulator(training: training, model: model, configuration: configuration)
  }

  /// Item embeddings with the item bias as one more column, `itemCount × (embeddingSize + 1)`,
  /// or nil when the rating model has no biases.
  public var itemEmbeddingsWithBias: [Float]? {
    guard let itemBiases else { return nil }
    var rows: [Float] = []
    rows.reserveCapacity(itemCount * (embeddingSize + 1))
    for i in 0..<itemCount {
      rows += itemEmbeddings[(i * embeddingSize)..<((i + 1) * embeddingSize)]
      rows.append(itemBiases[i])
    }
    return rows
  }

  /// `user`'s training rating of `item`, or nil when they did not rate it.
  /// The items `user` rated in training, ascending.
  public func ratedItems(of user: Int) -> [Int] {
    guard user >= 0, user + 1 < ratedStarts.count else { return [] }
    return ratedItems[ratedStarts[user]..<ratedStarts[user + 1]].map(Int.init)
  }

  public func observedRating(user: Int, item: Int) -> Float? {
    var low = ratedStarts[user]
    var high = ratedStarts[user + 1]
    let target = Int32(item)
    while low < high {
      let mid = (low + high) / 2
      if ratedItems[mid] < target { low = mid + 1 } else { high = mid }
    }
    return low < ratedStarts[user + 1] && ratedItems[low] == target ? ratedValues[low] : nil
  }

  /// The rating behind a reward: observed if known, else predicted and clipped to the scale.
  public func rating(user: Int, item: Int) throws(SimulatorError) -> Float {
    try checkUser(user)
    try checkItem(item)
    return uncheckedRating(user: user, item: item)
  }

  /// `(r − m) / h`, in `[−1, 1]`.
  public func reward(user: Int, item: Int) throws(SimulatorError) -> Float {
    rewardOf(try rating(user: user, item: item))
  }

  /// Every item's reward for `user`, in item order.
  public func rewards(user: Int) throws(SimulatorError) -> [Float] {
    try checkUser(user)
    return (0..<itemCount).map { rewardOf(uncheckedRating(user: user, item: $0)) }
  }

  /// Starts an episode for `user` and returns its state: their latest N positive training items.
  public mutating func reset(user: Int) throws(SimulatorError) -> [Int] {
    try checkUser(user)
    let n = configuration.historyLength
    guard positives.count(of: user) >= n else {
      throw .tooFewPositives(user: users[user], positives: positives.count(of: user), needed: n)
    }
    let history = positives.latest(n, of: user)
    episode = Episode(
      user: user, history: history, recommended: [],
      recommendedMask: [Bool](repeating: false, count: itemCount), stepCount: 0, totalReward: 0)
    return history
  }

  /// Shows `items` to the episode's user: pays each item's reward and moves the state on.
  ///
  /// Throws, changing nothing, when an item does not exist or was already shown in the episode.
  public mutating func step(items slate: [Int]) throws(SimulatorError) -> Step {
    guard var current = episode else { throw .noEpisode }
    guard !slate.isEmpty else { throw .emptySlate }
    var shown = Set<Int>()
    for item in slate {
      try checkItem(item)
      guard !current.recommendedMask[item], shown.insert(item).inserted else {
        throw .repeatedItem(item: items[item])
      }
    }
    var rewards: [Float] = []
    rewards.reserveCapacity(slate.count)
    for item in slate {
      let reward = rewardOf(uncheckedRating(user: current.user, item: item))
      rewards.append(reward)
      current.recommendedMask[item] = true
      current.recommended.append(item)
      current.totalReward += reward
      if reward > 0 { current.history.append(item) }
    }
    current.history = Array(current.history.suffix(configuration.historyLength))
    current.stepCount += 1
    episode = current
    let isDone = current.stepCount >= configuration.episodeLength || current.recommended.count >= itemCount
    return Step(rewards: rewards, history: current.history, isDone: isDone)
  }

  func uncheckedRating(user: Int, item: Int) -> Float {
    if let observed = observedRating(user: user, item: item) { return observed }
    let scale = configuration.ratingScale
    let predicted = model.estimate(userIndex: user, itemIndex: item).value
    return min(max(predicted, scale.lowerBound), scale.upperBound)
  }

  func rewardOf(_ rating: Float) -> Float {
    let scale = configuration.ratingScale
    let middle = (scale.lowerBound + scale.upperBound) / 2
    let half = (scale.upperBound - scale.lowerBound) / 2
    return (rating - middle) / half
  }

  func checkUser(_ user: Int) throws(SimulatorError) {
    guard (0..<userCount).contains(user) else { throw .unknownUser(index: user, userCount: userCount) }
  }

  func checkItem(_ item: Int) throws(SimulatorError) {
    guard (0..<itemCount).contains(item) else { throw .unknownItem(index: item, itemCount: itemCount) }
  }

  /// The first `columns` values of each row of `matrix`, without the stride's padding.
  static func unpadded(_ matrix: DenseMatrix, columns: Int) -> [Float] {
    var flat: [Float] = []
    flat.reserveCapacity(matrix.rows * columns)
    for r in 0..<matrix.rows {
      flat += matrix.storage[(r * matrix.stride)..<(r * matrix.stride + columns)]
    }
    return flat
  }
}

public import AffinityLinalg

/// The hyperparameters of one model: plain data with a default for every field.
public protocol ModelConfiguration: Codable, Hashable, Sendable {
  /// Checks every field and names the first one out of range.
  func validate() throws(ConfigurationError)
}

/// How far training has come, reported after each epoch.
public struct FitProgress: Sendable {
  public var model: String
  public var step: Int
  public var totalSteps: Int
  public var loss: Double?
  public init(model: String, step: Int, totalSteps: Int, loss: Double? = nil) {
    self.model = model
    self.step = step
    self.totalSteps = totalSteps
    self.loss = loss
  }
}

/// Settings that change how training runs, not what it learns.
public struct FitOptions: Sendable {
  /// Seed for every random draw in training; the same seed gives the same model.
  public var seed: UInt64
  /// Called after each epoch (or phase) of training.
  public var progress: (@Sendable (FitProgress) -> Void)?
  /// 1 runs training on the calling thread only; nil uses every core. Results are the same
  /// bytes either way.
  public var threadCount: Int?

  public init(
    seed: UInt64 = 42, threadCount: Int? = nil, progress: (@Sendable (FitProgress) -> Void)? = nil
  ) {
    self.seed = seed
    self.threadCount = threadCount
    self.progress = progress
  }

  /// Whether parallel loops may use more than one thread.
  public var isParallel: Bool { threadCount.map { $0 > 1 } ?? true }

  /// Reports one step of `total` for `model`.
  public func report(_ model: String, step: Int, of total: Int, loss: Double? = nil) {
    progress?(FitProgress(model: model, step: step, totalSteps: total, loss: loss))
  }
}

/// What to recommend: for whom, how many, and what to leave out.
public struct RecommendationQuery: Sendable, Equatable {
  /// The user, if known to the model.
  public var user: UserID?
  /// Items the user has interacted with; excluded when ``excludesHistory`` is true.
  public var history: [ItemID]
  /// How many items to return.
  public var count: Int
  /// Items never to return.
  public var excluding: Set<ItemID>
  /// When non-empty, only these items may be returned.
  public var allowing: Set<ItemID>
  /// Whether the user's training items and ``history`` are left out (the default).
  public var excludesHistory: Bool
  /// Encoded features of a user the model has no features for (`gender=F`, `age=25-34`), for
  /// the feature models to fold them in at request time; others ignore them.
  public var features: [String]

  public init(
    user: UserID? = nil, history: [ItemID] = [], count: Int = 10, excluding: Set<ItemID> = [],
    allowing: Set<ItemID> = [], excludesHistory: Bool = true, features: [String] = []
  ) {
    self.features = features
    self.user = user
    self.history = history
    self.count = count
    self.excluding = excluding
    self.allowing = allowing
    self.excludesHistory = excludesHistory
  }
}

/// One recommended item with its score.
public struct ScoredItem: Sendable, Equatable, Codable {
  public var item: ItemID
  public var score: Float
  public init(item: ItemID, score: Float) {
    self.item = item
    self.score = score
  }
}

/// A trained model that scores items for a query and returns the best ones.
///
/// A conforming type is immutable once `fit` returns it, so it is safe to share across threads.
public protocol Recommender: Sendable, Codable {
  associatedtype Configuration: ModelConfiguration

  /// A stable name for bundles, logs and the CLI, such as `"svd"`.
  static var kind: String { get }

  /// Trains a model on `data`.
  static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> Self

  var configuration: Configuration { get }
  /// The users seen in training.
  var users: IDVocabulary<UserID> { get }
  /// The items seen in training; ``scores(for:)`` is in this order.
  var items: IDVocabulary<ItemID> { get }
  /// Each training user's items (row = user index), for excluding what they have seen.
  var seen: SparseRowMatrix { get }

  /// Scores every training item for `query`, in ``items`` order; higher is better.
  func scores(for query: RecommendationQuery) throws(QueryError) -> [Float]

  /// The `query.count` best items.
  func recommend(_ query: RecommendationQuery) throws(QueryError) -> [ScoredItem]

  /// Top-`count` lists for many users at once, in `users` order.
  func recommend(users: [UserID], count: Int, excludesHistory: Bool) throws(QueryError) -> [[ScoredItem]]
}

extension Recommender {
  /// Ranks ``scores(for:)`` after removing excluded, disallowed and already-seen items.
  public func recommend(_ query: RecommendationQuery) throws(QueryError) -> [ScoredItem] {
    guard (1...10_000).contains(query.count) else { throw .invalidCount(query.count) }
    var scores = try scores(for: query)
    if query.excludesHistory {
      if let user = query.user, let u = users.index(of: user) {
        for p in seen.range(ofRow: u) { scores[Int(seen.columns[p])] = -.infinity }
      }
      for item in query.history {
        if let i = items.index(of: item) { scores[i] = -.infinity }
      }
    }
    for item in query.excluding {
      if let i = items.index(of: item) { scores[i] = -.infinity }
    }
    if !query.allowing.isEmpty {
      var allowed = [Float](repeating: -.infinity, count: scores.count)
      for item in query.allowing {
        if let i = items.index(of: item) { allowed[i] = scores[i] }
      }
      scores = allowed
    }
    return TopK.indices(of: scores, count: query.count)
      .map { ScoredItem(item: items[$0], score: scores[$0]) }
  }
}

/// A prediction of one rating, with whether the model had to fall back.
public struct RatingPrediction: Sendable, Equatable {
  /// The estimate, clipped to the training rating scale by ``RatingPredictor/predictedRating(user:item:)``.
  public var value: Float
  /// True when the model could not apply its formula at all and returned its fallback (often
  /// μ), exactly where Surprise reports `was_impossible`. Models whose formula degrades
  /// gracefully for an unknown side (BaselineOnly, SVD, KNNBaseline: `μ + b_i`) return false.
  public var isFallback: Bool

  public init(value: Float, isFallback: Bool = false) {
    self.value = value
    self.isFallback = isFallback
  }
}

/// A model that predicts explicit ratings on the training scale.
public protocol RatingPredictor: Recommender {
  /// The lowest and highest rating seen in training; predictions are clipped to it.
  var ratingScale: ClosedRange<Float> { get }
  /// The unclipped estimate for dense indices; `nil` marks a user or item not seen in training.
  func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction
}

extension RatingPredictor {
  /// The predicted rating of `item` by `user`, clipped to ``ratingScale``.
  public func predictedRating(user: UserID, item: ItemID) -> RatingPrediction {
    var prediction = estimate(userIndex: users.index(of: user), itemIndex: items.index(of: item))
    prediction.value = min(max(prediction.value, ratingScale.lowerBound), ratingScale.upperBound)
    return prediction
  }

  /// Predicted ratings of every item for a known user; unknown users get the fallback scores.
  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    let u = query.user.flatMap { users.index(of: $0) }
    return (0..<items.count).map { estimate(userIndex: u, itemIndex: $0).value }
  }
}

/// A model that can name the items most like a given one.
public protocol SimilarItemsProviding: Recommender {
  func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem]
}

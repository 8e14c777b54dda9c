import AffinityLinalg

/// Why an item was recommended: the parts of its score.
public struct Explanation: Sendable, Equatable, Codable {
  /// One contribution to a score: a history item, a neighbour or a feature.
  public struct Contribution: Sendable, Equatable, Codable {
    /// What contributed, such as an item id or a feature name.
    public var source: String
    public var weight: Float
    public init(source: String, weight: Float) {
      self.source = source
      self.weight = weight
    }
  }

  public var item: ItemID
  public var score: Float
  /// Largest absolute contributions first.
  public var contributions: [Contribution]

  public init(item: ItemID, score: Float, contributions: [Contribution]) {
    self.item = item
    self.score = score
    self.contributions = contributions
  }
}

/// A model that can say why it recommended an item.
public protocol Explainable: Recommender {
  /// The contributions to `item`'s score for `query`'s user (or history).
  func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation
}

/// A model that scores users it never saw from the items in ``RecommendationQuery/history``,
/// by solving for the user's representation at request time (implicit's `recalculate_user`).
///
/// Every ranking model in Affinity answers a query whose user is unknown (or nil) from its
/// history this way; this protocol lets callers ask for it even for a known user.
public protocol ColdStartCapable: Recommender {
  /// Scores every training item for a user known only by `history`.
  func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float]
}

/// A model that absorbs new interactions without a full refit.
public protocol IncrementallyTrainable: Recommender {
  /// A copy of this model updated with `interactions`: new users and items are added, and the
  /// users and items they touch are re-solved; everything else is kept.
  func updated(with interactions: [Interaction], options: FitOptions) throws(FitError) -> Self
}

extension Recommender {
  /// Top-`count` lists for many users at once, in `users` order; unknown users get the model's
  /// answer for an empty history. Runs on all cores; the result does not depend on their number.
  public func recommend(users: [UserID], count: Int, excludesHistory: Bool) throws(QueryError)
    -> [[ScoredItem]]
  {
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    let lists = Parallel.mapChunks(count: users.count, chunkCount: 64, minimumParallelCount: 64) {
      range, _ -> [[ScoredItem]] in
      range.map { k in
        (try? recommend(RecommendationQuery(user: users[k], count: count, excludesHistory: excludesHistory))) ?? []
      }
    }
    return lists.flatMap { $0 }
  }
}

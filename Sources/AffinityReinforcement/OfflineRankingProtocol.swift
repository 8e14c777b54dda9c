public import AffinityCore
import AffinityLinalg

/// What a scorer sees for one user: the user, a state built from training data only, and the
/// items to rank.
public struct RankingQuery: Sendable, Equatable {
  /// The user's index in the training data.
  public let user: Int
  /// The user's latest N positive *training* items, oldest first (fewer when they have fewer).
  public let history: [Int]
  /// The items to rank, in a seeded random order that carries no information. Indices below
  /// ``OfflineRankingProtocol/trainingItemCount`` are training items; the ones above are items
  /// seen only in the test set (a model has no parameters for them).
  public let candidates: [Int]

  public init(user: Int, history: [Int], candidates: [Int]) {
    self.user = user
    self.history = history
    self.candidates = candidates
  }
}

/// Scores each candidate of a query, in candidate order; higher ranks first.
public typealias RankingScorer = (RankingQuery) throws -> [Float]

/// The offline protocols of the DRR paper on a train/test split, with their baselines.
///
/// - ``Candidates/ratedTestItems`` (the paper's protocol): each user's candidates are exactly
///   the items they rated in the test set; a scorer re-ranks them, and `precision@k` is the share
///   of the top k with a test rating ≥ the threshold. A user counts at k when they have at least
///   k test ratings. Random ranking scores the share of positives among the candidates, about
///   0.58 on MovieLens-100k, so the protocol measures how well a model orders items the user is
///   known to have watched, not whether it finds them.
/// - ``Candidates/unratedItems`` (full catalogue): the candidates are every training item the
///   user did not rate in training; relevant items are the test items rated ≥ the threshold. A
///   user counts at k when they have a relevant test item and at least k candidates.
///
/// In both, the state given to the scorer comes from training positives only, candidates never
/// include an item the user rated in training, and candidate order is a seeded shuffle; ties in
/// score keep that order, so a constant scorer ranks at random.
///
/// - Complexity: building is O(n log n); evaluating is O(Σ_u c_u log c_u) plus the scorer.
///
/// Liu et al. "Deep Reinforcement Learning based Recommendation with Explicit User-Item
/// Interactions Modeling." arXiv:1810.12027, 2018 (§4.3, offline evaluation).
public struct OfflineRankingProtocol: Sendable {
  public enum Candidates: String, Codable, Hashable, Sendable, CaseIterable {
    /// Re-rank the items the user rated in the test set (DRR's offline protocol).
    case ratedTestItems = "rated-test-items"
    /// Rank every training item the user did not rate in training.
    case unratedItems = "unrated-items"
  }

  public struct Configuration: Codable, Hashable, Sendable {
    public var candidates: Candidates
    /// The k of each `precision@k`.
    public var cutoffs: [Int]
    /// A test rating at least this is relevant; a training rating at least this is a positive.
    public var relevanceThreshold: Float
    /// N, the number of training positives in a query's history.
    public var historyLength: Int
    /// Skip users with fewer than N training positives (an agent that needs a full state).
    public var requiresFullHistory: Bool
    /// Seed of the candidate order.
    public var seed: UInt64

    public init(
      candidates: Candidates = .ratedTestItems, cutoffs: [Int] = [5, 10], relevanceThreshold: Float = 4,
      historyLength: Int = 5, requiresFullHistory: Bool = false, seed: UInt64 = 42
    ) {
      self.candidates = candidates
      self.cutoffs = cutoffs
      self.relevanceThreshold = relevanceThreshold
      self.historyLength = historyLength
      self.requiresFullHistory = requiresFullHistory
      self.seed = seed
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("OfflineRankingProtocol")
      if cutoffs.isEmpty {
        throw ConfigurationError(
          model: "OfflineRankingProtocol", parameter: "cutoffs", value: "[]", requirement: "at least one k")
      }
      for k in cutoffs { try check.positive("cutoffs", k) }
      try check.nonNegative("historyLength", historyLength)
      if !relevanceThreshold.isFinite {
        throw ConfigurationError(
          model: "OfflineRankingProtocol", parameter: "relevanceThreshold", value: relevanceThreshold,
          requirement: "a finite number")
      }
    }
  }

  /// One evaluated user: the query and, per candidate, its test rating (nil when not rated in test).
  struct Case: Sendable {
    let query: RankingQuery
    let ratings: [Float?]
    let relevantCount: Int
  }

  public let configuration: Configuration
  /// The training users; query user indices are these.
  public let users: IDVocabulary<UserID>
  /// The training items followed by the items seen only in the test set.
  public let items: IDVocabulary<ItemID>
  public let trainingItemCount: Int
  /// Test users absent from training (no state; not evaluated).
  public let usersMissingFromTraining: Int
  /// Users with test data but fewer than N training positives: skipped when
  /// ``Configuration/requiresFullHistory``, otherwise evaluated with a shorter history.
  public let usersWithShortHistory: Int
  let cases: [Case]
  let itemSums: [Double]
  let itemCounts: [Int]
  let trainingMean: Float

  /// The protocol on `training` and `test`, one split of the same ratings.
  public init(training: InteractionData, test: InteractionData, configuration: Configuration = .init())
    throws(ConfigurationError)
  {
    try configuration.validate()
    self.configuration = configuration
    users = training.users
    trainingItemCount = training.items.count
    var items = training.items
    for id in test.items.ids { _ = items.insert(id) }
    self.items = items

    var sums = [Double](repeating: 0, count: training.items.count)
    var counts = [Int](repeating: 0, count: training.items.count)
    for k in 0..<training.count {
      sums[Int(training.itemIndices[k])] += Double(training.values[k])
      counts[Int(training.itemIndices[k])] += 1
    }
    itemSums = sums
    itemCounts = counts
    trainingMean = training.globalMean

    let histories = PositiveHistories(training, threshold: configuration.relevanceThreshold)
    // Test ratings by training user, keyed by protocol item index (the mean, if rated twice).
    var testRatings = [[Int: (sum: Float, count: Float)]](repeating: [:], count: training.users.count)
    var missing = Set<Int>()
    for k in 0..<test.count {
      let userID = test.users[Int(test.userIndices[k])]
      guard let u = training.users.index(of: userID) else {
        missing.insert(Int(test.userIndices[k]))
        continue
      }
      guard let i = items.index(of: test.items[Int(test.itemIndices[k])]) else { continue }
      testRatings[u][i, default: (0, 0)].sum += test.values[k]
      testRatings[u][i, default: (0, 0)].count += 1
    }
    usersMissingFromTraining = missing.count

    var cases: [Case] = []
    var short = 0
    for u in 0..<training.users.count where !testRatings[u].isEmpty {
      let ratedInTraining = Set(training.byUser.range(ofRow: u).map { Int(training.byUser.columns[$0]) })
      let tested = testRatings[u].filter { !ratedInTraining.contains($0.key) }
      if histories.count(of: u) < configuration.historyLength {
        short += 1
        if configuration.requiresFullHistory { continue }
      }
      var candidates: [Int]
      switch configuration.candidates {
      case .ratedTestItems: candidates = tested.keys.sorted()
      case .unratedItems: candidates = (0..<training.items.count).filter { !ratedInTraining.contains($0) }
      }
      var order = SeededGenerator(seed: configuration.seed, stream: UInt64(u))
      order.shuffle(&candidates)
      let ratings = candidates.map { i in tested[i].map { $0.sum / $0.count } }
      let relevant = ratings.filter { ($0 ?? -.infinity) >= configuration.relevanceThreshold }.count
      let query = RankingQuery(
        user: u, history: histories.latest(configuration.historyLength, of: u), candidates: candidates)
      cases.append(Case(query: query, ratings: ratings, relevantCount: relevant))
    }
    usersWithShortHistory = short
    self.cases = cases
  }

  /// Every query the protocol will ask, in user order.
  public var queries: [RankingQuery] { cases.map(\.query) }

  /// Whether a user counts at cutoff `k`.
  func isEligible(_ entry: Case, at k: Int) -> Bool {
    switch configuration.candidates {
    case .ratedTestItems: entry.query.candidates.count >= k
    case .unratedItems: entry.relevantCount > 0 && entry.query.candidates.count >= k
    }
  }

  /// Ranks each user's candidates by `scorer` and averages `precision@k` over eligible users.
  ///
  /// Rethrows the scorer's errors; throws ``RankingProtocolError`` when it returns the wrong
  /// number of scores or a NaN.
  public func evaluate(_ name: String, scorer: RankingScorer) throws -> RankingResult {
    var hits = [Double](repeating: 0, count: configuration.cutoffs.count)
    var counted = [Int](repeating: 0, count: configuration.cutoffs.count)
    for entry in cases {
      let scores = try scorer(entry.query)
      let user = users[entry.query.user]
      guard scores.count == entry.query.candidates.count else {
        throw RankingProtocolError.scoreCount(
          scorer: name, user: user, expected: entry.query.candidates.count, received: scores.count)
      }
      guard !scores.contains(where: \.isNaN) else { throw RankingProtocolError.nonFiniteScore(scorer: name, user: user) }
      let deepest = configuration.cutoffs.filter { isEligible(entry, at: $0) }.max() ?? 0
      guard deepest > 0 else { continue }
      let ranked = Self.top(deepest, of: scores)
      for (c, k) in configuration.cutoffs.enumerated() where isEligible(entry, at: k) {
        let relevant = ranked.prefix(k).filter { (entry.ratings[$0] ?? -.infinity) >= configuration.relevanceThreshold }
        hits[c] += Double(relevant.count) / Double(k)
        counted[c] += 1
      }
    }
    return RankingResult(name: name, cutoffs: configuration.cutoffs, precisionSums: hits, users: counted)
  }

  /// The exact expected `precision@k` of a uniformly random ranking: the mean share of relevant
  /// items among each eligible user's candidates.
  public func expectedRandom() -> RankingResult {
    var sums = [Double](repeating: 0, count: configuration.cutoffs.count)
    var counted = [Int](repeating: 0, count: configuration.cutoffs.count)
    for entry in cases {
      for (c, k) in configuration.cutoffs.enumerated() where isEligible(entry, at: k) {
        sums[c] += Double(entry.relevantCount) / Double(entry.query.candidates.count)
        counted[c] += 1
      }
    }
    return RankingResult(
      name: "random (expected)", cutoffs: configuration.cutoffs, precisionSums: sums, users: counted)
  }

  /// Positions of the `count` highest scores, best first; equal scores keep candidate order.
  static func top(_ count: Int, of scores: [Float]) -> [Int] {
    Array(scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }.prefix(count))
  }
}

/// Mean `precision@k` of one scorer under an ``OfflineRankingProtocol``.
public struct RankingResult: Sendable, Codable, Equatable {
  public struct Cutoff: Sendable, Codable, Equatable {
    public var k: Int
    /// Mean precision@k over the users that count at k (0 when none do).
    public var precision: Double
    /// How many users count at k.
    public var users: Int
  }

  public var name: String
  public var cutoffs: [Cutoff]

  init(name: String, cutoffs ks: [Int], precisionSums: [Double], users: [Int]) {
    self.name = name
    cutoffs = ks.indices.map { c in
      Cutoff(k: ks[c], precision: users[c] > 0 ? precisionSums[c] / Double(users[c]) : 0, users: users[c])
    }
  }

  /// Mean precision@k, or nil when `k` is not one of the cutoffs.
  public func precision(at k: Int) -> Double? { cutoffs.first { $0.k == k }?.precision }

  /// Users counted at `k`, or nil when `k` is not one of the cutoffs.
  public func users(at k: Int) -> Int? { cutoffs.first { $0.k == k }?.users }
}

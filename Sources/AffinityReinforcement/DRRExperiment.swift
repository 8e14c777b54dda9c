public import AffinityCore
public import AffinityFactorization
import AffinityBandits
import AffinityNeural
import Foundation

/// One seed of the DRR evaluation, all three protocols together: train PMF and the simulator on
/// the training split, train DRR against the simulator, then
/// 1. the paper's offline protocol (re-rank each test user's rated test items),
/// 2. full-catalogue ranking of every item the user did not rate in training,
/// 3. online simulation: mean reward of top-5 slates over episodes in the PMF simulator,
/// each beside the baselines on the same split.
public struct DRRExperiment: Sendable {
  public struct Configuration: Sendable, Codable, Hashable {
    public var drr: DRR.Configuration
    /// The rating model of the simulator (its factors are DRR's item embeddings).
    public var ratingModel: BiasedMatrixFactorization.Configuration
    /// Slate size and episodes per user of the online protocol.
    public var onlineSlate: Int
    public var onlineSteps: Int

    public init(
      drr: DRR.Configuration = DRR.Configuration(),
      ratingModel: BiasedMatrixFactorization.Configuration = DRRExperiment.defaultRatingModel,
      onlineSlate: Int = 5, onlineSteps: Int = 10
    ) {
      self.drr = drr
      self.ratingModel = ratingModel
      self.onlineSlate = onlineSlate
      self.onlineSteps = onlineSteps
    }
  }

  /// PMF (no biases) with 100 factors, DRR's embedding width, as in the DRR paper's simulator.
  /// Chosen on validation splits over biased SVD (100 factors, 60 epochs): DRR's precision@5
  /// rose on 5 of 5 seeds, by 0.009 on average (`docs/benchmarks/drr.md`).
  public static var defaultRatingModel: BiasedMatrixFactorization.Configuration {
    BiasedMatrixFactorization.Configuration(
      embeddingSize: 100, epochs: 100, learningRate: 0.007, regularization: 0.1, usesBiases: false)
  }

  public struct Result: Sendable, Codable {
    public var seed: UInt64
    /// Protocol 1, one row per scorer.
    public var reranking: [RankingResult]
    /// Protocol 2.
    public var catalogue: [RankingResult]
    /// Protocol 3: mean reward per shown item, per policy.
    public var online: [String: Double]
    public var learningCurve: [DRR.EpisodeLog]
    public var trainingSeconds: Double
    public var skippedUsers: Int
    /// Mean cosine between DRR's action and the user's rating-model vector (with the bias 1):
    /// near 1 means DRR ranks unrated items as the rating model does, near 0 that it learnt
    /// something else (or nothing).
    public var actionAlignment: Double
    /// Checkpoint selection (training data only): the greedy policy's simulator score before
    /// training and at the kept checkpoint, and that checkpoint's episode.
    public var selectionInitial: Double
    public var selectionBest: Double
    public var selectedEpisode: Int
  }

  /// The rating model and simulator of one training split.
  public static func simulator(
    training: InteractionData, configuration: Configuration, seed: UInt64
  ) throws -> (ratingModel: BiasedMatrixFactorization, simulator: RatingRewardSimulator) {
    let ratingModel = try BiasedMatrixFactorization.fit(
      training, configuration: configuration.ratingModel, options: FitOptions(seed: seed))
    let simulator = try RatingRewardSimulator(
      training: training, model: ratingModel,
      configuration: RatingRewardSimulator.Configuration(
        historyLength: configuration.drr.historyLength, episodeLength: configuration.drr.episodeLength))
    return (ratingModel, simulator)
  }

  /// Protocols 1 and 2 for a trained `drr` (without the baselines when `ratingModel` is nil).
  public static func rankings(
    drr: DRR, ratingModel: BiasedMatrixFactorization?, training: InteractionData, test: InteractionData, seed: UInt64
  ) throws -> (reranking: [RankingResult], catalogue: [RankingResult]) {
    func rank(_ candidates: OfflineRankingProtocol.Candidates) throws -> [RankingResult] {
      let evaluation = try OfflineRankingProtocol(
        training: training, test: test,
        configuration: OfflineRankingProtocol.Configuration(
          candidates: candidates, cutoffs: [5, 10], historyLength: drr.configuration.historyLength, seed: seed))
      // Protocol users and items are the training vocabularies, as in the simulator.
      let drrScorer: RankingScorer = { query in
        drr.scores(user: query.user, history: query.history, candidates: query.candidates)
      }
      var rows = [try evaluation.evaluate("drr (\(drr.configuration.stateModule.rawValue))", scorer: drrScorer)]
      guard let ratingModel else { return rows }
      rows += [
        try evaluation.evaluate("rating model", scorer: evaluation.ratingScorer(ratingModel)),
        try evaluation.evaluate("item mean", scorer: evaluation.itemMeanScorer()),
        try evaluation.evaluate("popularity", scorer: evaluation.popularityScorer()),
        evaluation.expectedRandom(),
        try evaluation.evaluate("oracle", scorer: evaluation.oracleScorer()),
      ]
      return rows
    }
    return (try rank(.ratedTestItems), try rank(.unratedItems))
  }

  /// Runs one seed; `progress` sees each training episode.
  public static func run(
    training: InteractionData, test: InteractionData, configuration: Configuration, seed: UInt64,
    progress: ((DRR.EpisodeLog) -> Void)? = nil
  ) throws -> (result: Result, model: DRR) {
    let (ratingModel, simulator) = try Self.simulator(training: training, configuration: configuration, seed: seed)
    let started = Date()
    let (drr, log) = try DRR.fit(
      simulator: simulator, configuration: configuration.drr, seed: seed, progress: progress)
    let seconds = Date().timeIntervalSince(started)

    let (reranking, catalogue) = try rankings(
      drr: drr, ratingModel: ratingModel, training: training, test: test, seed: seed)
    let online = try onlineRewards(drr: drr, simulator: simulator, configuration: configuration, seed: seed)
    var alignment = 0.0
    for user in simulator.eligibleUsers {
      let a = drr.action(user: user, history: simulator.positives.latest(configuration.drr.historyLength, of: user))
      let u = Array(drr.userEmbeddings.row(user))
      var dot: Float = 0, na: Float = 0, nu: Float = 0
      for c in a.indices {
        dot += a[c] * u[c]
        na += a[c] * a[c]
        nu += u[c] * u[c]
      }
      alignment += Double(dot / max((na * nu).squareRoot(), 1e-12))
    }
    alignment /= Double(max(simulator.eligibleUsers.count, 1))
    return (
      Result(
        seed: seed, reranking: reranking, catalogue: catalogue, online: online, learningCurve: log,
        trainingSeconds: seconds, skippedUsers: simulator.skippedUserCount, actionAlignment: alignment,
        selectionInitial: Double(drr.selection?.initial ?? 0), selectionBest: Double(drr.selection?.best ?? 0),
        selectedEpisode: drr.selection?.episode ?? configuration.drr.episodes),
      drr
    )
  }

  /// Protocol 3: for every eligible user, one episode of `onlineSteps` slates of `onlineSlate`
  /// items the user did not rate in training, in the simulator; the mean reward per shown item of DRR (acting on its evolving
  /// state), the rating model's own ranking (the simulator's ground truth for unrated items, so a
  /// ceiling more than a rival), popularity, random, two bandits over the items as arms that
  /// learn online across the users (UCB1 and ε-greedy, ε = 0.1), and a contextual one:
  /// ``InteractionLinUCB`` over the same rating-model embeddings DRR sees.
  static func onlineRewards(
    drr: DRR, simulator: RatingRewardSimulator, configuration: Configuration, seed: UInt64
  ) throws -> [String: Double] {
    let slate = configuration.onlineSlate
    let steps = configuration.onlineSteps
    var popularity = [Int](repeating: 0, count: simulator.itemCount)
    for user in 0..<simulator.userCount {
      for item in simulator.positives.items(of: user) { popularity[item] += 1 }
    }
    typealias Policy = (
      _ user: Int, _ history: [Int], _ items: ItemStatistics, _ generator: inout SeededGenerator
    ) throws -> [Float]
    /// What a policy that learns online does with each slate's rewards (nil: nothing).
    typealias Learner = (_ user: Int, _ items: [Int], _ rewards: [Float]) -> Void
    let linUCB = InteractionLinUCB(users: drr.userEmbeddings, items: drr.itemEmbeddings)
    let policies: [(String, Policy, Learner?)] = [
      ("drr", { user, history, _, _ in drr.scores(user: user, history: history, candidates: Array(0..<drr.itemCount)) }, nil),
      ("rating model", { user, _, _, _ in try simulator.rewards(user: user) }, nil),
      ("popularity", { _, _, _, _ in popularity.map(Float.init) }, nil),
      ("random", { _, _, _, g in (0..<simulator.itemCount).map { _ in Float(g.nextUniform()) } }, nil),
      // Bandits over the items as arms, learning online across the users.
      ("ucb1", { _, _, items, _ in
        // UCB1 on rewards in [−1, 1]: mean + 2·√(2 ln t / n); unpulled items first.
        (0..<simulator.itemCount).map { j in
          items.counts[j] == 0 ? Float.greatestFiniteMagnitude - Float(j)
            : Float(items.sums[j] / items.counts[j] + 2 * (2 * Foundation.log(max(items.pulls, 1)) / items.counts[j]).squareRoot())
        }
      }, nil),
      ("epsilon-greedy", { _, _, items, g in
        // ε = 0.1 per slot; otherwise the best mean reward so far (unpulled items count 0).
        (0..<simulator.itemCount).map { j in
          g.nextUniform() < 0.1 ? Float(g.nextUniform()) * 2
            : Float(items.counts[j] == 0 ? 0 : items.sums[j] / items.counts[j])
        }
      }, nil),
      ("linucb", { user, _, _, _ in linUCB.scores(user: user) }, linUCB.learn),
    ]
    var out: [String: Double] = [:]
    for (name, policy, learn) in policies {
      var env = simulator
      var generator = SeededGenerator(seed: seed, stream: 0x0911E)
      var total: Double = 0
      var shownCount = 0
      var items = ItemStatistics(count: simulator.itemCount)
      for user in simulator.eligibleUsers {
        var history = try env.reset(user: user)
        // New items only: what the user rated in training is not recommended again.
        var shown = Set(simulator.ratedItems(of: user)).union(history)
        for _ in 0..<steps {
          let scores = try policy(user, history, items, &generator)
          let picks = DRR.topItems(slate, of: scores, excluding: shown)
          guard !picks.isEmpty else { break }
          let step = try env.step(items: picks)
          total += Double(step.rewards.reduce(0, +))
          items.record(picks, step.rewards)
          learn?(user, picks, step.rewards)
          shownCount += picks.count
          shown.formUnion(picks)
          history = step.history
        }
      }
      out[name] = total / Double(max(shownCount, 1))
    }
    return out
  }

  /// Per item: reward sum and times shown, and the total shown (the bandits' evidence).
  struct ItemStatistics {
    var sums: [Double]
    var counts: [Double]
    var pulls = 0.0

    init(count: Int) {
      sums = [Double](repeating: 0, count: count)
      counts = sums
    }

    mutating func record(_ items: [Int], _ rewards: [Float]) {
      for (item, reward) in zip(items, rewards) {
        sums[item] += Double(reward)
        counts[item] += 1
        pulls += 1
      }
    }
  }
}

/// Protocol 3's contextual rival: LinUCB with one shared parameter vector over the context
/// `x_uj = u ⊙ e_j` (the rating model's user and item embeddings, the ones DRR sees), so
/// `θ = 1` would be the rating model's own ranking; it starts from `θ = 0` and learns online
/// across the users. Score `θᵀx + α √(xᵀA⁻¹x)` with `A = λI + Σ x xᵀ` kept by the bandits'
/// ``LinearArms`` (one arm; Sherman–Morrison per shown item, in double precision); the widths
/// of all items at once are one GEMM, `diag(E (D_u A⁻¹ D_u) Eᵀ)`. Mutable state behind a
/// reference, local to one evaluation.
final class InteractionLinUCB {
  let users: Matrix
  let items: Matrix
  let alpha: Float
  let regularization: Float
  private(set) var model: LinearArms

  init(users: Matrix, items: Matrix, alpha: Float = 0.5, regularization: Float = 1) {
    self.users = users
    self.items = items
    self.alpha = alpha
    self.regularization = regularization
    model = LinearArms(arms: 1, dimension: items.columns, regularization: Double(regularization))
  }

  /// θ = A⁻¹b.
  var theta: [Float] { model.thetas.map(Float.init) }

  func reset() {
    model = LinearArms(arms: 1, dimension: items.columns, regularization: Double(regularization))
  }

  func context(user: Int, item: Int) -> [Double] {
    let d = items.columns
    return (0..<d).map { Double(users.storage[user * d + $0] * items.storage[item * d + $0]) }
  }

  func scores(user: Int) -> [Float] {
    let d = items.columns
    let u = Array(users.row(user))
    let theta = self.theta
    // Mean: E (θ ⊙ u). Width²: e_jᵀ B e_j with B = D_u A⁻¹ D_u.
    let weighted = Matrix(rows: 1, columns: d, storage: (0..<d).map { theta[$0] * u[$0] })
    var means = Matrix(rows: 1, columns: items.rows)
    Gemm.multiplyTransposed(weighted, items, into: &means)
    var scaled = Matrix(rows: d, columns: d)
    for r in 0..<d { for c in 0..<d { scaled[r, c] = Float(model.inverses[r * d + c]) * u[r] * u[c] } }
    var projected = Matrix(rows: items.rows, columns: d)
    Gemm.multiply(items, scaled, into: &projected, transposeA: false, accumulate: false)
    return (0..<items.rows).map { j in
      var width: Float = 0
      for c in 0..<d { width += projected.storage[j * d + c] * items.storage[j * d + c] }
      return means.storage[j] + alpha * max(width, 0).squareRoot()
    }
  }

  func learn(user: Int, items picks: [Int], rewards: [Float]) {
    for (item, reward) in zip(picks, rewards) { model.add(0, context(user: user, item: item), reward: Double(reward)) }
  }
}

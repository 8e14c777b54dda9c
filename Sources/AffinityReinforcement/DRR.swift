public import AffinityCore
public import AffinityNeural
import AffinityLinalg
import Foundation

/// DRR (Liu et al. 2018): a DDPG actor-critic recommender. The state is built from the user and
/// their last N positive items by a state-representation module; the actor maps it to an action
/// vector `a`, and the recommended item is the unshown item with the largest `a · e_j` against
/// fixed item embeddings `e_j` (the rating model's factors); the critic learns `Q(s, a)`.
///
/// - DRR-ave: `s = [u, u ⊙ v, v]` with `v = Σ_l w_l e_l` a learned weighted average of the N items
///   (the pooling weights train with the actor's gradient).
/// - DRR-u: `s = [u ⊙ e_l for each l] ++ [e_a ⊙ e_b for a < b]`.
/// - DRR-p: `s = [e_l for each l] ++ [e_a ⊙ e_b for a < b]`.
///
/// Training runs episodes against a ``RatingRewardSimulator`` (one item per step), with Gaussian
/// action noise and ε-greedy item choice for exploration, prioritised replay, and one DDPG update
/// per step once the buffer holds a batch. Transitions keep the state as item ids, so a stored
/// state is rebuilt with the current pooling weights.
///
/// Liu, Tang, Chen, Zhao, Zhang, Xiao, Sun. "Deep Reinforcement Learning based Recommendation
/// with Explicit User-Item Interactions Modeling." arXiv:1810.12027, 2018.
public struct DRR: Sendable {
  public enum StateModule: String, Codable, Hashable, Sendable, CaseIterable {
    case average = "drr-ave"
    case user = "drr-u"
    case product = "drr-p"
  }

  public struct Configuration: Codable, Hashable, Sendable {
    public var stateModule: StateModule
    /// N, the items in a state.
    public var historyLength: Int
    public var hidden: [Int]
    public var actorLearningRate: Float
    public var criticLearningRate: Float
    public var tau: Float
    public var gamma: Float
    public var replayCapacity: Int
    public var batchSize: Int
    public var episodes: Int
    public var episodeLength: Int
    /// Standard deviation of the Gaussian noise added to the action, decayed linearly to
    /// `finalNoise` over training.
    public var explorationNoise: Float
    public var finalNoise: Float
    /// Probability of recommending a random unshown item instead (decayed linearly to 0).
    public var epsilon: Float
    /// Append the rating model's item bias to each item embedding (and a 1 to each user's).
    public var usesItemBias: Bool
    /// Layer norm in both networks.
    public var layerNorm: Bool
    /// Global gradient-norm clip of both networks.
    public var clipNorm: Float?
    public var prioritized: Bool
    /// Actions on the unit sphere (see ``DDPG/Configuration/normalizesActions``).
    public var normalizesActions: Bool
    /// What a transition stores as its action: the actor's (noisy) output, as in the paper, or
    /// the embedding of the item actually recommended (unit length when actions are normalised).
    /// The reward depends on the action only through the item, so `.item` gives the critic a
    /// smooth target: with rating-model embeddings the reward is nearly linear in them.
    public var replayAction: ReplayAction
    /// The critic also sees the action times the state's first block (DRR-ave: the user).
    public var criticInteractions: Bool
    /// Training episodes recommend only items the user did not rate in training (their reward is
    /// the rating model's prediction), as both offline protocols do; off, an episode may
    /// re-recommend rated items and earn their observed rating.
    public var excludesRatedItems: Bool
    /// Every this many episodes the greedy policy is scored in the simulator (mean reward of a
    /// top-5 slate of unrated items for a fixed sample of users: training data only), and the
    /// best-scoring agent is the one kept. DDPG's return often falls after an early peak; this
    /// keeps the peak. 0 keeps the last agent.
    public var selectionInterval: Int
    /// How many training users (a seeded sample) checkpoint selection scores.
    public var selectionUsers: Int
    /// TD3 (see ``DDPG``): twin critics, the policy delay and target-action noise.
    public var twinCritics: Bool
    public var policyDelay: Int
    public var targetNoise: Float
    public var targetNoiseClip: Float

    public enum ReplayAction: String, Codable, Hashable, Sendable, CaseIterable {
      case actor, item
    }

    /// The defaults of the project's reference run: history 5, embedding 100 (the rating
    /// model's), actor lr 0.0005, critic lr 0.001, τ 0.001, γ 0.9, replay 200,000, batch 64.
    public init(
      stateModule: StateModule = .average, historyLength: Int = 5, hidden: [Int] = [256, 256],
      actorLearningRate: Float = 0.0005, criticLearningRate: Float = 0.001, tau: Float = 0.001, gamma: Float = 0.9,
      replayCapacity: Int = 200_000, batchSize: Int = 64, episodes: Int = 3_000, episodeLength: Int = 10,
      explorationNoise: Float = 0.03, finalNoise: Float = 0.01, epsilon: Float = 0.1, usesItemBias: Bool = true,
      layerNorm: Bool = false, clipNorm: Float? = nil, prioritized: Bool = true, normalizesActions: Bool = true,
      replayAction: ReplayAction = .item, criticInteractions: Bool = true, excludesRatedItems: Bool = true,
      selectionInterval: Int = 50, selectionUsers: Int = 200, twinCritics: Bool = false, policyDelay: Int = 1, targetNoise: Float = 0,
      targetNoiseClip: Float = 0.05
    ) {
      self.selectionUsers = selectionUsers
      self.twinCritics = twinCritics
      self.policyDelay = policyDelay
      self.targetNoise = targetNoise
      self.targetNoiseClip = targetNoiseClip
      self.stateModule = stateModule
      self.historyLength = historyLength
      self.hidden = hidden
      self.actorLearningRate = actorLearningRate
      self.criticLearningRate = criticLearningRate
      self.tau = tau
      self.gamma = gamma
      self.replayCapacity = replayCapacity
      self.batchSize = batchSize
      self.episodes = episodes
      self.episodeLength = episodeLength
      self.explorationNoise = explorationNoise
      self.finalNoise = finalNoise
      self.epsilon = epsilon
      self.usesItemBias = usesItemBias
      self.layerNorm = layerNorm
      self.clipNorm = clipNorm
      self.prioritized = prioritized
      self.normalizesActions = normalizesActions
      self.replayAction = replayAction
      self.criticInteractions = criticInteractions
      self.excludesRatedItems = excludesRatedItems
      self.selectionInterval = selectionInterval
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("DRR")
      try check.positive("historyLength", historyLength)
      try check.positive("batchSize", batchSize)
      try check.positive("episodes", episodes)
      try check.positive("episodeLength", episodeLength)
      try check.nonNegative("explorationNoise", explorationNoise)
      try check.nonNegative("finalNoise", finalNoise)
      try check.nonNegative("selectionInterval", selectionInterval)
      try check.positive("selectionUsers", selectionUsers)
      if !(epsilon >= 0 && epsilon <= 1) {
        throw ConfigurationError(model: "DRR", parameter: "epsilon", value: epsilon, requirement: "in [0, 1]")
      }
      if replayCapacity < batchSize {
        throw ConfigurationError(
          model: "DRR", parameter: "replayCapacity", value: replayCapacity, requirement: "≥ batchSize (\(batchSize))")
      }
      try ddpg(stateWidth: 1, actionWidth: 1).validate()
    }

    /// TD3's settings on top of these: twin critics, actor every second update, target noise σ
    /// `noise` clipped to ±2.5σ (per coordinate of a unit action).
    public func td3(targetNoise noise: Float = 0.01) -> Configuration {
      var c = self
      c.twinCritics = true
      c.policyDelay = 2
      c.targetNoise = noise
      c.targetNoiseClip = 2.5 * noise
      return c
    }

    /// The agent's configuration for a state `stateWidth` wide and actions `actionWidth` wide.
    func ddpg(stateWidth: Int, actionWidth: Int) -> DDPG.Configuration {
      DDPG.Configuration(
        stateWidth: stateWidth, actionWidth: actionWidth, hidden: hidden, actorLearningRate: actorLearningRate,
        criticLearningRate: criticLearningRate, tau: tau, gamma: gamma, layerNorm: layerNorm, clipNorm: clipNorm,
        normalizesActions: normalizesActions, actionInteractions: criticInteractions, twinCritics: twinCritics,
        policyDelay: policyDelay, targetNoise: targetNoise, targetNoiseClip: targetNoiseClip)
    }
  }

  /// One training episode's outcome.
  public struct EpisodeLog: Sendable, Codable, Equatable {
    public var episode: Int
    public var user: Int
    /// Mean reward per step.
    public var meanReward: Float
    /// Mean critic loss of the updates in this episode (0 before updates start).
    public var criticLoss: Float
    public var meanQ: Float
    /// The greedy policy's score in the simulator when it was checked after this episode.
    public var selectionScore: Float?
  }

  public let configuration: Configuration
  /// `items × e`, row-major: the rating model's item factors (plus the bias column).
  public let itemEmbeddings: Matrix
  /// `users × e`: the rating model's user factors (plus a 1).
  public let userEmbeddings: Matrix
  public private(set) var agent: DDPG
  /// DRR-ave's pooling weights, one per history position (oldest first).
  public private(set) var poolingWeights: [Float]
  /// Checkpoint selection: the greedy policy's simulator score before training, the best score,
  /// and the episode after which the kept agent was taken (0: before training).
  public private(set) var selection: (initial: Float, best: Float, episode: Int)?

  public var embeddingWidth: Int { itemEmbeddings.columns }
  public var itemCount: Int { itemEmbeddings.rows }

  static func stateWidth(_ module: StateModule, n: Int, e: Int) -> Int {
    switch module {
    case .average: 3 * e
    case .user, .product: (n + n * (n - 1) / 2) * e
    }
  }

  /// An untrained agent over the simulator's embeddings.
  public init(_ configuration: Configuration, simulator: RatingRewardSimulator, seed: UInt64) throws {
    try configuration.validate()
    let k = simulator.embeddingSize
    let bias = configuration.usesItemBias ? simulator.itemBiases : nil
    let e = k + (bias == nil ? 0 : 1)
    var items = Matrix(rows: simulator.itemCount, columns: e)
    for i in 0..<simulator.itemCount {
      for c in 0..<k { items.storage[i * e + c] = simulator.itemEmbeddings[i * k + c] }
      if let bias { items.storage[i * e + k] = bias[i] }
    }
    var users = Matrix(rows: simulator.userCount, columns: e)
    for u in 0..<simulator.userCount {
      for c in 0..<k { users.storage[u * e + c] = simulator.userEmbeddings[u * k + c] }
      if bias != nil { users.storage[u * e + k] = 1 }
    }
    try self.init(configuration, itemEmbeddings: items, userEmbeddings: users, seed: seed)
  }

  public init(_ configuration: Configuration, itemEmbeddings: Matrix, userEmbeddings: Matrix, seed: UInt64) throws {
    try configuration.validate()
    guard itemEmbeddings.columns == userEmbeddings.columns, itemEmbeddings.rows > 0 else {
      throw NeuralError.shapeMismatch(
        expected: "item and user embeddings of one width",
        received: "items \(itemEmbeddings.rows)×\(itemEmbeddings.columns), users \(userEmbeddings.rows)×\(userEmbeddings.columns)")
    }
    self.configuration = configuration
    self.itemEmbeddings = itemEmbeddings
    self.userEmbeddings = userEmbeddings
    let n = configuration.historyLength
    let width = Self.stateWidth(configuration.stateModule, n: n, e: itemEmbeddings.columns)
    agent = try DDPG(configuration.ddpg(stateWidth: width, actionWidth: itemEmbeddings.columns), seed: seed)
    poolingWeights = [Float](repeating: 1 / Float(n), count: n)
  }

  /// Restores a trained agent.
  init(
    configuration: Configuration, itemEmbeddings: Matrix, userEmbeddings: Matrix, agent: DDPG, poolingWeights: [Float]
  ) {
    self.configuration = configuration
    self.itemEmbeddings = itemEmbeddings
    self.userEmbeddings = userEmbeddings
    self.agent = agent
    self.poolingWeights = poolingWeights
  }

  // MARK: State

  /// The N items of a state: `history`'s latest N, padded at the front by repeating its oldest
  /// item when shorter (−1, a zero vector, when empty).
  func window(_ history: some Collection<Int>) -> [Int] {
    let n = configuration.historyLength
    let latest = Array(history.suffix(n))
    guard let first = latest.first else { return [Int](repeating: -1, count: n) }
    return [Int](repeating: first, count: n - latest.count) + latest
  }

  /// Writes the state of `user` with window `items` into `out` (length ``stateWidth``).
  func writeState(user: Int, items: [Int], into out: UnsafeMutablePointer<Float>) {
    let e = embeddingWidth
    let n = items.count
    let validUser = user >= 0 && user < userEmbeddings.rows
    itemEmbeddings.storage.withUnsafeBufferPointer { ie in
      userEmbeddings.storage.withUnsafeBufferPointer { ue in
        func item(_ l: Int, _ c: Int) -> Float {
          let i = items[l]
          return i >= 0 && i < itemEmbeddings.rows ? ie[i * e + c] : 0
        }
        func userValue(_ c: Int) -> Float { validUser ? ue[user * e + c] : 0 }
        switch configuration.stateModule {
        case .average:
          for c in 0..<e {
            var v: Float = 0
            for l in 0..<n { v += poolingWeights[l] * item(l, c) }
            let u = userValue(c)
            out[c] = u
            out[e + c] = u * v
            out[2 * e + c] = v
          }
        case .user, .product:
          var offset = 0
          for l in 0..<n {
            for c in 0..<e { out[offset + c] = configuration.stateModule == .user ? userValue(c) * item(l, c) : item(l, c) }
            offset += e
          }
          for a in 0..<n {
            for b in (a + 1)..<max(n, a + 1) {
              for c in 0..<e { out[offset + c] = item(a, c) * item(b, c) }
              offset += e
            }
          }
        }
      }
    }
  }

  /// The state vectors of several (user, window) pairs, one row each.
  func states(_ pairs: [(user: Int, items: [Int])]) -> Matrix {
    var out = Matrix(rows: pairs.count, columns: agent.configuration.stateWidth)
    let width = out.columns
    out.storage.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      for (r, pair) in pairs.enumerated() { writeState(user: pair.user, items: pair.items, into: base + r * width) }
    }
    return out
  }

  /// The actor's action for `user` with positive history `history` (oldest first).
  public func action(user: Int, history: some Collection<Int>) -> [Float] {
    agent.act(states([(user, window(history))])).storage
  }

  /// `a · e_j` for each candidate (items outside the embedding table score −∞).
  public func scores(user: Int, history: some Collection<Int>, candidates: [Int]) -> [Float] {
    let a = action(user: user, history: history)
    let e = embeddingWidth
    return candidates.map { j in
      guard j >= 0, j < itemCount else { return -.infinity }
      var s: Float = 0
      for c in 0..<e { s += a[c] * itemEmbeddings.storage[j * e + c] }
      return s
    }
  }

  // MARK: Training

  /// Trains against `simulator`; `progress` sees each episode as it ends.
  public static func fit(
    simulator: RatingRewardSimulator, configuration: Configuration = Configuration(), seed: UInt64,
    progress: ((EpisodeLog) -> Void)? = nil
  ) throws -> (model: DRR, log: [EpisodeLog]) {
    var model = try DRR(configuration, simulator: simulator, seed: seed)
    let log = try model.train(simulator: simulator, seed: seed, progress: progress)
    return (model, log)
  }

  mutating func train(
    simulator initial: RatingRewardSimulator, seed: UInt64, progress: ((EpisodeLog) -> Void)?
  ) throws -> [EpisodeLog] {
    let c = configuration
    let n = c.historyLength
    let e = embeddingWidth
    guard !initial.eligibleUsers.isEmpty else {
      throw NeuralError.shapeMismatch(
        expected: "at least one user with \(n) positive training items", received: "none")
    }
    guard initial.itemCount == itemCount else {
      throw NeuralError.shapeMismatch(expected: "\(itemCount) items", received: "a simulator with \(initial.itemCount)")
    }
    var simulator = initial
    var generator = SeededGenerator(seed: seed, stream: 0xD44)
    // A stored state is (user, item₁ … item_N) as floats (exact below 2²⁴).
    var replay = try PrioritizedReplay(
      stateWidth: n + 1, actionWidth: e,
      configuration: PrioritizedReplay.Configuration(
        capacity: c.replayCapacity, alpha: c.prioritized ? 0.6 : 0, initialBeta: c.prioritized ? 0.4 : 1,
        betaAnnealingSteps: c.episodes * c.episodeLength),
      seed: seed &+ 17)
    var poolingOptimizer = try Optimizer(.adam, learningRate: c.actorLearningRate)
    var log: [EpisodeLog] = []
    let totalSteps = Float(c.episodes * c.episodeLength)
    var stepIndex = 0
    // Checkpoint selection on a fixed sample of users, scored in the simulator.
    var sampler = SeededGenerator(seed: seed, stream: 0x5E1)
    var sample = simulator.eligibleUsers
    sampler.shuffle(&sample)
    sample = Array(sample.prefix(c.selectionUsers))
    var best: (score: Float, agent: DDPG, pooling: [Float], episode: Int)?
    var initialScore: Float = 0
    if c.selectionInterval > 0 {
      initialScore = try greedyScore(users: sample, simulator: simulator)
      best = (initialScore, agent, poolingWeights, 0)
    }
    for episode in 0..<c.episodes {
      let user = simulator.eligibleUsers[generator.nextInt(below: simulator.eligibleUsers.count)]
      var history = try simulator.reset(user: user)
      var shown = Set(history)
      if c.excludesRatedItems { shown.formUnion(simulator.ratedItems(of: user)) }
      var rewardSum: Float = 0, lossSum: Float = 0, qSum: Float = 0
      var updates = 0
      for t in 0..<c.episodeLength {
        let progressShare = Float(stepIndex) / max(totalSteps, 1)
        let sigma = c.explorationNoise + (c.finalNoise - c.explorationNoise) * progressShare
        let epsilon = c.epsilon * (1 - progressShare)
        let items = window(history)
        var a = agent.act(states([(user, items)])).storage
        for i in a.indices { a[i] += sigma * Float(generator.nextGaussian()) }
        a = c.normalizesActions ? Self.unit(a) : a.map { min(1, max(-1, $0)) }
        // The recommended item: ε-greedy over the unshown items, else the best a · e_j.
        var choice = -1
        let explored = generator.nextUniform() < Double(epsilon)
        if explored {
          for _ in 0..<32 {
            let j = generator.nextInt(below: itemCount)
            if !shown.contains(j) {
              choice = j
              break
            }
          }
        }
        if choice < 0 { choice = bestItem(a, excluding: shown) }
        guard choice >= 0 else { break }
        // A random pick stores its item either way: the actor did not propose it.
        if c.replayAction == .item || explored { a = itemAction(choice) }
        shown.insert(choice)
        let step = try simulator.step(items: [choice])
        let reward = step.rewards.first ?? 0
        rewardSum += reward
        let done = step.isDone || t == c.episodeLength - 1
        try replay.append(
          state: [Float(user)] + items.map(Float.init), action: a, reward: reward,
          nextState: [Float(user)] + window(step.history).map(Float.init), isDone: done)
        history = step.history
        stepIndex += 1
        if replay.count >= c.batchSize {
          let batch = try replay.sample(batchSize: c.batchSize)
          let result = update(batch, poolingOptimizer: &poolingOptimizer)
          try replay.update(priorities: result.tdErrors, at: batch.indices)
          lossSum += result.criticLoss
          qSum += result.meanQ
          updates += 1
        }
        if done { break }
      }
      let entry = EpisodeLog(
        episode: episode, user: user, meanReward: rewardSum / Float(c.episodeLength),
        criticLoss: updates > 0 ? lossSum / Float(updates) : 0, meanQ: updates > 0 ? qSum / Float(updates) : 0)
      var logged = entry
      if c.selectionInterval > 0, (episode + 1) % c.selectionInterval == 0 || episode == c.episodes - 1 {
        let score = try greedyScore(users: sample, simulator: simulator)
        logged.selectionScore = score
        if score > best?.score ?? -.infinity { best = (score, agent, poolingWeights, episode + 1) }
      }
      log.append(logged)
      progress?(logged)
    }
    if let best {
      agent = best.agent
      poolingWeights = best.pooling
      selection = (initialScore, best.score, best.episode)
    }
    return log
  }

  /// The greedy policy's mean reward over `users`: a top-5 slate of items each user did not rate
  /// in training, from their latest positives; simulator rewards only (no test data).
  func greedyScore(users: [Int], simulator: RatingRewardSimulator) throws -> Float {
    guard !users.isEmpty else { return 0 }
    var total: Float = 0
    var count = 0
    for user in users {
      let history = simulator.positives.latest(configuration.historyLength, of: user)
      let excluded = Set(simulator.ratedItems(of: user)).union(history)
      let scores = self.scores(user: user, history: history, candidates: Array(0..<itemCount))
      for item in Self.topItems(5, of: scores, excluding: excluded) {
        total += try simulator.reward(user: user, item: item)
        count += 1
      }
    }
    return total / Float(max(count, 1))
  }

  /// Item `j`'s embedding as an action: as it is when actions are normalised (the reward is
  /// nearly linear in the raw embedding, and the critic's gradient direction is what the unit
  /// action follows), else scaled into the tanh box.
  func itemAction(_ j: Int) -> [Float] {
    let row = Array(itemEmbeddings.row(j))
    if configuration.normalizesActions { return row }
    let scale = max(row.map(abs).max() ?? 1, 1e-6)
    return row.map { $0 / scale }
  }

  static func unit(_ v: [Float]) -> [Float] {
    DDPG.normalized(Matrix(rows: 1, columns: v.count, storage: v)).actions.storage
  }

  /// The `count` best positions of `scores` outside `excluded`, best first, ties to the lower
  /// index (−∞ and NaN never chosen).
  static func topItems(_ count: Int, of scores: [Float], excluding excluded: Set<Int>) -> [Int] {
    var masked = scores
    for j in excluded where masked.indices.contains(j) { masked[j] = -.infinity }
    return TopK.indices(of: masked, count: count)
  }

  /// The unshown item with the largest `a · e_j` (−1 when every item was shown).
  func bestItem(_ a: [Float], excluding shown: Set<Int>) -> Int {
    bestItems(Matrix(rows: 1, columns: a.count, storage: a), excluding: shown)[0]
  }

  /// Per row of `actions`, the item with the largest `a · e_j` outside `shown` (−1 if none).
  func bestItems(_ actions: Matrix, excluding shown: Set<Int> = []) -> [Int] {
    var scores = Matrix(rows: actions.rows, columns: itemCount)
    Gemm.multiplyTransposed(actions, itemEmbeddings, into: &scores)
    return (0..<actions.rows).map { r in Self.topItems(1, of: Array(scores.row(r)), excluding: shown).first ?? -1 }
  }

  /// One DDPG update from a replay batch, and DRR-ave's pooling weights from the actor's
  /// gradient with respect to the state.
  mutating func update(_ batch: PrioritizedReplay.Batch, poolingOptimizer: inout Optimizer) -> DDPG.Step {
    let n = configuration.historyLength
    let rows = batch.indices.count
    func decode(_ flat: [Float]) -> [(user: Int, items: [Int])] {
      (0..<rows).map { r in
        let base = r * (n + 1)
        return (Int(flat[base]), (0..<n).map { Int(flat[base + 1 + $0]) })
      }
    }
    let current = decode(batch.states)
    let learnsPooling = configuration.stateModule == .average
    let nextStates = states(decode(batch.nextStates))
    // With item actions in replay, the bootstrap target also acts with a real item: the one the
    // target actor's action picks (the critic is never asked about actions between items).
    var nextActions: Matrix?
    if configuration.replayAction == .item {
      let picks = bestItems(agent.smoothedTargetAct(nextStates))
      nextActions = Matrix(stacking: picks.map { $0 >= 0 ? itemAction($0) : [Float](repeating: 0, count: embeddingWidth) })
    }
    let step = agent.update(
      DDPG.Batch(
        states: states(current), actions: Matrix(rows: rows, columns: embeddingWidth, storage: batch.actions),
        rewards: batch.rewards, nextStates: nextStates, done: batch.isDone,
        weights: batch.weights, nextActions: nextActions),
      stateGradient: learnsPooling)
    if learnsPooling, let dState = step.stateGradient {
      // s = [u, u ⊙ v, v], v = Σ_l w_l e_l ⇒ ∂L/∂w_l = Σ_rows (ds_v + u ⊙ ds_uv) · e_l.
      let e = embeddingWidth
      var gradient = [Float](repeating: 0, count: n)
      for (r, pair) in current.enumerated() {
        for c in 0..<e {
          let u = pair.user >= 0 && pair.user < userEmbeddings.rows ? userEmbeddings.storage[pair.user * e + c] : 0
          let dv = dState.storage[r * 3 * e + 2 * e + c] + u * dState.storage[r * 3 * e + e + c]
          for l in 0..<n where pair.items[l] >= 0 && pair.items[l] < itemCount {
            gradient[l] += dv * itemEmbeddings.storage[pair.items[l] * e + c]
          }
        }
      }
      var weights = [poolingWeights]
      poolingOptimizer.step(&weights, Gradients(tensors: [gradient]))
      poolingWeights = weights[0]
    }
    return step
  }
}

extension DRR.Configuration {
  /// Decodes a configuration, taking the default for any key an older bundle does not have.
  public init(from decoder: any Decoder) throws {
    let d = Self()
    let c = try decoder.container(keyedBy: CodingKeys.self)
    func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
      try c.decodeIfPresent(T.self, forKey: key) ?? fallback
    }
    self.init(
      stateModule: try value(.stateModule, d.stateModule), historyLength: try value(.historyLength, d.historyLength),
      hidden: try value(.hidden, d.hidden), actorLearningRate: try value(.actorLearningRate, d.actorLearningRate),
      criticLearningRate: try value(.criticLearningRate, d.criticLearningRate), tau: try value(.tau, d.tau),
      gamma: try value(.gamma, d.gamma), replayCapacity: try value(.replayCapacity, d.replayCapacity),
      batchSize: try value(.batchSize, d.batchSize), episodes: try value(.episodes, d.episodes),
      episodeLength: try value(.episodeLength, d.episodeLength),
      explorationNoise: try value(.explorationNoise, d.explorationNoise),
      finalNoise: try value(.finalNoise, d.finalNoise), epsilon: try value(.epsilon, d.epsilon),
      usesItemBias: try value(.usesItemBias, d.usesItemBias), layerNorm: try value(.layerNorm, d.layerNorm),
      clipNorm: try c.decodeIfPresent(Float.self, forKey: .clipNorm), prioritized: try value(.prioritized, d.prioritized),
      normalizesActions: try value(.normalizesActions, d.normalizesActions),
      replayAction: try value(.replayAction, d.replayAction),
      criticInteractions: try value(.criticInteractions, d.criticInteractions),
      excludesRatedItems: try value(.excludesRatedItems, d.excludesRatedItems),
      selectionInterval: try value(.selectionInterval, d.selectionInterval),
      selectionUsers: try value(.selectionUsers, d.selectionUsers),
      twinCritics: try value(.twinCritics, d.twinCritics), policyDelay: try value(.policyDelay, d.policyDelay),
      targetNoise: try value(.targetNoise, d.targetNoise), targetNoiseClip: try value(.targetNoiseClip, d.targetNoiseClip))
  }
}

// MARK: - Bundles

extension DRR {
  public static let bundleKind = "drr"

  /// The trained agent as a bundle: actor and critic, item and user embeddings, pooling weights,
  /// and the configuration.
  public func bundle() throws -> NeuralBundle {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let text = String(decoding: try encoder.encode(configuration), as: UTF8.self)
    return NeuralBundle(
      kind: Self.bundleKind, configuration: text, networks: ["actor": agent.actor, "critic": agent.critic],
      tensors: [
        "items": ([itemEmbeddings.rows, itemEmbeddings.columns], itemEmbeddings.storage),
        "users": ([userEmbeddings.rows, userEmbeddings.columns], userEmbeddings.storage),
        "pooling": ([poolingWeights.count], poolingWeights),
      ])
  }

  /// Reads an agent written by ``bundle()``; `file` names the source in errors.
  public init(bundle: NeuralBundle, file: String) throws {
    guard bundle.kind == Self.bundleKind else {
      throw BundleError.unknownKind(bundle.kind, known: [Self.bundleKind], file: file)
    }
    let configuration: Configuration
    do { configuration = try JSONDecoder().decode(Configuration.self, from: Data(bundle.configuration.utf8)) } catch {
      throw BundleError.corrupted(file: file, reason: "the DRR configuration does not decode: \(error)")
    }
    guard let actor = bundle.networks["actor"], let critic = bundle.networks["critic"],
      let items = bundle.tensors["items"], let users = bundle.tensors["users"], let pooling = bundle.tensors["pooling"],
      items.shape.count == 2, users.shape.count == 2, pooling.values.count == configuration.historyLength,
      items.values.count == items.shape[0] * items.shape[1], users.values.count == users.shape[0] * users.shape[1],
      items.shape[1] == users.shape[1], items.shape[0] > 0
    else {
      throw BundleError.corrupted(file: file, reason: "a DRR bundle needs actor, critic, items, users and pooling")
    }
    let itemMatrix = Matrix(rows: items.shape[0], columns: items.shape[1], storage: items.values)
    let userMatrix = Matrix(rows: users.shape[0], columns: users.shape[1], storage: users.values)
    let width = Self.stateWidth(configuration.stateModule, n: configuration.historyLength, e: itemMatrix.columns)
    let agent = try DDPG(
      configuration.ddpg(stateWidth: width, actionWidth: itemMatrix.columns), actor: actor, critic: critic, seed: 0)
    self.init(
      configuration: configuration, itemEmbeddings: itemMatrix, userEmbeddings: userMatrix, agent: agent,
      poolingWeights: pooling.values)
  }
}

public import AffinityBandits
public import AffinityCore
public import AffinityNeural

/// Deep Q-learning (Mnih et al. 2015) with a slate of K actions per step: a network `Q(s, ·)`
/// with one output per arm, a uniform replay buffer, a target network `Q'` and ε-greedy slates.
///
/// A step shows the top K arms by `Q(s, ·)`, each slot replaced with probability ε by a random
/// arm not already shown, and gets one reward per shown arm. Each shown arm `a` is regressed on
///
///     y_a = r_a + γ (1 − done) · Q'(s', a*),   a* = argmax_a' Q(s', a')   (double DQN)
///                                              a* = argmax_a' Q'(s', a')  (plain)
///
/// with the Huber loss (δ = 1) or the squared error; the other arms get no gradient. This treats
/// the slate's arms as K separate actions sharing the next state (SlateQ's decomposition without
/// its choice model), so Q ranks arms by immediate reward plus a future term they share.
/// ε falls linearly from ``Configuration/initialEpsilon`` to ``Configuration/finalEpsilon`` over
/// ``Configuration/epsilonDecaySteps`` steps; `Q'` copies `Q` every ``Configuration/targetPeriod``
/// updates (hard) or follows it by `τ` each update (soft).
///
/// - Complexity: per step one forward pass for the slate and, once the buffer holds a batch, one
///   update of `3 · batchSize` forward rows and `batchSize` backward rows.
///
/// Mnih et al. "Human-level control through deep reinforcement learning." Nature 2015;
/// van Hasselt, Guez, Silver. "Deep Reinforcement Learning with Double Q-learning." AAAI 2016;
/// Ie et al. "SlateQ." IJCAI 2019.
public struct SlateDQN: Sendable {
  public enum TargetUpdate: Codable, Hashable, Sendable {
    /// Copy every `period` updates.
    case hard(period: Int)
    /// Polyak averaging with rate τ each update.
    case soft(tau: Float)
  }

  public enum TDLoss: String, Codable, Hashable, Sendable, CaseIterable {
    case huber, squared
  }

  public struct Configuration: Codable, Hashable, Sendable {
    public var hidden: [Int]
    public var learningRate: Float
    public var gamma: Float
    public var batchSize: Int
    public var replayCapacity: Int
    public var targetUpdate: TargetUpdate
    public var doubleQ: Bool
    public var loss: TDLoss
    public var initialEpsilon: Float
    public var finalEpsilon: Float
    public var epsilonDecaySteps: Int
    /// One update every this many steps.
    public var updatePeriod: Int
    public var clipNorm: Float?
    /// `μ_c`, `μ_h` of the ``SlateUserHistory`` state (slate world only).
    public var clickMemory: Float
    public var showMemory: Float
    /// The click and show memories in the state (false: the context only).
    public var usesHistory: Bool

    public init(
      hidden: [Int] = [64], learningRate: Float = 0.001, gamma: Float = 0.5, batchSize: Int = 32,
      replayCapacity: Int = 20_000, targetUpdate: TargetUpdate = .soft(tau: 0.01), doubleQ: Bool = true,
      loss: TDLoss = .huber, initialEpsilon: Float = 0.3, finalEpsilon: Float = 0.02, epsilonDecaySteps: Int = 3_000,
      updatePeriod: Int = 1, clipNorm: Float? = 10, clickMemory: Float = 0.9, showMemory: Float = 0.5,
      usesHistory: Bool = true
    ) {
      self.hidden = hidden
      self.learningRate = learningRate
      self.gamma = gamma
      self.batchSize = batchSize
      self.replayCapacity = replayCapacity
      self.targetUpdate = targetUpdate
      self.doubleQ = doubleQ
      self.loss = loss
      self.initialEpsilon = initialEpsilon
      self.finalEpsilon = finalEpsilon
      self.epsilonDecaySteps = epsilonDecaySteps
      self.updatePeriod = updatePeriod
      self.clipNorm = clipNorm
      self.clickMemory = clickMemory
      self.showMemory = showMemory
      self.usesHistory = usesHistory
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("SlateDQN")
      for h in hidden { try check.positive("hidden", h) }
      try check.positive("learningRate", learningRate)
      try check.positive("batchSize", batchSize)
      try check.positive("epsilonDecaySteps", epsilonDecaySteps)
      try check.positive("updatePeriod", updatePeriod)
      if replayCapacity < batchSize {
        throw ConfigurationError(
          model: "SlateDQN", parameter: "replayCapacity", value: replayCapacity, requirement: "≥ batchSize (\(batchSize))")
      }
      if !(gamma >= 0 && gamma < 1) {
        throw ConfigurationError(model: "SlateDQN", parameter: "gamma", value: gamma, requirement: "in [0, 1)")
      }
      for (name, value) in [("initialEpsilon", initialEpsilon), ("finalEpsilon", finalEpsilon), ("clickMemory", clickMemory),
                            ("showMemory", showMemory)] where !(value >= 0 && value <= 1) {
        throw ConfigurationError(model: "SlateDQN", parameter: name, value: value, requirement: "in [0, 1]")
      }
      switch targetUpdate {
      case .hard(let period): try check.positive("targetUpdate.period", period)
      case .soft(let tau):
        if !(tau > 0 && tau <= 1) {
          throw ConfigurationError(model: "SlateDQN", parameter: "targetUpdate.tau", value: tau, requirement: "in (0, 1]")
        }
      }
      if let clipNorm { try check.positive("clipNorm", clipNorm) }
    }
  }

  public let configuration: Configuration
  public let stateWidth: Int
  public let actionCount: Int
  public private(set) var online: Network
  public private(set) var target: Network
  var optimizer: Optimizer
  var replay: SlateReplay
  var generator: SeededGenerator
  /// Steps seen (drives ε) and updates made.
  public private(set) var steps = 0
  public private(set) var updates = 0

  public init(_ configuration: Configuration, stateWidth: Int, actionCount: Int, seed: UInt64) throws {
    try configuration.validate()
    let check = ConfigurationCheck("SlateDQN")
    try check.positive("stateWidth", stateWidth)
    try check.positive("actionCount", actionCount)
    self.configuration = configuration
    self.stateWidth = stateWidth
    self.actionCount = actionCount
    online = try Network.perceptron(input: stateWidth, hidden: configuration.hidden, output: actionCount, seed: seed &+ 3)
    target = online
    optimizer = try Optimizer(.adam, learningRate: configuration.learningRate, clipNorm: configuration.clipNorm)
    replay = SlateReplay(capacity: configuration.replayCapacity, stateWidth: stateWidth)
    generator = SeededGenerator(seed: seed, stream: 0xD9A)
  }

  /// The current ε.
  public var epsilon: Float {
    let c = configuration
    let share = min(Float(steps) / Float(c.epsilonDecaySteps), 1)
    return c.initialEpsilon + (c.finalEpsilon - c.initialEpsilon) * share
  }

  /// `Q(s, ·)` for one state.
  public func values(_ state: [Float]) -> [Float] {
    online.forward(Matrix(rows: 1, columns: state.count, storage: state)).storage
  }

  /// An ε-greedy slate of `count` distinct arms for `state`.
  public func slate(_ state: [Float], count: Int, generator: inout SeededGenerator) -> [Int] {
    let k = min(count, actionCount)
    var slate = topIndices(values(state), count: k)
    let e = Double(epsilon)
    for p in 0..<slate.count where generator.nextUniform() < e {
      // A random arm not already in the slate (the slate is at most all arms, so one exists
      // whenever k < actionCount).
      guard k < actionCount else { break }
      var arm = generator.nextInt(below: actionCount)
      while slate.contains(arm) { arm = (arm + 1) % actionCount }
      slate[p] = arm
    }
    return slate
  }

  /// Stores one step and, every ``Configuration/updatePeriod`` steps once the buffer holds a
  /// batch, updates Q; returns the update's loss.
  @discardableResult
  public mutating func remember(
    state: [Float], actions: [Int], rewards: [Float], nextState: [Float], done: Bool
  ) -> Float? {
    replay.append(state: state, actions: actions, rewards: rewards, nextState: nextState, done: done)
    steps += 1
    guard replay.count >= configuration.batchSize, steps % configuration.updatePeriod == 0 else { return nil }
    return update()
  }

  /// One update on a uniform replay batch.
  mutating func update() -> Float {
    let c = configuration
    let batch = replay.sample(c.batchSize, generator: &generator)
    let n = batch.actions.count
    let nextStates = Matrix(rows: n, columns: stateWidth, storage: batch.nextStates)
    let nextTarget = target.forward(nextStates)
    let nextOnline = c.doubleQ ? online.forward(nextStates) : nextTarget
    let trace = online.forward(Matrix(rows: n, columns: stateWidth, storage: batch.states), generator: &generator)
    var gradient = Matrix(rows: n, columns: actionCount)
    let entries = Float(max(batch.actions.reduce(0) { $0 + $1.count }, 1))
    var total: Float = 0
    for r in 0..<n {
      var best = 0
      for a in 1..<actionCount where nextOnline[r, a] > nextOnline[r, best] { best = a }
      let future = batch.done[r] ? 0 : c.gamma * nextTarget[r, best]
      for (arm, reward) in zip(batch.actions[r], batch.rewards[r]) {
        let delta = trace.output[r, arm] - (reward + future)
        switch c.loss {
        case .squared:
          total += delta * delta
          gradient[r, arm] += 2 * delta / entries
        case .huber:
          total += abs(delta) <= 1 ? 0.5 * delta * delta : abs(delta) - 0.5
          gradient[r, arm] += max(-1, min(1, delta)) / entries
        }
      }
    }
    optimizer.step(&online, online.backward(gradient, trace: trace).gradients)
    updates += 1
    switch c.targetUpdate {
    case .hard(let period): if updates % period == 0 { target = online }
    case .soft(let tau): target.softUpdate(toward: online, tau: tau)
    }
    return total / entries
  }
}

/// A uniform ring buffer of slate transitions (state, shown arms, their rewards, next state).
struct SlateReplay: Sendable {
  let capacity: Int
  let stateWidth: Int
  var states: [Float] = []
  var nextStates: [Float] = []
  var actions: [[Int]] = []
  var rewards: [[Float]] = []
  var done: [Bool] = []
  var cursor = 0

  init(capacity: Int, stateWidth: Int) {
    self.capacity = capacity
    self.stateWidth = stateWidth
  }

  var count: Int { actions.count }

  mutating func append(state: [Float], actions shown: [Int], rewards r: [Float], nextState: [Float], done isDone: Bool) {
    if actions.count < capacity {
      states += state
      nextStates += nextState
      actions.append(shown)
      rewards.append(r)
      done.append(isDone)
    } else {
      let base = cursor * stateWidth
      states.replaceSubrange(base..<(base + stateWidth), with: state)
      nextStates.replaceSubrange(base..<(base + stateWidth), with: nextState)
      actions[cursor] = shown
      rewards[cursor] = r
      done[cursor] = isDone
      cursor = (cursor + 1) % capacity
    }
  }

  struct Batch {
    var states: [Float] = []
    var nextStates: [Float] = []
    var actions: [[Int]] = []
    var rewards: [[Float]] = []
    var done: [Bool] = []
  }

  func sample(_ size: Int, generator: inout SeededGenerator) -> Batch {
    var batch = Batch()
    batch.states.reserveCapacity(size * stateWidth)
    batch.nextStates.reserveCapacity(size * stateWidth)
    for _ in 0..<size {
      let i = generator.nextInt(below: count)
      batch.states += states[(i * stateWidth)..<((i + 1) * stateWidth)]
      batch.nextStates += nextStates[(i * stateWidth)..<((i + 1) * stateWidth)]
      batch.actions.append(actions[i])
      batch.rewards.append(rewards[i])
      batch.done.append(done[i])
    }
    return batch
  }
}

/// ``SlateDQN`` in the slate simulator: it learns online, one transition per round, where a
/// user's episode is their sequence of visits (the next state is the user's state after this
/// visit, so γ discounts per visit of the same user; fatigue makes those visits depend on each
/// other). Episodes never end (`done` is false).
public struct DQNAgent: SlateAgent {
  public var learner: SlateDQN
  public var history: SlateUserHistory
  public let name: String
  let slateSize: Int
  /// The loss of each update, for learning curves.
  public private(set) var losses: [Float] = []
  var pendingState: [Float] = []

  public init(
    _ configuration: SlateDQN.Configuration = .init(), environment: SlateEnvironment, seed: UInt64, name: String = "dqn"
  ) throws {
    history = SlateUserHistory(
      environment: environment, clickMemory: configuration.clickMemory, showMemory: configuration.showMemory,
      usesMemories: configuration.usesHistory)
    learner = try SlateDQN(configuration, stateWidth: history.stateWidth, actionCount: environment.armCount, seed: seed)
    self.name = name
    slateSize = environment.slateSize
  }

  public mutating func slate(
    for observation: SlateObservation, generator: inout SeededGenerator
  ) throws(SlateSimulationError) -> [Int] {
    pendingState = history.state(observation)
    return learner.slate(pendingState, count: slateSize, generator: &generator)
  }

  public mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {
    let state = pendingState.count == history.stateWidth ? pendingState : history.state(observation)
    history.record(outcome)
    let next = history.state(observation)
    let rewards = outcome.slate.indices.map { Float($0 == outcome.clickedPosition ? 1 : 0) }
    if let loss = learner.remember(state: state, actions: outcome.slate, rewards: rewards, nextState: next, done: false) {
      losses.append(loss)
    }
  }

  /// Runs the agent (learning) for `rounds` rounds in a fresh session of `environment` with
  /// `seed`, before it is measured elsewhere; the user histories are cleared afterwards, the
  /// network, replay and ε schedule are kept.
  public mutating func pretrain(environment: SlateEnvironment, rounds: Int, seed: UInt64) throws(SlateSimulationError) {
    var session = SlateSession(environment: environment, seed: seed)
    var generator = SeededGenerator(seed: seed, stream: 0xD9B)
    for _ in 0..<max(rounds, 0) {
      let observation = session.observe()
      let shown = try slate(for: observation, generator: &generator)
      try learn(observation, try session.respond(slate: shown))
    }
    // The measured run starts a fresh world: forget the pretraining users' histories.
    history = SlateUserHistory(
      users: environment.userCount, arms: history.armCount, contextWidth: history.contextWidth,
      clickMemory: history.clickMemory, showMemory: history.showMemory, usesMemories: history.usesMemories)
  }
}

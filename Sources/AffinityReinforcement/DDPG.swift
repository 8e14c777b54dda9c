public import AffinityCore
public import AffinityNeural
import Foundation

/// Deep deterministic policy gradient (Lillicrap et al. 2016): an actor `μ(s)` and a critic
/// `Q(s, a)`, each with a slowly tracking target copy.
///
/// The critic regresses on `y = r + γ (1 − done) Q'(s', μ'(s'))` (weighted by prioritised-replay
/// importance weights); the actor climbs `Q(s, μ(s))`; the targets follow by Polyak averaging.
///
/// With ``Configuration/twinCritics``, ``Configuration/policyDelay`` and
/// ``Configuration/targetNoise`` it is TD3 (Fujimoto et al. 2018): two critics whose smaller target
/// value is bootstrapped (against overestimation), actor and target updates every `policyDelay`
/// critic updates, and clipped Gaussian noise on the target action.
public struct DDPG: Sendable {
  public struct Configuration: Sendable, Hashable, Codable {
    public var stateWidth: Int
    public var actionWidth: Int
    public var hidden: [Int]
    public var actorLearningRate: Float
    public var criticLearningRate: Float
    /// Soft target update rate τ.
    public var tau: Float
    /// Discount γ.
    public var gamma: Float
    /// Layer norm after each hidden layer (often what keeps DDPG from diverging).
    public var layerNorm: Bool
    /// L2 weight decay on the critic.
    public var criticWeightDecay: Float
    /// Global gradient-norm clip for both networks (nil: none).
    public var clipNorm: Float?
    /// Actions on the unit sphere (`a = z/‖z‖`, no tanh) instead of the tanh box: for actions
    /// that score items by a dot product, only the direction matters, and a critic linear in the
    /// action then has a finite maximiser.
    public var normalizesActions: Bool
    /// The critic also sees `a ⊙ s[0..<A]`, the action times the state's first `A` values (for
    /// DRR, the user's embedding): the user–item interaction a dot-product reward is made of,
    /// which a ReLU network otherwise has to approximate from `[s, a]`.
    public var actionInteractions: Bool
    /// TD3's clipped double Q: a second critic, and targets bootstrap `min(Q'₁, Q'₂)`.
    public var twinCritics: Bool
    /// Actor and target networks update once every this many critic updates (TD3: 2).
    public var policyDelay: Int
    /// Standard deviation of the Gaussian noise on the target action (TD3's target policy
    /// smoothing; 0: none), clipped to ±``targetNoiseClip`` per coordinate.
    public var targetNoise: Float
    public var targetNoiseClip: Float

    public init(
      stateWidth: Int, actionWidth: Int, hidden: [Int] = [256, 256], actorLearningRate: Float = 0.0005,
      criticLearningRate: Float = 0.001, tau: Float = 0.001, gamma: Float = 0.9, layerNorm: Bool = false,
      criticWeightDecay: Float = 0, clipNorm: Float? = nil, normalizesActions: Bool = false,
      actionInteractions: Bool = false, twinCritics: Bool = false, policyDelay: Int = 1, targetNoise: Float = 0,
      targetNoiseClip: Float = 0.5
    ) {
      self.twinCritics = twinCritics
      self.policyDelay = policyDelay
      self.targetNoise = targetNoise
      self.targetNoiseClip = targetNoiseClip
      self.stateWidth = stateWidth
      self.actionWidth = actionWidth
      self.hidden = hidden
      self.actorLearningRate = actorLearningRate
      self.criticLearningRate = criticLearningRate
      self.tau = tau
      self.gamma = gamma
      self.layerNorm = layerNorm
      self.criticWeightDecay = criticWeightDecay
      self.clipNorm = clipNorm
      self.normalizesActions = normalizesActions
      self.actionInteractions = actionInteractions
    }

    /// The critic's input width.
    var criticWidth: Int { stateWidth + actionWidth * (actionInteractions ? 2 : 1) }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("DDPG")
      try check.positive("stateWidth", stateWidth)
      try check.positive("actionWidth", actionWidth)
      for h in hidden { try check.positive("hidden", h) }
      try check.positive("actorLearningRate", actorLearningRate)
      try check.positive("criticLearningRate", criticLearningRate)
      try check.nonNegative("criticWeightDecay", criticWeightDecay)
      try check.positive("policyDelay", policyDelay)
      try check.nonNegative("targetNoise", targetNoise)
      try check.nonNegative("targetNoiseClip", targetNoiseClip)
      if !(tau > 0 && tau <= 1) {
        throw ConfigurationError(model: "DDPG", parameter: "tau", value: tau, requirement: "in (0, 1]")
      }
      if !(gamma >= 0 && gamma < 1) {
        throw ConfigurationError(model: "DDPG", parameter: "gamma", value: gamma, requirement: "in [0, 1)")
      }
      if let clipNorm { try check.positive("clipNorm", clipNorm) }
      if actionInteractions && actionWidth > stateWidth {
        throw ConfigurationError(
          model: "DDPG", parameter: "actionInteractions", value: "true",
          requirement: "an action (\(actionWidth)) no wider than the state (\(stateWidth))")
      }
    }
  }

  /// A minibatch of transitions; `weights` are importance weights (all 1 without prioritisation).
  public struct Batch: Sendable {
    public var states: Matrix
    public var actions: Matrix
    public var rewards: [Float]
    public var nextStates: Matrix
    public var done: [Bool]
    public var weights: [Float]
    /// The actions the target policy takes in the next states, when the caller maps them (for
    /// example onto the nearest real item); nil: the target actor's output.
    public var nextActions: Matrix?

    public init(
      states: Matrix, actions: Matrix, rewards: [Float], nextStates: Matrix, done: [Bool], weights: [Float],
      nextActions: Matrix? = nil
    ) {
      self.nextActions = nextActions
      self.states = states
      self.actions = actions
      self.rewards = rewards
      self.nextStates = nextStates
      self.done = done
      self.weights = weights
    }
  }

  /// What one update measured.
  public struct Step: Sendable {
    public var criticLoss: Float
    /// Mean `Q(s, μ(s))` before the actor step (with a policy delay, an update without an actor
    /// step repeats the last one).
    public var meanQ: Float
    /// `|Q(s, a) − y|` per transition: the new replay priorities.
    public var tdErrors: [Float]
    /// ∂(−Q)/∂s per transition row (for a trainable state representation), when asked for.
    public var stateGradient: Matrix?
  }

  /// Seconds spent in each part of ``update(_:stateGradient:phases:)``, summed over calls.
  public struct PhaseTimes: Sendable {
    public var target = 0.0, critic = 0.0, actor = 0.0, softUpdate = 0.0
    public init() {}
  }

  public let configuration: Configuration
  public private(set) var actor: Network
  public private(set) var critic: Network
  public private(set) var targetActor: Network
  public private(set) var targetCritic: Network
  /// TD3's second critic and its target (nil without ``Configuration/twinCritics``).
  public private(set) var critic2: Network?
  public private(set) var targetCritic2: Network?
  var actorOptimizer: Optimizer
  var criticOptimizer: Optimizer
  var critic2Optimizer: Optimizer?
  var generator: SeededGenerator
  /// Critic updates so far (the policy delay counts them).
  public private(set) var updateCount = 0
  /// ``Step/meanQ`` of the last update that stepped the actor.
  var lastMeanQ: Float = 0

  public init(_ configuration: Configuration, seed: UInt64) throws {
    try configuration.validate()
    self.configuration = configuration
    let c = configuration
    actor = try Network.perceptron(
      input: c.stateWidth, hidden: c.hidden, output: c.actionWidth,
      outputActivation: c.normalizesActions ? .identity : .tanh, layerNorm: c.layerNorm,
      seed: seed &+ 1, finalScale: c.normalizesActions ? nil : 3e-3)
    critic = try Network.perceptron(
      input: c.criticWidth, hidden: c.hidden, output: 1, layerNorm: c.layerNorm, seed: seed &+ 2,
      finalScale: 3e-3)
    targetActor = actor
    targetCritic = critic
    actorOptimizer = try Optimizer(.adam, learningRate: c.actorLearningRate, clipNorm: c.clipNorm)
    criticOptimizer = try Optimizer(
      .adam, learningRate: c.criticLearningRate, weightDecay: c.criticWeightDecay, clipNorm: c.clipNorm)
    if c.twinCritics {
      let second = try Network.perceptron(
        input: c.criticWidth, hidden: c.hidden, output: 1, layerNorm: c.layerNorm, seed: seed &+ 3,
        finalScale: 3e-3)
      critic2 = second
      targetCritic2 = second
      critic2Optimizer = criticOptimizer
    }
    generator = SeededGenerator(seed: seed, stream: 0xDD96)
  }

  /// Restores trained networks (target copies start equal to them).
  public init(_ configuration: Configuration, actor: Network, critic: Network, seed: UInt64) throws {
    try self.init(configuration, seed: seed)
    guard actor.inputWidth == configuration.stateWidth, actor.outputWidth == configuration.actionWidth,
      critic.inputWidth == configuration.criticWidth, critic.outputWidth == 1
    else {
      throw NeuralError.shapeMismatch(
        expected: "actor \(configuration.stateWidth)→\(configuration.actionWidth), critic → 1",
        received: "actor \(actor.inputWidth)→\(actor.outputWidth), critic \(critic.inputWidth)→\(critic.outputWidth)")
    }
    self.actor = actor
    self.critic = critic
    targetActor = actor
    targetCritic = critic
  }

  /// `μ(s)` for a batch of states.
  public func act(_ states: Matrix) -> Matrix {
    let z = actor.forward(states)
    return configuration.normalizesActions ? Self.normalized(z).actions : z
  }

  /// `μ'(s)`: the target actor's actions.
  public func targetAct(_ states: Matrix) -> Matrix {
    let z = targetActor.forward(states)
    return configuration.normalizesActions ? Self.normalized(z).actions : z
  }

  /// `μ'(s)` with TD3's target policy smoothing: clipped Gaussian noise on each coordinate (back
  /// on the unit sphere when actions are normalised, in the box otherwise). Without
  /// ``Configuration/targetNoise`` it is ``targetAct(_:)``.
  public mutating func smoothedTargetAct(_ states: Matrix) -> Matrix {
    let c = configuration
    var z = targetAct(states)
    guard c.targetNoise > 0 else { return z }
    for i in z.storage.indices {
      let noise = min(c.targetNoiseClip, max(-c.targetNoiseClip, c.targetNoise * Float(generator.nextGaussian())))
      z.storage[i] += noise
    }
    if c.normalizesActions { return Self.normalized(z).actions }
    for i in z.storage.indices { z.storage[i] = min(1, max(-1, z.storage[i])) }
    return z
  }

  /// Each row scaled to unit length, with the lengths.
  static func normalized(_ z: Matrix) -> (actions: Matrix, norms: [Float]) {
    var out = z
    var norms = [Float](repeating: 1, count: z.rows)
    for r in 0..<z.rows {
      var sum: Float = 0
      for c in 0..<z.columns { sum += z[r, c] * z[r, c] }
      let norm = max(sum.squareRoot(), 1e-6)
      norms[r] = norm
      for c in 0..<z.columns { out[r, c] = z[r, c] / norm }
    }
    return (out, norms)
  }

  /// `Q(s, a)`.
  public func value(_ states: Matrix, _ actions: Matrix) -> Matrix {
    critic.forward(criticInput(states, actions))
  }

  /// `[s, a]`, or `[s, a, a ⊙ s[0..<A]]` with action interactions.
  func criticInput(_ states: Matrix, _ actions: Matrix) -> Matrix {
    let base = Matrix.concatenating(states, actions)
    guard configuration.actionInteractions else { return base }
    var products = actions
    for r in 0..<actions.rows {
      for k in 0..<actions.columns { products[r, k] = actions[r, k] * states[r, k] }
    }
    return Matrix.concatenating(base, products)
  }

  /// One DDPG update on `batch`: critic step, actor step, soft target updates.
  public mutating func update(_ batch: Batch, stateGradient: Bool = false) -> Step {
    var ignored: PhaseTimes?
    return update(batch, stateGradient: stateGradient, timing: &ignored)
  }

  /// ``update(_:stateGradient:)`` that also adds each phase's time to `phases`.
  public mutating func update(_ batch: Batch, stateGradient: Bool = false, phases: inout PhaseTimes) -> Step {
    var timing: PhaseTimes? = phases
    let step = update(batch, stateGradient: stateGradient, timing: &timing)
    phases = timing ?? phases
    return step
  }

  mutating func update(_ batch: Batch, stateGradient: Bool, timing: inout PhaseTimes?) -> Step {
    let c = configuration
    var clock = timing == nil ? 0 : DispatchTime.now().uptimeNanoseconds
    func lap(_ field: WritableKeyPath<PhaseTimes, Double>) {
      guard timing != nil else { return }
      let now = DispatchTime.now().uptimeNanoseconds
      timing?[keyPath: field] += Double(now - clock) / 1e9
      clock = now
    }
    let n = batch.states.rows
    // Targets (TD3: the smaller of the two target critics).
    let nextActions = batch.nextActions ?? smoothedTargetAct(batch.nextStates)
    let nextInput = criticInput(batch.nextStates, nextActions)
    var nextValues = targetCritic.forward(nextInput)
    if let targetCritic2 {
      let second = targetCritic2.forward(nextInput)
      for r in 0..<n { nextValues.storage[r] = min(nextValues.storage[r], second.storage[r]) }
    }
    var targets = Matrix(rows: n, columns: 1)
    for r in 0..<n {
      targets.storage[r] = batch.rewards[r] + (batch.done[r] ? 0 : c.gamma * nextValues.storage[r])
    }
    lap(\.target)
    // Critic(s).
    let input = criticInput(batch.states, batch.actions)
    let criticTrace = critic.forward(input, generator: &generator)
    let (criticLoss, dValue) = Loss.meanSquaredError(criticTrace.output, targets, weights: batch.weights)
    let tdErrors = (0..<n).map { abs(criticTrace.output.storage[$0] - targets.storage[$0]) }
    criticOptimizer.step(&critic, critic.backward(dValue, trace: criticTrace).gradients)
    if var second = critic2, var optimizer = critic2Optimizer {
      // Taken out so the step mutates the only copy (no copy-on-write of the parameters).
      critic2 = nil
      critic2Optimizer = nil
      let trace = second.forward(input, generator: &generator)
      let (_, d) = Loss.meanSquaredError(trace.output, targets, weights: batch.weights)
      optimizer.step(&second, second.backward(d, trace: trace).gradients)
      critic2 = second
      critic2Optimizer = optimizer
    }
    updateCount += 1
    lap(\.critic)
    guard updateCount % c.policyDelay == 0 else {
      // TD3's delayed policy: no actor or target step this time (and no extra forward pass
      // just to report Q: the last actor step's value stands).
      return Step(criticLoss: criticLoss, meanQ: lastMeanQ, tdErrors: tdErrors, stateGradient: nil)
    }
    // Actor: ascend Q(s, μ(s)) through the updated critic.
    let actorTrace = actor.forward(batch.states, generator: &generator)
    let (policyActions, norms) = c.normalizesActions ? Self.normalized(actorTrace.output) : (actorTrace.output, [])
    let qTrace = critic.forward(criticInput(batch.states, policyActions), generator: &generator)
    let meanQ = qTrace.output.storage.reduce(0, +) / Float(max(n, 1))
    lastMeanQ = meanQ
    let dQ = Matrix(rows: n, columns: 1, storage: [Float](repeating: -1 / Float(max(n, 1)), count: n))
    let (dInput, _) = critic.backward(dQ, trace: qTrace, inputGradient: true, parameterGradients: false)
    var dCriticInput = dInput ?? Matrix(rows: n, columns: c.criticWidth)
    var dAction = dCriticInput.columns(c.stateWidth..<(c.stateWidth + c.actionWidth))
    if c.actionInteractions {
      // q = f(s, a, a ⊙ s₀): ∂/∂a += ∂/∂(a ⊙ s₀) ⊙ s₀ and ∂/∂s₀ += ∂/∂(a ⊙ s₀) ⊙ a.
      let offset = c.stateWidth + c.actionWidth
      for r in 0..<n {
        for k in 0..<c.actionWidth {
          let g = dCriticInput[r, offset + k]
          dAction[r, k] += g * batch.states[r, k]
          dCriticInput[r, k] += g * policyActions[r, k]
        }
      }
    }
    if c.normalizesActions {
      // a = z/‖z‖ ⇒ ∂L/∂z = (∂L/∂a − a (a · ∂L/∂a)) / ‖z‖.
      for r in 0..<n {
        var dot: Float = 0
        for k in 0..<c.actionWidth { dot += policyActions[r, k] * dAction[r, k] }
        for k in 0..<c.actionWidth { dAction[r, k] = (dAction[r, k] - policyActions[r, k] * dot) / norms[r] }
      }
    }
    let (dActorInput, actorGradients) = actor.backward(dAction, trace: actorTrace, inputGradient: stateGradient)
    actorOptimizer.step(&actor, actorGradients)
    lap(\.actor)
    targetActor.softUpdate(toward: actor, tau: c.tau)
    targetCritic.softUpdate(toward: critic, tau: c.tau)
    if let critic2, var target = targetCritic2 {
      targetCritic2 = nil
      target.softUpdate(toward: critic2, tau: c.tau)
      targetCritic2 = target
    }
    lap(\.softUpdate)
    var dState: Matrix?
    if stateGradient, var total = dActorInput {
      // The state reaches −Q both through the actor and directly as the critic's input.
      let direct = dCriticInput.columns(0..<c.stateWidth)
      for i in total.storage.indices { total.storage[i] += direct.storage[i] }
      dState = total
    }
    return Step(criticLoss: criticLoss, meanQ: meanQ, tdErrors: tdErrors, stateGradient: dState)
  }
}

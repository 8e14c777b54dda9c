public import AffinityBandits
public import AffinityCore
public import AffinityNeural
import Foundation

/// REINFORCE with the top-K off-policy correction (Chen et al. 2019): a softmax policy
/// `π(a|s) = softmax(f_θ(s))_a` over the arms, learned from logged slates of another policy `β`.
///
/// The state `s` is a ``SlateUserHistory`` vector (context, decayed clicks, decayed shows) and
/// `f_θ` a perceptron; the paper uses an RNN over the user's event sequence, this is the
/// feed-forward counterpart. For every logged (s, a) with reward R (1 for the clicked arm, 0 for
/// the other shown ones) the loss is
///
///     L(θ) = −(1/N) Σ w(s, a) · λ_K(s, a) · R · log π_θ(a|s),
///     w = min(π(a|s) / β(a|s), cap),     λ_K = K (1 − π(a|s))^{K−1},
///
/// with `w` and `λ_K` held constant in the gradient (the paper's estimator). `λ_K` corrects for
/// serving K items sampled from π rather than one: the chance that `a` is among K draws is
/// `1 − (1 − π)^K`, whose derivative in π is `λ_K`. ``Correction/ips`` keeps `w` and sets λ = 1;
/// ``Correction/none`` sets both to 1 (plain REINFORCE on the logs, biased toward β). Because R
/// is 0 for unclicked arms, only clicks move π.
///
/// `β` is the logged propensity, or — when ``Configuration/propensities`` is `.learned` — a
/// behaviour network `β̂(a|s)` fitted first by cross-entropy on every logged (s, a) (the paper's
/// second head, with its gradient blocked from the policy; here a separate network).
///
/// - Complexity: O(epochs · clicks · (state · hidden + hidden · arms)) to train.
///
/// Chen, Beutel, Covington, Jain, Belletti, Chi. "Top-K Off-Policy Correction for a REINFORCE
/// Recommender System." WSDM 2019.
public struct TopKReinforce: Sendable {
  public enum Correction: String, Codable, Hashable, Sendable, CaseIterable {
    /// `w = 1, λ = 1`.
    case none
    /// Capped `w`, `λ = 1`.
    case ips
    /// Capped `w` and `λ_K`.
    case topK = "top-k"
  }

  public enum Propensities: String, Codable, Hashable, Sendable, CaseIterable {
    /// The logged `β(a|s)`.
    case logged
    /// A behaviour network fitted to the logged slates.
    case learned
  }

  public enum Serving: String, Codable, Hashable, Sendable, CaseIterable {
    /// K draws without replacement from π (what the correction assumes).
    case sample
    /// The K arms with the largest π.
    case greedy
  }

  public struct Configuration: Codable, Hashable, Sendable {
    public var hidden: [Int]
    public var learningRate: Float
    public var epochs: Int
    public var batchSize: Int
    public var correction: Correction
    /// The cap on `π/β`.
    public var weightCap: Float
    /// K in `λ_K`; nil uses the environment's slate size.
    public var slateSize: Int?
    public var propensities: Propensities
    /// Epochs of the behaviour network (with `.learned`).
    public var behaviourEpochs: Int
    public var serving: Serving
    public var regularization: Float
    public var clipNorm: Float?
    /// `μ_c`, `μ_h` of the ``SlateUserHistory`` state.
    public var clickMemory: Float
    public var showMemory: Float
    /// The click and show memories in the state (false: the context only).
    public var usesHistory: Bool

    public init(
      hidden: [Int] = [64], learningRate: Float = 0.002, epochs: Int = 30, batchSize: Int = 64,
      correction: Correction = .topK, weightCap: Float = 10, slateSize: Int? = nil,
      propensities: Propensities = .logged, behaviourEpochs: Int = 5, serving: Serving = .sample,
      regularization: Float = 1e-5, clipNorm: Float? = 5, clickMemory: Float = 0.9, showMemory: Float = 0.5,
      usesHistory: Bool = true
    ) {
      self.hidden = hidden
      self.learningRate = learningRate
      self.epochs = epochs
      self.batchSize = batchSize
      self.correction = correction
      self.weightCap = weightCap
      self.slateSize = slateSize
      self.propensities = propensities
      self.behaviourEpochs = behaviourEpochs
      self.serving = serving
      self.regularization = regularization
      self.clipNorm = clipNorm
      self.clickMemory = clickMemory
      self.showMemory = showMemory
      self.usesHistory = usesHistory
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("TopKReinforce")
      for h in hidden { try check.positive("hidden", h) }
      try check.positive("learningRate", learningRate)
      try check.positive("epochs", epochs)
      try check.positive("batchSize", batchSize)
      try check.positive("behaviourEpochs", behaviourEpochs)
      if !(weightCap >= 1) || !weightCap.isFinite {
        throw ConfigurationError(
          model: "TopKReinforce", parameter: "weightCap", value: weightCap, requirement: "a finite number ≥ 1")
      }
      if let slateSize { try check.positive("slateSize", slateSize) }
      try check.nonNegative("regularization", regularization)
      if let clipNorm { try check.positive("clipNorm", clipNorm) }
      for (name, memory) in [("clickMemory", clickMemory), ("showMemory", showMemory)] where !(memory >= 0 && memory <= 1) {
        throw ConfigurationError(model: "TopKReinforce", parameter: name, value: memory, requirement: "in [0, 1]")
      }
    }
  }

  /// One training epoch's mean loss and mean effective weight `w · λ`.
  public struct EpochLog: Sendable, Codable, Equatable {
    public var epoch: Int
    public var loss: Float
    public var meanWeight: Float
  }

  public let configuration: Configuration
  /// `f_θ`: state → arm logits.
  public let policy: Network
  /// `β̂`, when learned.
  public let behaviour: Network?
  /// K used in `λ_K`.
  public let slateSize: Int

  // MARK: The correction

  /// `λ_K(π) = K (1 − π)^{K−1}`: the derivative of `1 − (1 − π)^K`, the chance that an arm with
  /// single-draw probability π is among K draws.
  public static func lambda(probability pi: Float, slateSize k: Int) -> Float {
    Float(k) * Float(Foundation.pow(Double(max(0, 1 - pi)), Double(k - 1)))
  }

  /// `min(π/β, cap)`; a non-positive β gives the cap.
  public static func importanceWeight(probability pi: Float, propensity beta: Float, cap: Float) -> Float {
    beta > 0 ? min(pi / beta, cap) : cap
  }

  /// The corrected loss of a batch and its gradient with respect to `logits`, with `w` and `λ`
  /// computed from the current π and held constant: for row i with arm `a_i` and
  /// `c_i = w_i λ_i R_i`, `∂L/∂z_ij = −(c_i/N)(1[j = a_i] − π_ij)`.
  public static func loss(
    logits: Matrix, actions: [Int], rewards: [Float], propensities: [Float], correction: Correction, weightCap: Float,
    slateSize: Int
  ) -> (value: Float, gradient: Matrix, meanWeight: Float) {
    let pi = softmaxRows(logits)
    var gradient = Matrix(rows: logits.rows, columns: logits.columns)
    let n = Float(max(logits.rows, 1))
    var total: Double = 0
    var weights: Double = 0
    for r in 0..<logits.rows {
      let a = actions[r]
      let p = pi[r, a]
      var c = rewards[r]
      switch correction {
      case .none: break
      case .ips: c *= importanceWeight(probability: p, propensity: propensities[r], cap: weightCap)
      case .topK:
        c *= importanceWeight(probability: p, propensity: propensities[r], cap: weightCap)
          * lambda(probability: p, slateSize: slateSize)
      }
      weights += Double(c)
      total -= Double(c) * Double(Foundation.log(max(p, 1e-30)))
      for j in 0..<logits.columns {
        gradient[r, j] = -(c / n) * ((j == a ? 1 : 0) - pi[r, j])
      }
    }
    return (Float(total / Double(n)), gradient, Float(weights / Double(n)))
  }

  // MARK: Policy

  /// `π(·|s)` for one state.
  public func probabilities(_ state: [Float]) -> [Float] {
    softmaxRows(policy.forward(Matrix(rows: 1, columns: state.count, storage: state))).storage
  }

  /// A slate for `state`: sampled from π or its top K, as ``Configuration/serving`` says.
  public func slate(_ state: [Float], count: Int, generator: inout SeededGenerator) -> [Int] {
    let pi = probabilities(state)
    switch configuration.serving {
    case .sample: return sampleWithoutReplacement(pi, count: count, generator: &generator)
    case .greedy: return topIndices(pi, count: count)
    }
  }

  // MARK: Training

  /// Fits π (and `β̂` when asked) on `log`; `progress` sees each epoch.
  public static func fit(
    _ log: SlateLog, configuration: Configuration = Configuration(), slateSize defaultK: Int, seed: UInt64,
    progress: ((EpochLog) -> Void)? = nil
  ) throws -> (model: TopKReinforce, log: [EpochLog]) {
    try configuration.validate()
    let c = configuration
    let k = c.slateSize ?? defaultK
    guard log.count > 0, log.states.count == log.count * log.stateWidth else {
      throw NeuralError.shapeMismatch(
        expected: "a non-empty log with \(log.stateWidth) state values per round",
        received: "\(log.count) rounds, \(log.states.count) state values")
    }
    var generator = SeededGenerator(seed: seed, stream: 0x5EF)
    // Every shown (round, position) for β̂; the clicked ones for π.
    var shown: [(round: Int, arm: Int, propensity: Float)] = []
    var clicked: [(round: Int, arm: Int, propensity: Float)] = []
    for r in 0..<log.count {
      for (p, arm) in log.slates[r].enumerated() {
        let entry = (r, arm, log.propensities[r][p])
        shown.append(entry)
        if log.clickedPositions[r] == p { clicked.append(entry) }
      }
    }
    func states(_ rows: ArraySlice<(round: Int, arm: Int, propensity: Float)>) -> Matrix {
      var m = Matrix(rows: rows.count, columns: log.stateWidth)
      for (i, row) in rows.enumerated() {
        let source = row.round * log.stateWidth
        for j in 0..<log.stateWidth { m.storage[i * log.stateWidth + j] = log.states[source + j] }
      }
      return m
    }
    var behaviour: Network?
    if c.propensities == .learned {
      var network = try Network.perceptron(
        input: log.stateWidth, hidden: c.hidden, output: log.armCount, seed: seed &+ 31)
      var optimizer = try Optimizer(.adam, learningRate: c.learningRate, clipNorm: c.clipNorm)
      for _ in 0..<c.behaviourEpochs {
        generator.shuffle(&shown)
        for start in stride(from: 0, to: shown.count, by: c.batchSize) {
          let rows = shown[start..<min(start + c.batchSize, shown.count)]
          let trace = network.forward(states(rows), generator: &generator)
          let (_, dLogits) = Loss.crossEntropy(logits: trace.output, labels: rows.map(\.arm))
          optimizer.step(&network, network.backward(dLogits, trace: trace).gradients)
        }
      }
      behaviour = network
    }
    var network = try Network.perceptron(input: log.stateWidth, hidden: c.hidden, output: log.armCount, seed: seed &+ 7)
    var optimizer = try Optimizer(.adam, learningRate: c.learningRate, weightDecay: c.regularization, clipNorm: c.clipNorm)
    var epochs: [EpochLog] = []
    for epoch in 0..<c.epochs {
      generator.shuffle(&clicked)
      var lossSum: Double = 0, weightSum: Double = 0, batches = 0
      for start in stride(from: 0, to: clicked.count, by: c.batchSize) {
        let rows = clicked[start..<min(start + c.batchSize, clicked.count)]
        let x = states(rows)
        var propensities = rows.map(\.propensity)
        if let behaviour {
          let beta = softmaxRows(behaviour.forward(x))
          propensities = rows.enumerated().map { i, row in beta[i, row.arm] }
        }
        let trace = network.forward(x, generator: &generator)
        let result = loss(
          logits: trace.output, actions: rows.map(\.arm), rewards: [Float](repeating: 1, count: rows.count),
          propensities: propensities, correction: c.correction, weightCap: c.weightCap, slateSize: k)
        optimizer.step(&network, network.backward(result.gradient, trace: trace).gradients)
        lossSum += Double(result.value)
        weightSum += Double(result.meanWeight)
        batches += 1
      }
      let entry = EpochLog(
        epoch: epoch, loss: Float(lossSum / Double(max(batches, 1))), meanWeight: Float(weightSum / Double(max(batches, 1))))
      guard entry.loss.isFinite else { throw FitError.diverged(model: "TopKReinforce", epoch: epoch) }
      epochs.append(entry)
      progress?(entry)
    }
    return (TopKReinforce(configuration: c, policy: network, behaviour: behaviour, slateSize: k), epochs)
  }
}

/// A trained ``TopKReinforce`` policy serving slates; it keeps each user's history up to date but
/// does not learn from the run (it was trained offline on the logs).
public struct ReinforceAgent: SlateAgent {
  public let model: TopKReinforce
  public var history: SlateUserHistory
  public let name: String
  let slateSize: Int

  public init(model: TopKReinforce, environment: SlateEnvironment, name: String = "reinforce") {
    self.model = model
    history = SlateUserHistory(
      environment: environment, clickMemory: model.configuration.clickMemory, showMemory: model.configuration.showMemory,
      usesMemories: model.configuration.usesHistory)
    self.name = name
    slateSize = environment.slateSize
  }

  public mutating func slate(
    for observation: SlateObservation, generator: inout SeededGenerator
  ) throws(SlateSimulationError) -> [Int] {
    model.slate(history.state(observation), count: slateSize, generator: &generator)
  }

  public mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {
    history.record(outcome)
  }
}

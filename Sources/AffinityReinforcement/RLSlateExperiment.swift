public import AffinityBandits
public import AffinityCore
import Foundation

/// The policies ``RLSlateExperiment`` compares in the slate simulator.
public enum RLSlatePolicy: String, Codable, Hashable, Sendable, CaseIterable {
  /// ``TopKReinforce`` with the top-K correction, trained on the logs.
  case reinforce
  /// The same with IPS only (λ = 1).
  case reinforceIPS = "reinforce-ips"
  /// The same without correction (w = 1, λ = 1).
  case reinforceNaive = "reinforce-naive"
  /// Top-K corrected, with a learned behaviour network instead of the logged propensities.
  case reinforceLearnedBeta = "reinforce-learned-beta"
  /// ``SlateDQN``, learning online during the run.
  case dqn
  /// The popularity softmax that wrote the logs.
  case logging
  case linucb
  case thompson
  case random
}

/// REINFORCE, DQN, the logging policy and bandits in one slate world, each measured online on the
/// same seeds.
///
/// Per seed `s`: the logging policy runs `loggedRounds` rounds in a session with seed
/// `s + 10,000` and its slates train the REINFORCE variants (seeded with `s`); DQN optionally
/// pretrains for `dqnPretrainRounds` in a session with seed `s + 20,000`. Then every policy runs
/// `rounds` rounds in a fresh session with seed `s` through ``SlateSimulation/run(_:on:rounds:seeds:baseline:checkpoints:finished:)``,
/// so within a seed all of them meet the same users, choice draws and drift. REINFORCE is frozen
/// in that run; DQN and the bandits learn as they go (bandits from every shown arm, the
/// `allShown` rule). The mean click rate per round comes with a 95 % t-interval over seeds.
public enum RLSlateExperiment {
  public struct Configuration: Sendable {
    public var rounds: Int
    public var seeds: [UInt64]
    public var loggedRounds: Int
    public var reinforce: TopKReinforce.Configuration
    public var dqn: SlateDQN.Configuration
    public var dqnPretrainRounds: Int
    public var loggingTemperature: Float
    public var loggingUniformShare: Float
    public var linucbAlpha: Double
    public var checkpoints: Int

    public init(
      rounds: Int = 10_000, seeds: [UInt64] = [1, 2, 3], loggedRounds: Int = 20_000,
      reinforce: TopKReinforce.Configuration = .init(), dqn: SlateDQN.Configuration = .init(), dqnPretrainRounds: Int = 0,
      loggingTemperature: Float = 1, loggingUniformShare: Float = 0.2, linucbAlpha: Double = 0.5, checkpoints: Int = 100
    ) {
      self.rounds = rounds
      self.seeds = seeds
      self.loggedRounds = loggedRounds
      self.reinforce = reinforce
      self.dqn = dqn
      self.dqnPretrainRounds = dqnPretrainRounds
      self.loggingTemperature = loggingTemperature
      self.loggingUniformShare = loggingUniformShare
      self.linucbAlpha = linucbAlpha
      self.checkpoints = checkpoints
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("RLSlateExperiment")
      try check.positive("rounds", rounds)
      try check.positive("loggedRounds", loggedRounds)
      try check.nonNegative("dqnPretrainRounds", dqnPretrainRounds)
      try check.positive("checkpoints", checkpoints)
      if seeds.isEmpty {
        throw ConfigurationError(model: "RLSlateExperiment", parameter: "seeds", value: 0, requirement: "at least one seed")
      }
      if !(linucbAlpha >= 0) || !linucbAlpha.isFinite {
        throw ConfigurationError(
          model: "RLSlateExperiment", parameter: "linucbAlpha", value: linucbAlpha, requirement: "a finite number ≥ 0")
      }
      try reinforce.validate()
      try dqn.validate()
    }
  }

  /// Everything one experiment measured.
  public struct Outcome: Sendable {
    /// One per policy, in the order asked for.
    public var results: [SimulationResult]
    public var baseline: SlateSimulation.FixedSlate
    /// The logging policy's click rate while writing each seed's logs.
    public var loggedClickRates: [Double]
    /// Seconds spent before the measured runs, summed over seeds: `"logs"` for writing the logs,
    /// then each REINFORCE variant's fits and DQN's pretraining (when asked for).
    public var trainingSeconds: [String: Double]
    /// Per REINFORCE variant and seed, the training loss of each epoch.
    public var reinforceLosses: [String: [[Float]]]
  }

  /// What a run reports as it goes: the task's label and the share done (0…1).
  public typealias Progress = (_ label: String, _ fraction: Double) -> Void

  /// Runs `policies` in `environment`.
  public static func run(
    _ policies: [RLSlatePolicy], environment: SlateEnvironment, configuration: Configuration = Configuration(),
    progress: Progress? = nil
  ) throws -> Outcome {
    try configuration.validate()
    let c = configuration
    let logging = try PopularityLoggingPolicy(
      arms: environment.armCount, temperature: c.loggingTemperature, uniformShare: c.loggingUniformShare)
    let needsLogs = policies.contains { $0.isReinforce }
    var logs: [SlateLog] = []
    var trainingSeconds: [String: Double] = [:]
    if needsLogs {
      let start = Date()
      for (i, seed) in c.seeds.enumerated() {
        progress?("writing logs", Double(i) / Double(c.seeds.count))
        logs.append(
          try SlateLog.collect(
            logging, environment: environment, rounds: c.loggedRounds, seed: seed &+ 10_000,
            clickMemory: c.reinforce.clickMemory, showMemory: c.reinforce.showMemory,
            usesMemories: c.reinforce.usesHistory))
      }
      trainingSeconds["logs"] = Date().timeIntervalSince(start)
    }
    let baseline = try SlateSimulation.bestFixedSlate(on: environment, rounds: c.rounds, seeds: c.seeds)
    var results: [SimulationResult] = []
    var losses: [String: [[Float]]] = [:]
    for policy in policies {
      let name = policy.rawValue
      // Agents are built (and trained) per seed before the run, which asks for them in seed order.
      var agents: [any SlateAgent] = []
      let start = Date()
      for (i, seed) in c.seeds.enumerated() {
        if policy.isReinforce || (policy == .dqn && c.dqnPretrainRounds > 0) {
          progress?("training \(name)", Double(i) / Double(c.seeds.count))
        }
        switch policy {
        case .reinforce, .reinforceIPS, .reinforceNaive, .reinforceLearnedBeta:
          var settings = c.reinforce
          switch policy {
          case .reinforceIPS: settings.correction = .ips
          case .reinforceNaive: settings.correction = .none
          case .reinforceLearnedBeta: settings.propensities = .learned
          default: break
          }
          let (model, epochs) = try TopKReinforce.fit(
            logs[i], configuration: settings, slateSize: environment.slateSize, seed: seed)
          losses[name, default: []].append(epochs.map(\.loss))
          agents.append(ReinforceAgent(model: model, environment: environment, name: name))
        case .dqn:
          var agent = try DQNAgent(c.dqn, environment: environment, seed: seed)
          if c.dqnPretrainRounds > 0 {
            try agent.pretrain(environment: environment, rounds: c.dqnPretrainRounds, seed: seed &+ 20_000)
          }
          agents.append(agent)
        case .logging:
          agents.append(LoggingPolicyAgent(policy: logging, slateSize: environment.slateSize))
        case .linucb:
          agents.append(
            BanditSlateAgent(
              policy: LinUCB(arms: environment.armCount, dimension: environment.contextDimension, alpha: c.linucbAlpha),
              slateSize: environment.slateSize))
        case .thompson:
          agents.append(
            BanditSlateAgent(policy: ThompsonSampling(arms: environment.armCount), slateSize: environment.slateSize))
        case .random:
          agents.append(BanditSlateAgent(policy: RandomPolicy(arms: environment.armCount), slateSize: environment.slateSize))
        }
      }
      if policy.isReinforce || (policy == .dqn && c.dqnPretrainRounds > 0) {
        trainingSeconds[name] = Date().timeIntervalSince(start)
      }
      var next = 0
      var played = 0
      let total = Double(c.rounds * c.seeds.count)
      let report = Swift.max(c.rounds / 50, 1)
      results.append(
        try SlateSimulation.run(
          { () throws(SlateSimulationError) -> any SlateAgent in
            defer { next += 1 }
            return ProgressAgent(base: agents[next]) {
              played += 1
              if played % report == 0 { progress?(name, Double(played) / total) }
            }
          }, on: environment, rounds: c.rounds, seeds: c.seeds, baseline: baseline, checkpoints: c.checkpoints))
      progress?(name, 1)
    }
    return Outcome(
      results: results, baseline: baseline, loggedClickRates: logs.map(\.clickRate), trainingSeconds: trainingSeconds,
      reinforceLosses: losses)
  }
}

extension RLSlatePolicy {
  public var isReinforce: Bool {
    switch self {
    case .reinforce, .reinforceIPS, .reinforceNaive, .reinforceLearnedBeta: true
    default: false
    }
  }
}

/// A bandit policy filling slates from the context, learning 1 for the clicked arm and 0 for the
/// other shown ones (the simulator's `allShown` rule).
public struct BanditSlateAgent: SlateAgent {
  public var policy: any BanditPolicy
  public let slateSize: Int
  public var name: String { policy.name }

  public init(policy: any BanditPolicy, slateSize: Int) {
    self.policy = policy
    self.slateSize = slateSize
  }

  public mutating func slate(
    for observation: SlateObservation, generator: inout SeededGenerator
  ) throws(SlateSimulationError) -> [Int] {
    do throws(BanditError) {
      return try policy.decide(
        context: observation.context, slateSize: slateSize, generator: &generator, propensitySamples: 0
      ).map(\.arm)
    } catch {
      throw .policy(error)
    }
  }

  public mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {
    do throws(BanditError) {
      for event in outcome.events(context: observation.context, rule: .allShown) {
        try policy.update(arm: event.arm, context: event.context, reward: event.reward)
      }
    } catch {
      throw .policy(error)
    }
  }
}

/// Forwards to `base` and calls `tick` after each round.
struct ProgressAgent: SlateAgent {
  var base: any SlateAgent
  let tick: () -> Void
  var name: String { base.name }

  mutating func slate(
    for observation: SlateObservation, generator: inout SeededGenerator
  ) throws(SlateSimulationError) -> [Int] {
    try base.slate(for: observation, generator: &generator)
  }

  mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {
    try base.learn(observation, outcome)
    tick()
  }
}

public import AffinityBandits
public import AffinityCore
import Foundation

/// A stand-in for a production recommender that writes the logs ``TopKReinforce`` learns from: it
/// ignores the user and shows a popularity-ranked softmax, mixed with a uniform share,
///
///     β(a) = (1 − ε) · softmax_a(−log(rank_a + 1) / T) + ε / arms,
///
/// where `rank_a` is the arm's popularity rank in the pool (arm 0 is the most rated). A slate is `K`
/// draws without replacement, each proportional to `β` over the arms not yet drawn; each shown
/// arm is logged with `β(a)`, the single-draw propensity Chen et al. log (exact for the first
/// slot, an approximation for the others). `ε > 0` keeps every arm's propensity positive, so
/// importance weights stay finite.
public struct PopularityLoggingPolicy: Sendable, Equatable, Codable {
  public var temperature: Float
  public var uniformShare: Float
  public let armCount: Int
  /// `β(a)` for each arm.
  public let propensities: [Float]

  public init(arms: Int, temperature: Float = 1, uniformShare: Float = 0.2) throws(ConfigurationError) {
    let check = ConfigurationCheck("PopularityLoggingPolicy")
    try check.positive("arms", arms)
    try check.positive("temperature", temperature)
    if !(uniformShare > 0 && uniformShare <= 1) {
      throw ConfigurationError(
        model: "PopularityLoggingPolicy", parameter: "uniformShare", value: uniformShare,
        requirement: "in (0, 1] (0 would give unshown arms propensity 0)")
    }
    self.temperature = temperature
    self.uniformShare = uniformShare
    armCount = arms
    let logits = (0..<arms).map { -Foundation.log(Float($0 + 1)) / temperature }
    let top = logits.max() ?? 0
    let weights = logits.map { Foundation.exp($0 - top) }
    let total = weights.reduce(0, +)
    propensities = weights.map { (1 - uniformShare) * $0 / total + uniformShare / Float(arms) }
  }

  /// A slate of `count` arms and each arm's logged propensity.
  public func slate(count: Int, generator: inout SeededGenerator) -> (arms: [Int], propensities: [Float]) {
    let arms = sampleWithoutReplacement(propensities, count: count, generator: &generator)
    return (arms, arms.map { propensities[$0] })
  }
}

/// Logged slates: one row per round, with the state the RL policies see, the slate, the logged
/// propensity of each shown arm and the click.
public struct SlateLog: Sendable, Equatable {
  public var stateWidth: Int
  public var armCount: Int
  /// `rounds × stateWidth`, row-major.
  public var states: [Float]
  public var slates: [[Int]]
  public var propensities: [[Float]]
  public var clickedPositions: [Int?]

  public var count: Int { slates.count }
  public var clickRate: Double {
    Double(clickedPositions.count { $0 != nil }) / Double(max(count, 1))
  }

  /// Runs `policy` for `rounds` rounds in a fresh session of `environment` with `seed` and
  /// records what it showed and what users clicked; states are built by a ``SlateUserHistory``
  /// with the given memories.
  public static func collect(
    _ policy: PopularityLoggingPolicy, environment: SlateEnvironment, rounds: Int, seed: UInt64,
    clickMemory: Float = 0.9, showMemory: Float = 0.5, usesMemories: Bool = true
  ) throws(SlateSimulationError) -> SlateLog {
    guard policy.armCount == environment.armCount else {
      throw .armCount(policy: "logging policy", arms: policy.armCount, poolSize: environment.armCount)
    }
    var session = SlateSession(environment: environment, seed: seed)
    var history = SlateUserHistory(
      environment: environment, clickMemory: clickMemory, showMemory: showMemory, usesMemories: usesMemories)
    var generator = SeededGenerator(seed: seed, stream: 0x106)
    var log = SlateLog(
      stateWidth: history.stateWidth, armCount: environment.armCount, states: [], slates: [], propensities: [],
      clickedPositions: [])
    log.states.reserveCapacity(max(rounds, 0) * history.stateWidth)
    for _ in 0..<max(rounds, 0) {
      let observation = session.observe()
      log.states += history.state(observation)
      let (slate, propensities) = policy.slate(count: environment.slateSize, generator: &generator)
      let feedback = try session.respond(slate: slate)
      history.record(feedback)
      log.slates.append(slate)
      log.propensities.append(propensities)
      log.clickedPositions.append(feedback.clickedPosition)
    }
    return log
  }
}

/// The logging policy as a slate agent, so it is measured online beside the learned policies.
public struct LoggingPolicyAgent: SlateAgent {
  public let policy: PopularityLoggingPolicy
  public let slateSize: Int
  public var name: String { "logging" }

  public init(policy: PopularityLoggingPolicy, slateSize: Int) {
    self.policy = policy
    self.slateSize = slateSize
  }

  public mutating func slate(
    for observation: SlateObservation, generator: inout SeededGenerator
  ) throws(SlateSimulationError) -> [Int] {
    policy.slate(count: slateSize, generator: &generator).arms
  }

  public mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {}
}

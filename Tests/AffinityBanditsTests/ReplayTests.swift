import AffinityBandits
import AffinityCore
import Foundation
import Testing

@Suite("Replay evaluation")
struct ReplayTests {
  /// Three user segments (context: the segment one-hot) and four arms whose click rates depend on
  /// the segment. Segments are equally likely, so arm 2 alone is worth 0.6, the best arm per
  /// segment 0.7, a uniformly random arm 4.4 / 12.
  struct Segments: BanditEnvironment {
    static let rates: [[Double]] = [
      [0.1, 0.2, 0.7, 0.3],
      [0.6, 0.1, 0.5, 0.2],
      [0.2, 0.8, 0.6, 0.1],
    ]
    let name = "segments"
    var armCount: Int { 4 }
    var contextDimension: Int { 3 }
    /// `user` carries the segment and the user's luck: `segment · 10⁶ + luck · 10⁶`.
    func draw(_ generator: inout SeededGenerator) -> (user: Int, context: [Double]) {
      let user = generator.nextInt(below: 3_000_000)
      var context = [0.0, 0, 0]
      context[user / 1_000_000] = 1
      return (user, context)
    }
    func reward(user: Int, arm: Int) -> Double {
      Double(user % 1_000_000) / 1_000_000 < Self.rates[user / 1_000_000][arm] ? 1 : 0
    }
    var bestFixedArmValue: Double { 0.6 }
    static func value(of arms: [Int]) -> Double { (0..<3).reduce(0) { $0 + rates[$1][arms[$1]] } / 3 }
  }

  /// Plays a fixed arm per segment (no randomness, no learning): its value is known exactly.
  struct SegmentRule: BanditPolicy {
    var name: String { "rule \(choice)" }
    var arms = ArmRegistry(count: 4)
    var choice: [Int]
    var contextDimension: Int? { 3 }
    var exploration: ExplorationRule { .greedy }
    func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
      let segment = context.firstIndex(of: 1) ?? 0
      return (0..<4).map { $0 == choice[segment] ? 1 : 0 }
    }
    mutating func learn(arm: Int, context: [Double], reward: Double) {}
    mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError) {}
    var isConsistent: Bool { true }
  }

  static let alwaysTwo = SegmentRule(choice: [2, 2, 2])
  static let oracle = SegmentRule(choice: [2, 0, 1])

  /// A log whose logging policy favours arm 2 in segment 0 (probability 0.7, the others 0.1) and
  /// is uniform elsewhere, with its true propensities.
  static func skewedLog(rounds: Int, seed: UInt64) throws -> ReplayLog {
    let world = Segments()
    var users = SeededGenerator(seed: seed, stream: 1)
    var arms = SeededGenerator(seed: seed, stream: 2)
    let events = (0..<rounds).map { _ in
      let (user, context) = world.draw(&users)
      let probabilities = context[0] == 1 ? [0.1, 0.1, 0.7, 0.1] : [0.25, 0.25, 0.25, 0.25]
      var u = arms.nextUniform()
      var arm = 3
      for (a, p) in probabilities.enumerated() {
        u -= p
        if u < 0 {
          arm = a
          break
        }
      }
      return ReplayEvent(context: context, action: arm, reward: world.reward(user: user, arm: arm), propensity: probabilities[arm])
    }
    return try ReplayLog(events: events, armCount: 4, source: "skewed log")
  }

  @Test func aFixedPolicysEstimateMatchesItsTrueValue() throws {
    let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 24_000, seed: 1)
    #expect(abs(log.meanReward - 4.4 / 12) < 0.01, "the log's own value is the random policy's")
    for rule in [Self.alwaysTwo, Self.oracle] {
      let truth = Segments.value(of: rule.choice)
      let result = try ReplayEvaluation.run({ rule }, on: log, seeds: [1])
      #expect(abs(result.accepted - 6_000) < 300, "about 1 event in 4 is accepted: \(result.accepted)")
      #expect(abs(result.meanReward - truth) < 0.02, "\(rule.name): \(result.meanReward) vs \(truth)")
      #expect(result.ciLow <= truth && truth <= result.ciHigh, "[\(result.ciLow), \(result.ciHigh)] holds \(truth)")
      #expect(result.loggedMeanReward == log.meanReward)
      #expect(result.curve.count == 100 && result.curve.last == result.meanReward)
    }
  }

  @Test func estimatesAreUnbiasedAndTheirIntervalsCoverAcrossLogs() throws {
    // 60 independent short logs: the estimates average to the truth and 95 % intervals mostly hold it.
    let truth = Segments.value(of: Self.alwaysTwo.choice)
    var estimates: [Double] = []
    var covered = 0
    for seed in 1...60 {
      let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 400, seed: UInt64(seed))
      let result = try ReplayEvaluation.run({ Self.alwaysTwo }, on: log, seeds: [1])
      estimates.append(result.meanReward)
      if result.ciLow <= truth && truth <= result.ciHigh { covered += 1 }
    }
    let mean = estimates.reduce(0, +) / Double(estimates.count)
    // Each estimate has about 100 accepted events: sd ≈ 0.049, so the mean of 60 has sd ≈ 0.0063.
    #expect(abs(mean - truth) < 0.02, "mean of 60 estimates \(mean) vs \(truth)")
    #expect(covered >= 51, "\(covered) of 60 intervals hold the truth")
  }

  @Test func learningPoliciesBeatRandomUnderReplay() throws {
    let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 24_000, seed: 2)
    let random = try ReplayEvaluation.run({ RandomPolicy(arms: 4) }, on: log, seeds: [1, 2])
    #expect(abs(random.meanReward - 4.4 / 12) < 0.03, "random: \(random.meanReward)")
    let contextFree: [() -> any BanditPolicy] = [
      { EpsilonGreedy(arms: 4, epsilon: 0.1) }, { UCB1(arms: 4, alpha: 0.5) }, { ThompsonSampling(arms: 4) },
    ]
    for make in contextFree {
      let result = try ReplayEvaluation.run(make, on: log, seeds: [1, 2])
      #expect(result.meanReward > 0.52, "\(result.policy) finds arm 2 (0.6): \(result.meanReward)")
      #expect(result.ciLow > random.ciHigh, "\(result.policy) beats random beyond the intervals")
    }
    let linear = try ReplayEvaluation.run({ LinUCB(arms: 4, dimension: 3, alpha: 0.5) }, on: log, seeds: [1, 2])
    #expect(linear.meanReward > 0.62, "linucb uses the segment (oracle 0.7): \(linear.meanReward)")
  }

  @Test func theSameSeedsGiveTheSameResult() throws {
    let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 4_000, seed: 3)
    let make: () -> any BanditPolicy = { ThompsonSampling(arms: 4) }
    let first = try ReplayEvaluation.run(make, on: log, seeds: [4, 5])
    let again = try ReplayEvaluation.run(make, on: log, seeds: [4, 5])
    #expect(first.meanReward == again.meanReward)
    #expect(first.acceptedPerSeed == again.acceptedPerSeed)
    #expect(first.curve == again.curve)
    let other = try ReplayEvaluation.run(make, on: log, seeds: [6, 7])
    #expect(other.acceptedPerSeed != first.acceptedPerSeed, "other seeds, other draws")
    #expect(first.seedLow <= first.meanReward && first.meanReward <= first.seedHigh)
    let sameLog = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 4_000, seed: 3)
    #expect(sameLog.events == log.events, "the logging is seeded too")
  }

  @Test func aNonUniformLogIsRefusedAndPointsToOPE() throws {
    let log = try Self.skewedLog(rounds: 2_000, seed: 1)
    let error = #expect(throws: ReplayError.self) {
      try ReplayEvaluation.run({ Self.alwaysTwo }, on: log, seeds: [1])
    }
    #expect(
      error?.description
        == "skewed log: replay is unbiased only for uniformly random logging (every propensity 1/4 = 0.25), but the logged propensities range from 0.1 to 0.7; estimate this log with `affinity ope` (IPS, DR), or opt into rejection sampling (`--rejection-sampling`), which keeps only a fraction of about 0.1 of the events"
    )
    // A constant propensity over the wrong number of arms is not uniform logging over these arms.
    let thirds = try ReplayLog(
      events: [ReplayEvent(context: [1, 0, 0], action: 0, reward: 1, propensity: 1.0 / 3)], armCount: 4, source: "thirds")
    #expect(throws: ReplayError.propensityArmMismatch(source: "thirds", propensity: 1.0 / 3, armCount: 4)) {
      try ReplayEvaluation.run({ Self.alwaysTwo }, on: thirds, seeds: [1])
    }
  }

  @Test func rejectionSamplingCorrectsANonUniformLog() throws {
    let log = try Self.skewedLog(rounds: 30_000, seed: 2)
    let truth = Segments.value(of: Self.alwaysTwo.choice)
    // Dropping the propensities hides the skew; plain replay is then biased towards segment 0.
    let blind = try ReplayLog(
      events: log.events.map { ReplayEvent(context: $0.context, action: $0.action, reward: $0.reward) }, armCount: 4,
      source: "skewed log without propensities")
    let naive = try ReplayEvaluation.run({ Self.alwaysTwo }, on: blind, seeds: [1])
    #expect(abs(naive.meanReward - 0.6375) < 0.015, "biased: \(naive.meanReward) (expected 0.6375)")
    let corrected = try ReplayEvaluation.run(
      { Self.alwaysTwo }, on: log, seeds: [1, 2, 3], options: .init(method: .rejectionSampling))
    #expect(corrected.minimumPropensity == 0.1)
    #expect(abs(corrected.accepted - 3_000) < 250, "keeps about p_min · events: \(corrected.accepted)")
    #expect(abs(corrected.meanReward - truth) < 0.025, "\(corrected.meanReward) vs \(truth)")
    #expect(corrected.method == .rejectionSampling)
  }

  @Test func badLogsAndMismatchedPoliciesGiveTypedErrors() throws {
    #expect(throws: ReplayError.empty(source: "nothing")) { try ReplayLog(events: [], armCount: 4, source: "nothing") }
    let outOfRange = #expect(throws: ReplayError.self) {
      try ReplayLog(events: [ReplayEvent(context: [], action: 4, reward: 0)], armCount: 4, source: "log.csv")
    }
    #expect(outOfRange?.description == "log.csv: event 0 has action 4; expected an arm in 0..<4")
    #expect(
      throws: ReplayError.invalidEvent(
        source: "log.csv", event: 0, field: "propensity", value: "0.0", expected: "a probability in (0, 1]")
    ) {
      try ReplayLog(events: [ReplayEvent(context: [], action: 1, reward: 0, propensity: 0)], armCount: 4, source: "log.csv")
    }
    let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 200, seed: 1)
    let arms = #expect(throws: ReplayError.self) { try ReplayEvaluation.run({ UCB1(arms: 5) }, on: log, seeds: [1]) }
    #expect(arms?.description == "ucb1: the policy has 5 arms but the log has 4; build the policy with the log's arms")
    #expect(
      throws: ReplayError.policy(.contextDimension(policy: "linucb", expected: 2, received: 3))
    ) { try ReplayEvaluation.run({ LinUCB(arms: 4, dimension: 2) }, on: log, seeds: [1]) }
    let unlogged = try ReplayLog(events: [ReplayEvent(context: [], action: 1, reward: 0)], armCount: 4, source: "u")
    #expect(throws: ReplayError.missingPropensity(source: "u", event: 0)) {
      try ReplayEvaluation.run({ UCB1(arms: 4) }, on: unlogged, seeds: [1], options: .init(method: .rejectionSampling))
    }
    let one = try ReplayLog(events: [ReplayEvent(context: [1, 0, 0], action: 0, reward: 1)], armCount: 4, source: "one")
    let none = #expect(throws: ReplayError.self) { try ReplayEvaluation.run({ Self.alwaysTwo }, on: one, seeds: [1]) }
    #expect(
      none?.description
        == "rule [2, 2, 2]: no event of one was accepted (seed 1); replay keeps a fraction of about 0.25 of the events, 0.25 of these 1, so it needs a longer log"
    )
  }

  @Test func resultsEncodeWithSnakeCaseKeys() throws {
    let log = try ReplayLog.uniformlyLogged(on: Segments(), rounds: 400, seed: 1)
    let result = try ReplayEvaluation.run({ Self.alwaysTwo }, on: log, seeds: [1], options: .init(checkpoints: 4))
    let text = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
    for key in ["\"mean_reward\"", "\"ci_low\"", "\"seed_ci_high\"", "\"logged_mean_reward\"", "\"accepted_per_seed\""] {
      #expect(text.contains(key), "\(key) in \(text)")
    }
    #expect(!text.contains("min_propensity"), "absent for uniform replay")
    #expect(result.curve.count == 4)
  }
}

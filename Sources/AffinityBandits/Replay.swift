import AffinityCore
import Foundation

/// One logged decision for replay: the context the logging policy saw, the arm it played, the
/// reward that arm earned and, when the log records it, the probability with which it was played.
public struct ReplayEvent: Sendable, Equatable, Codable {
  public var context: [Double]
  public var action: Int
  public var reward: Double
  /// The logging policy's probability of `action` in this context; nil when the log has none.
  public var propensity: Double?

  public init(context: [Double], action: Int, reward: Double, propensity: Double? = nil) {
    self.context = context
    self.action = action
    self.reward = reward
    self.propensity = propensity
  }
}

/// Why a replay could not run: a malformed log, a log that was not logged uniformly at random, a
/// policy that does not fit the log, or too few accepted events.
public enum ReplayError: Error, Equatable, CustomStringConvertible {
  case empty(source: String)
  case invalidArmCount(source: String, armCount: Int)
  case invalidEvent(source: String, event: Int, field: String, value: String, expected: String)
  case contextWidth(source: String, event: Int, expected: Int, received: Int)
  case nonUniformLogging(source: String, minimum: Double, maximum: Double, armCount: Int)
  case propensityArmMismatch(source: String, propensity: Double, armCount: Int)
  case missingPropensity(source: String, event: Int)
  case armCountMismatch(policy: String, policyArms: Int, logArms: Int)
  case nothingAccepted(policy: String, source: String, events: Int, keptFraction: Double, seed: UInt64)
  case invalidOption(name: String, value: String, expected: String)
  case policy(BanditError)

  public var description: String {
    switch self {
    case .empty(let source):
      "\(source): the log has no events; replay needs logged decisions"
    case .invalidArmCount(let source, let armCount):
      "\(source): the arm count must be ≥ 1; got \(armCount)"
    case .invalidEvent(let source, let event, let field, let value, let expected):
      "\(source): event \(event) has \(field) \(value); expected \(expected)"
    case .contextWidth(let source, let event, let expected, let received):
      "\(source): event \(event) has a context of \(received) values, event 0 has \(expected); every context must have the same width"
    case .nonUniformLogging(let source, let minimum, let maximum, let armCount):
      "\(source): replay is unbiased only for uniformly random logging (every propensity 1/\(armCount) = \(Self.format(1 / Double(armCount)))), but the logged propensities range from \(Self.format(minimum)) to \(Self.format(maximum)); estimate this log with `affinity ope` (IPS, DR), or opt into rejection sampling (`--rejection-sampling`), which keeps only a fraction of about \(Self.format(minimum)) of the events"
    case .propensityArmMismatch(let source, let propensity, let armCount):
      "\(source): every logged propensity is \(Self.format(propensity)), uniform over \(Int((1 / propensity).rounded())) arms, but the log and the policies have \(armCount) arms (1/\(armCount) = \(Self.format(1 / Double(armCount)))); replay the arms the logging policy chose among, or use `affinity ope` (IPS, DR)"
    case .missingPropensity(let source, let event):
      "\(source): event \(event) has no propensity; rejection sampling needs the logging policy's propensity of every event"
    case .armCountMismatch(let policy, let policyArms, let logArms):
      "\(policy): the policy has \(policyArms) arms but the log has \(logArms); build the policy with the log's arms"
    case .nothingAccepted(let policy, let source, let events, let keptFraction, let seed):
      "\(policy): no event of \(source) was accepted (seed \(seed)); replay keeps a fraction of about \(Self.format(keptFraction)) of the events, \(Self.format(keptFraction * Double(events))) of these \(events), so it needs a longer log"
    case .invalidOption(let name, let value, let expected):
      "replay \(name) must be \(expected); got \(value)"
    case .policy(let error):
      error.description
    }
  }

  static func format(_ value: Double) -> String { String(format: "%.6g", value) }
}

/// A log of bandit decisions to replay, checked: every action an arm, every reward finite, every
/// propensity (where present) in (0, 1], every context the same width.
public struct ReplayLog: Sendable {
  public let events: [ReplayEvent]
  public let armCount: Int
  public let contextWidth: Int
  /// Where the events came from, for messages (a file path, `movielens uniform log`).
  public let source: String

  public init(events: [ReplayEvent], armCount: Int, source: String) throws(ReplayError) {
    guard !events.isEmpty else { throw .empty(source: source) }
    guard armCount >= 1 else { throw .invalidArmCount(source: source, armCount: armCount) }
    let width = events[0].context.count
    for (k, event) in events.enumerated() {
      guard (0..<armCount).contains(event.action) else {
        throw .invalidEvent(
          source: source, event: k, field: "action", value: "\(event.action)", expected: "an arm in 0..<\(armCount)")
      }
      guard event.reward.isFinite else {
        throw .invalidEvent(
          source: source, event: k, field: "reward", value: "\(event.reward)", expected: "a finite number")
      }
      if let p = event.propensity, !(p > 0 && p <= 1) {
        throw .invalidEvent(
          source: source, event: k, field: "propensity", value: "\(p)", expected: "a probability in (0, 1]")
      }
      guard event.context.count == width else {
        throw .contextWidth(source: source, event: k, expected: width, received: event.context.count)
      }
    }
    self.events = events
    self.armCount = armCount
    contextWidth = width
    self.source = source
  }

  /// The logging policy's own value: its mean reward.
  public var meanReward: Double { events.reduce(0) { $0 + $1.reward } / Double(events.count) }

  /// The 95 % interval of ``meanReward`` (Wilson's for rewards in [0, 1], else the normal one).
  public var meanRewardInterval: (low: Double, high: Double) {
    let mean = meanReward
    let squares = events.reduce(0) { $0 + $1.reward * $1.reward } / Double(events.count)
    let bounded = events.allSatisfy { $0.reward >= 0 && $0.reward <= 1 }
    return ReplayEvaluation.interval(mean: mean, meanSquare: squares, count: Double(events.count), bounded: bounded)
  }

  /// The smallest and largest logged propensity, nil when the log records none.
  public var propensityRange: (minimum: Double, maximum: Double)? {
    let known = events.compactMap(\.propensity)
    guard let low = known.min(), let high = known.max() else { return nil }
    return (low, high)
  }

  /// Checks that the log could have come from uniformly random logging: every recorded propensity
  /// equal to `1 / armCount` within `tolerance` (relative). A log without propensities passes:
  /// the caller vouches for it.
  public func checkUniformLogging(tolerance: Double = 0.01) throws(ReplayError) {
    guard let (low, high) = propensityRange else { return }
    if high > low * (1 + tolerance) {
      throw .nonUniformLogging(source: source, minimum: low, maximum: high, armCount: armCount)
    }
    let uniform = 1 / Double(armCount)
    if abs(low - uniform) > tolerance * uniform || abs(high - uniform) > tolerance * uniform {
      throw .propensityArmMismatch(source: source, propensity: low, armCount: armCount)
    }
  }

  /// A log written by the uniformly random policy on `environment`: each of `rounds` rounds draws
  /// a user, plays a uniformly random arm (propensity 1/arms) and records its reward. The draws use
  /// their own streams of `seed`, not those of ``BanditSimulation`` or the replay.
  public static func uniformlyLogged(
    on environment: any BanditEnvironment, rounds: Int, seed: UInt64, source: String? = nil
  ) throws(ReplayError) -> ReplayLog {
    let name = source ?? "\(environment.name) uniform log (seed \(seed))"
    guard rounds >= 1 else { throw .empty(source: name) }
    var users = SeededGenerator(seed: seed, stream: 95)
    var arms = SeededGenerator(seed: seed, stream: 96)
    let propensity = 1 / Double(environment.armCount)
    var events: [ReplayEvent] = []
    events.reserveCapacity(rounds)
    for _ in 0..<rounds {
      let (user, context) = environment.draw(&users)
      let arm = arms.nextInt(below: environment.armCount)
      events.append(
        ReplayEvent(
          context: context, action: arm, reward: environment.reward(user: user, arm: arm), propensity: propensity))
    }
    return try ReplayLog(events: events, armCount: environment.armCount, source: name)
  }
}

/// How replay decides which matching events to keep.
public enum ReplayMethod: String, Sendable, Codable, CaseIterable {
  /// Li et al.'s replay: keep every event whose logged arm is the policy's arm. Unbiased only for
  /// uniformly random logging, which is checked against the logged propensities.
  case uniform
  /// The generalisation to known, non-uniform propensities: keep a matching event with
  /// probability `p_min / p`, `p_min` the smallest logged propensity.
  case rejectionSampling = "rejection-sampling"
}

/// Settings of a replay run.
public struct ReplayOptions: Sendable, Equatable {
  public var method: ReplayMethod
  /// Relative tolerance of the uniform-logging check.
  public var propensityTolerance: Double
  /// Points of the running-estimate curve, evenly spaced through the log.
  public var checkpoints: Int

  public init(method: ReplayMethod = .uniform, propensityTolerance: Double = 0.01, checkpoints: Int = 100) {
    self.method = method
    self.propensityTolerance = propensityTolerance
    self.checkpoints = checkpoints
  }

  public func validate() throws(ReplayError) {
    guard propensityTolerance >= 0 && propensityTolerance.isFinite else {
      throw .invalidOption(name: "propensityTolerance", value: "\(propensityTolerance)", expected: "a finite number ≥ 0")
    }
    guard checkpoints >= 1 else {
      throw .invalidOption(name: "checkpoints", value: "\(checkpoints)", expected: "≥ 1")
    }
  }
}

/// The replay estimate of one policy over several seeds.
public struct ReplayResult: Sendable, Codable {
  public var policy: String
  public var method: ReplayMethod
  /// Events in the log (all streamed; only the accepted ones count).
  public var events: Int
  public var seeds: Int
  /// Accepted events per seed; each seed's estimate is the mean reward over its accepted events.
  public var acceptedPerSeed: [Int]
  /// The mean of ``acceptedPerSeed``.
  public var accepted: Double
  /// The replay estimate of the policy's mean reward (its CTR for click rewards): the mean over
  /// seeds of each seed's mean reward over accepted events.
  public var meanReward: Double
  /// 95 % interval from the log's sampling error: Wilson's at `n = accepted` when every logged
  /// reward lies in [0, 1] (conservative for non-binary ones), else the normal interval of the
  /// pooled variance. It treats the accepted rewards as independent: exact for a fixed policy,
  /// too narrow for a learning one, whose path also depends on the log (on MovieLens, UCB1's
  /// estimate moved about twice the half-width between logs; see docs/benchmarks/replay.md).
  public var ciLow: Double
  public var ciHigh: Double
  /// 95 % t-interval of the per-seed estimates (clipped to [0, 1] for rewards in [0, 1]): the
  /// policy's own randomness only. The seeds replay the same log, so this leaves out the log's
  /// sampling error.
  public var seedLow: Double
  public var seedHigh: Double
  /// The logging policy's mean reward over the whole log.
  public var loggedMeanReward: Double
  /// `p_min` of rejection sampling; nil for ``ReplayMethod/uniform``.
  public var minimumPropensity: Double?
  /// The running estimate at evenly spaced points through the log: accepted rewards so far over
  /// accepted events so far, pooled over seeds (0 before the first accepted event).
  public var curve: [Double]
  public var seconds: Double

  enum CodingKeys: String, CodingKey {
    case policy, method, events, seeds, accepted, curve, seconds
    case acceptedPerSeed = "accepted_per_seed"
    case meanReward = "mean_reward"
    case ciLow = "ci_low"
    case ciHigh = "ci_high"
    case seedLow = "seed_ci_low"
    case seedHigh = "seed_ci_high"
    case loggedMeanReward = "logged_mean_reward"
    case minimumPropensity = "min_propensity"
  }
}

/// Replay evaluation of a bandit policy on a logged data set (Li, Chu, Langford & Wang 2011).
///
/// The log is streamed in order. At each event the policy chooses an arm for the logged context;
/// if it is the logged arm the event is *accepted*: its reward counts and the policy learns from
/// it; otherwise the event is skipped and the policy does not see it. The estimate is
/// `V̂ = Σ_t r_t 1[π(x_t) = a_t] / Σ_t 1[π(x_t) = a_t]`.
///
/// When the logging policy chose uniformly among `K` arms, each event is accepted with
/// probability `1/K` whatever the policy does, the accepted events are distributed as if the
/// policy had run online, and `V̂` is unbiased for a fixed policy; a learning policy's estimate
/// is that of an online run of about `events/K` rounds (Li et al., Theorem 1). Other logs are
/// refused (``ReplayError/nonUniformLogging(source:minimum:maximum:armCount:)``) unless the
/// caller opts into ``ReplayMethod/rejectionSampling``: a matching event is then kept with
/// probability `p_min / p(a_t | x_t)`, which makes every kept event as likely as under uniform
/// logging at rate `p_min`. That needs the propensity of every event, support for every arm in
/// every context, and `p_min` at most the smallest propensity the logger could use (the log's
/// smallest is taken); it keeps about `p_min · events` events.
///
/// Cost: one `decide` per event and one `update` per accepted event, per seed.
public enum ReplayEvaluation {
  /// Replays a fresh policy from `makePolicy` over `log` once per seed. Seed `s` drives the
  /// policy's draws (stream 92, as in ``BanditSimulation``) and rejection sampling (stream 93).
  public static func run(
    _ makePolicy: () -> any BanditPolicy, on log: ReplayLog, seeds: [UInt64], options: ReplayOptions = .init()
  ) throws(ReplayError) -> ReplayResult {
    try options.validate()
    guard !seeds.isEmpty else { throw .invalidOption(name: "seeds", value: "[]", expected: "at least one seed") }
    var minimumPropensity: Double?
    switch options.method {
    case .uniform:
      try log.checkUniformLogging(tolerance: options.propensityTolerance)
    case .rejectionSampling:
      if let missing = log.events.firstIndex(where: { $0.propensity == nil }) {
        throw .missingPropensity(source: log.source, event: missing)
      }
      minimumPropensity = log.propensityRange?.minimum
    }
    let start = Date()
    let checkpoints = options.checkpoints
    let n = log.events.count
    var name = ""
    var acceptedPerSeed: [Int] = []
    var estimates: [Double] = []
    var squares: [Double] = []
    let bounded = log.events.allSatisfy { $0.reward >= 0 && $0.reward <= 1 }
    var curveRewards = [Double](repeating: 0, count: checkpoints)
    var curveAccepted = [Double](repeating: 0, count: checkpoints)
    for seed in seeds {
      var policy = makePolicy()
      name = policy.name
      guard policy.armCount == log.armCount else {
        throw .armCountMismatch(policy: policy.name, policyArms: policy.armCount, logArms: log.armCount)
      }
      var choices = SeededGenerator(seed: seed, stream: 92)
      var coins = SeededGenerator(seed: seed, stream: 93)
      var accepted = 0
      var total = 0.0
      var totalSquares = 0.0
      var next = 0
      for (t, event) in log.events.enumerated() {
        let choice: BanditChoice
        do throws(BanditError) {
          choice = try policy.decide(context: event.context, generator: &choices)
        } catch {
          throw .policy(error)
        }
        var keep = choice.arm == event.action
        if keep, let minimumPropensity, let p = event.propensity {
          keep = coins.nextUniform() < minimumPropensity / p
        }
        if keep {
          accepted += 1
          total += event.reward
          totalSquares += event.reward * event.reward
          do throws(BanditError) {
            try policy.update(arm: event.action, context: event.context, reward: event.reward)
          } catch {
            throw .policy(error)
          }
        }
        while next < checkpoints && (t + 1) * checkpoints >= (next + 1) * n {
          curveRewards[next] += total
          curveAccepted[next] += Double(accepted)
          next += 1
        }
      }
      guard accepted > 0 else {
        let kept = minimumPropensity ?? 1 / Double(log.armCount)
        throw .nothingAccepted(policy: name, source: log.source, events: n, keptFraction: kept, seed: seed)
      }
      acceptedPerSeed.append(accepted)
      estimates.append(total / Double(accepted))
      squares.append(totalSquares / Double(accepted))
    }
    let k = Double(seeds.count)
    let mean = estimates.reduce(0, +) / k
    let meanAccepted = Double(acceptedPerSeed.reduce(0, +)) / k
    let (low, high) = interval(mean: mean, meanSquare: squares.reduce(0, +) / k, count: meanAccepted, bounded: bounded)
    let variance = seeds.count > 1 ? estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (k - 1) : 0
    let half = BanditSimulation.studentT975(degrees: seeds.count - 1) * (variance / k).squareRoot()
    let (seedLow, seedHigh) = bounded ? (max(mean - half, 0), min(mean + half, 1)) : (mean - half, mean + half)
    let curve = zip(curveRewards, curveAccepted).map { $1 > 0 ? $0 / $1 : 0 }
    return ReplayResult(
      policy: name, method: options.method, events: n, seeds: seeds.count, acceptedPerSeed: acceptedPerSeed,
      accepted: meanAccepted, meanReward: mean, ciLow: low, ciHigh: high, seedLow: seedLow, seedHigh: seedHigh,
      loggedMeanReward: log.meanReward, minimumPropensity: minimumPropensity, curve: curve,
      seconds: Date().timeIntervalSince(start))
  }

  /// The 95 % interval of a mean of `count` rewards: Wilson's score interval when they lie in
  /// [0, 1] (their variance is then at most `p(1 − p)`), else the normal interval with the
  /// sample variance `meanSquare − mean²`.
  static func interval(mean: Double, meanSquare: Double, count: Double, bounded: Bool) -> (low: Double, high: Double) {
    guard count > 0 else { return (mean, mean) }
    let z = 1.959964
    if bounded {
      let p = min(max(mean, 0), 1)
      let z2n = z * z / count
      let centre = (p + z2n / 2) / (1 + z2n)
      let half = z / (1 + z2n) * (p * (1 - p) / count + z2n / (4 * count)).squareRoot()
      return (max(centre - half, 0), min(centre + half, 1))
    }
    let variance = max(meanSquare - mean * mean, 0) * count / max(count - 1, 1)
    let half = z * (variance / count).squareRoot()
    return (mean - half, mean + half)
  }
}

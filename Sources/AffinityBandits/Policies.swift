public import AffinityCore
import AffinityLinalg
import Foundation

/// One arm chosen by a policy, with the probability that the policy puts it there (its
/// propensity, for off-policy evaluation of the logs it writes).
///
/// In a slate the propensity is the marginal probability that the arm is shown at that position
/// (the convention of the Open Bandit Dataset's `pscore`): exact where the policy allows, else a
/// seeded Monte-Carlo estimate, NaN when the estimate was switched off.
public struct BanditChoice: Sendable, Equatable, Codable {
  public var arm: Int
  public var propensity: Double

  public init(arm: Int, propensity: Double) {
    self.arm = arm
    self.propensity = propensity
  }
}

/// One logged outcome for batch updates.
public struct BanditEvent: Sendable, Equatable, Codable {
  public var arm: Int
  public var context: [Double]
  public var reward: Double

  public init(arm: Int, context: [Double] = [], reward: Double) {
    self.arm = arm
    self.context = context
    self.reward = reward
  }
}

/// How a policy turns its per-arm scores into a choice.
public enum ExplorationRule: Sendable, Equatable {
  /// The best score wins; ties are broken uniformly at random.
  case greedy
  /// With probability ε a uniformly random remaining arm, else the best remaining one.
  case epsilon(Double)
  /// Plackett–Luce sampling with weights `exp(score / τ)`.
  case softmax(temperature: Double)
  /// The scores are themselves a random draw (Thompson sampling); the best wins. The propensity
  /// of a single choice is estimated from `propensitySamples` further draws (0: reported as NaN).
  case sampled(propensitySamples: Int)
}

/// Bad input to a policy: a context of the wrong width, an arm it does not have, a slate larger
/// than its live arms, a parameter out of range.
public enum BanditError: Error, Equatable, CustomStringConvertible {
  case contextDimension(policy: String, expected: Int, received: Int)
  case unknownArm(policy: String, arm: Int, armCount: Int)
  case slateSize(policy: String, requested: Int, activeArms: Int)
  case armFeatures(policy: String, expected: Int, received: Int)
  case missingArmFeatures(policy: String)
  case invalidParameter(policy: String, name: String, value: Double, expected: String)

  public var description: String {
    switch self {
    case .contextDimension(let policy, let expected, let received):
      "\(policy): the context has \(received) values but the policy was built for \(expected); pass the same features, in the same order, at every decision"
    case .unknownArm(let policy, let arm, let armCount):
      "\(policy): arm \(arm) does not exist; arms are 0..<\(armCount) (add arms with addArm)"
    case .slateSize(let policy, let requested, let activeArms):
      "\(policy): a slate of \(requested) needs at least that many live arms, the policy has \(activeArms); ask for 1…\(activeArms)"
    case .armFeatures(let policy, let expected, let received):
      "\(policy): the arm's feature vector has \(received) values, the other arms have \(expected)"
    case .missingArmFeatures(let policy):
      "\(policy): this policy needs a feature vector for every arm"
    case .invalidParameter(let policy, let name, let value, let expected):
      "\(policy): \(name) = \(value) is invalid; expected \(expected)"
    }
  }
}

/// The arms a policy knows: which are live (a removed arm keeps its index, so logs stay valid,
/// but is never chosen again) and, where given, each arm's feature vector.
public struct ArmRegistry: Sendable, Codable, Equatable {
  public private(set) var active: [Bool]
  public private(set) var features: [[Double]?]

  public init(count: Int, features: [[Double]]? = nil) {
    active = [Bool](repeating: true, count: count)
    self.features = features.map { $0.map(Optional.some) } ?? [[Double]?](repeating: nil, count: count)
  }

  public var count: Int { active.count }
  public var activeArms: [Int] { active.indices.filter { active[$0] } }
  var featureDimension: Int? { features.lazy.compactMap { $0?.count }.first }

  mutating func append(features vector: [Double]?) {
    active.append(true)
    features.append(vector)
  }

  mutating func retire(_ arm: Int) { active[arm] = false }

  /// Up to `limit` live arms most cosine-similar to `vector` (similarity > 0), weights summing to 1.
  func neighbours(of vector: [Double], limit: Int = 3) -> [(arm: Int, weight: Double)] {
    let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard norm > 0 else { return [] }
    var similar: [(arm: Int, weight: Double)] = []
    for arm in activeArms {
      guard let other = features[arm], other.count == vector.count else { continue }
      let otherNorm = other.reduce(0) { $0 + $1 * $1 }.squareRoot()
      guard otherNorm > 0 else { continue }
      let cosine = zip(vector, other).reduce(0) { $0 + $1.0 * $1.1 } / (norm * otherNorm)
      if cosine > 1e-9 { similar.append((arm, cosine)) }
    }
    similar.sort { $0.weight > $1.weight || ($0.weight == $1.weight && $0.arm < $1.arm) }
    let top = similar.prefix(limit)
    let total = top.reduce(0) { $0 + $1.weight }
    return top.map { ($0.arm, $0.weight / total) }
  }
}

/// A bandit policy: scores the arms for a context, chooses by its exploration rule, learns from
/// rewards.
///
/// Policies are values: `decide` takes the random generator, so a run is reproducible for a
/// seed, and `update` mutates the statistics. Context-free policies ignore the context. A policy
/// implements the four requirements below; choosing slates, propensities, validation, batch
/// updates and adding or removing arms come from the protocol's extension.
public protocol BanditPolicy: Sendable, Codable {
  /// A short name for reports (`epsilon-greedy`, `linucb`).
  var name: String { get }
  var arms: ArmRegistry { get set }
  /// The context width a linear policy was built for; nil for context-free policies.
  var contextDimension: Int? { get }
  var exploration: ExplorationRule { get }
  /// One score per arm (index order, retired arms included); a random draw for sampled rules.
  func scores(context: [Double], generator: inout SeededGenerator) -> [Double]
  /// Learns from one reward; `arm` and `context` are already validated.
  mutating func learn(arm: Int, context: [Double], reward: Double)
  /// Learns from a batch of validated events (default: one at a time).
  mutating func learn(batch: [BanditEvent])
  /// Appends statistics for a new arm, warm-started from its most similar live arms (weights sum
  /// to 1; empty for a cold start).
  mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError)
  /// Whether the statistics have the sizes the arms and dimension imply (checked on load).
  var isConsistent: Bool { get }
}

extension BanditPolicy {
  public var armCount: Int { arms.count }

  public mutating func learn(batch: [BanditEvent]) {
    for event in batch { learn(arm: event.arm, context: event.context, reward: event.reward) }
  }

  func validate(context: [Double]) throws(BanditError) {
    if let d = contextDimension, context.count != d {
      throw .contextDimension(policy: name, expected: d, received: context.count)
    }
  }

  func validate(arm: Int) throws(BanditError) {
    guard arm >= 0 && arm < arms.count else { throw .unknownArm(policy: name, arm: arm, armCount: arms.count) }
  }

  /// Learns from the reward of `arm` in `context`.
  public mutating func update(arm: Int, context: [Double], reward: Double) throws(BanditError) {
    try validate(arm: arm)
    try validate(context: context)
    guard reward.isFinite else { throw .invalidParameter(policy: name, name: "reward", value: reward, expected: "a finite number") }
    learn(arm: arm, context: context, reward: reward)
  }

  /// Learns from a batch of events at once (linear policies refactorise once per arm, not per event).
  public mutating func update(_ events: [BanditEvent]) throws(BanditError) {
    for event in events {
      try validate(arm: event.arm)
      try validate(context: event.context)
      guard event.reward.isFinite else {
        throw .invalidParameter(policy: name, name: "reward", value: event.reward, expected: "a finite number")
      }
    }
    learn(batch: events)
  }

  /// Adds an arm while running and returns its index. With `features` (and other arms that have
  /// features) its statistics start from its most similar live arms, damped to a few
  /// pseudo-observations, instead of from nothing.
  @discardableResult
  public mutating func addArm(features: [Double]? = nil) throws(BanditError) -> Int {
    var neighbours: [(arm: Int, weight: Double)] = []
    if let features {
      if let d = arms.featureDimension, d != features.count {
        throw .armFeatures(policy: name, expected: d, received: features.count)
      }
      neighbours = arms.neighbours(of: features)
    }
    try appendArmStatistics(features: features, neighbours: neighbours)
    arms.append(features: features)
    return arms.count - 1
  }

  /// Stops choosing `arm`; its index and statistics stay so that logged decisions remain valid.
  public mutating func removeArm(_ arm: Int) throws(BanditError) {
    try validate(arm: arm)
    arms.retire(arm)
  }

  /// The arm to play for `context`, with its propensity.
  public func decide(context: [Double], generator: inout SeededGenerator) throws(BanditError) -> BanditChoice {
    try validate(context: context)
    let live = arms.activeArms
    guard !live.isEmpty else { throw .slateSize(policy: name, requested: 1, activeArms: 0) }
    let s = scores(context: context, generator: &generator)
    switch exploration {
    case .greedy:
      let best = Self.best(live, s)
      return BanditChoice(arm: best[generator.nextInt(below: best.count)], propensity: 1 / Double(best.count))
    case .epsilon(let e):
      let best = Self.best(live, s)
      let arm = generator.nextUniform() < e ? live[generator.nextInt(below: live.count)] : best[generator.nextInt(below: best.count)]
      let propensity = e / Double(live.count) + (best.contains(arm) ? (1 - e) / Double(best.count) : 0)
      return BanditChoice(arm: arm, propensity: propensity)
    case .softmax(let temperature):
      let p = Self.softmax(live, s, temperature)
      var u = generator.nextUniform()
      for (k, arm) in live.enumerated() {
        u -= p[k]
        if u < 0 { return BanditChoice(arm: arm, propensity: p[k]) }
      }
      return BanditChoice(arm: live[live.count - 1], propensity: p[live.count - 1])
    case .sampled(let samples):
      let arm = Self.best(live, s).first ?? live[0]
      guard samples > 0 else { return BanditChoice(arm: arm, propensity: .nan) }
      var hits = 0
      for _ in 0..<samples where (Self.best(live, scores(context: context, generator: &generator)).first ?? live[0]) == arm {
        hits += 1
      }
      return BanditChoice(arm: arm, propensity: Double(hits) / Double(samples))
    }
  }

  /// A ranked slate of `slateSize` distinct live arms with each position's propensity: the exact
  /// marginal probability for greedy rules and for the first position of ε-greedy and softmax, a
  /// Monte-Carlo estimate from `propensitySamples` seeded re-draws otherwise (0: NaN).
  public func decide(
    context: [Double], slateSize: Int, generator: inout SeededGenerator, propensitySamples: Int = 1_000
  ) throws(BanditError) -> [BanditChoice] {
    try validate(context: context)
    let live = arms.activeArms
    guard slateSize >= 1 && slateSize <= live.count else {
      throw .slateSize(policy: name, requested: slateSize, activeArms: live.count)
    }
    if slateSize == 1 { return [try decide(context: context, generator: &generator)] }
    let s = scores(context: context, generator: &generator)
    let slate = Self.rank(live, s, exploration, slateSize, &generator)
    var propensities = [Double](repeating: .nan, count: slateSize)
    switch exploration {
    case .greedy:
      for (p, arm) in slate.enumerated() { propensities[p] = 1 / Double(live.filter { s[$0] == s[arm] }.count) }
      return zip(slate, propensities).map { BanditChoice(arm: $0, propensity: $1) }
    case .epsilon(let e):
      let best = Self.best(live, s)
      propensities[0] = e / Double(live.count) + (best.contains(slate[0]) ? (1 - e) / Double(best.count) : 0)
    case .softmax(let temperature):
      propensities[0] = Self.softmax(live, s, temperature)[live.firstIndex(of: slate[0]) ?? 0]
    case .sampled:
      break
    }
    if propensitySamples > 0 {
      // A child stream: the estimate does not change the decisions that follow.
      var estimate = SeededGenerator(seed: generator.next(), stream: 0x5EED)
      var hits = [Int](repeating: 0, count: slateSize)
      let resample: Bool = if case .sampled = exploration { true } else { false }
      for _ in 0..<propensitySamples {
        let drawn = resample ? scores(context: context, generator: &estimate) : s
        let other = Self.rank(live, drawn, exploration, slateSize, &estimate)
        for p in 0..<slateSize where other[p] == slate[p] { hits[p] += 1 }
      }
      for p in 0..<slateSize where propensities[p].isNaN || p > 0 {
        propensities[p] = Double(hits[p]) / Double(propensitySamples)
      }
    }
    return zip(slate, propensities).map { BanditChoice(arm: $0, propensity: $1) }
  }

  /// The live arms tied at the best score, lowest index first.
  static func best(_ live: [Int], _ scores: [Double]) -> [Int] {
    var top = -Double.infinity
    var arms: [Int] = []
    for arm in live {
      let s = scores[arm]
      if s > top {
        top = s
        arms = [arm]
      } else if s == top {
        arms.append(arm)
      }
    }
    return arms.isEmpty ? live : arms
  }

  static func softmax(_ live: [Int], _ scores: [Double], _ temperature: Double) -> [Double] {
    let scaled = live.map { scores[$0] / max(temperature, 1e-9) }
    let top = scaled.max() ?? 0
    let weights = scaled.map { Foundation.exp($0 - top) }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
  }

  /// One random slate under `rule`.
  static func rank(
    _ live: [Int], _ scores: [Double], _ rule: ExplorationRule, _ k: Int, _ generator: inout SeededGenerator
  ) -> [Int] {
    switch rule {
    case .greedy, .sampled:
      var order = live
      generator.shuffle(&order)  // uniform tie-breaking, then a stable sort by score
      let ranked = order.enumerated().sorted { a, b in
        scores[a.element] > scores[b.element] || (scores[a.element] == scores[b.element] && a.offset < b.offset)
      }
      return ranked.prefix(k).map(\.element)
    case .epsilon(let e):
      var remaining = live
      var slate: [Int] = []
      while slate.count < k {
        let pick: Int
        if generator.nextUniform() < e {
          pick = generator.nextInt(below: remaining.count)
        } else {
          let best = Self.best(remaining, scores)
          let arm = best[generator.nextInt(below: best.count)]
          pick = remaining.firstIndex(of: arm) ?? 0
        }
        slate.append(remaining.remove(at: pick))
      }
      return slate
    case .softmax(let temperature):
      var remaining = live
      var slate: [Int] = []
      while slate.count < k {
        let p = Self.softmax(remaining, scores, temperature)
        var u = generator.nextUniform()
        var pick = remaining.count - 1
        for j in 0..<remaining.count {
          u -= p[j]
          if u < 0 {
            pick = j
            break
          }
        }
        slate.append(remaining.remove(at: pick))
      }
      return slate
    }
  }
}

/// Running count and reward sum of each arm, for the context-free policies.
struct ArmStatistics: Sendable, Codable, Equatable {
  var pulls: [Double]
  var sums: [Double]

  init(arms: Int) {
    pulls = [Double](repeating: 0, count: arms)
    sums = [Double](repeating: 0, count: arms)
  }

  func mean(_ arm: Int) -> Double { pulls[arm] > 0 ? sums[arm] / pulls[arm] : 0 }
  var total: Double { pulls.reduce(0, +) }

  mutating func add(_ arm: Int, _ reward: Double) {
    pulls[arm] += 1
    sums[arm] += reward
  }

  /// A new arm whose mean is the neighbours' (weighted by evidence), held as at most
  /// `pseudoPulls` pseudo-observations so real rewards soon dominate.
  mutating func append(neighbours: [(arm: Int, weight: Double)], pseudoPulls: Double = 5) {
    let evidence = neighbours.reduce(0) { $0 + $1.weight * pulls[$1.arm] }
    guard evidence > 0 else {
      pulls.append(0)
      sums.append(0)
      return
    }
    let mean = neighbours.reduce(0) { $0 + $1.weight * sums[$1.arm] } / evidence
    let n = min(pseudoPulls, evidence)
    pulls.append(n)
    sums.append(n * mean)
  }
}

/// The context-free policies share statistics and warm starts.
protocol CountingPolicy: BanditPolicy {
  var statistics: ArmStatistics { get set }
}

extension CountingPolicy {
  public var contextDimension: Int? { nil }
  public var isConsistent: Bool {
    statistics.pulls.count == arms.count && statistics.sums.count == arms.count
      && arms.features.count == arms.count
  }
  public mutating func learn(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
  public mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError) {
    statistics.append(neighbours: neighbours)
  }
}

/// ε-greedy: a uniformly random arm with probability ε (optionally decaying as `ε / (1 + decay·t)`),
/// else the best mean (ties broken uniformly). Propensities are exact.
public struct EpsilonGreedy: CountingPolicy {
  public var name: String { "epsilon-greedy" }
  public var arms: ArmRegistry
  public var epsilon: Double
  public var decay: Double
  var statistics: ArmStatistics

  public init(arms: Int, epsilon: Double = 0.1, decay: Double = 0) {
    self.arms = ArmRegistry(count: arms)
    self.epsilon = epsilon
    self.decay = decay
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .epsilon(epsilon / (1 + decay * statistics.total)) }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { statistics.mean($0) }
  }
}

/// UCB1 (Auer et al. 2002): every arm once, then the best `mean + α √(2 ln t / n)`.
public struct UCB1: CountingPolicy {
  public var name: String { "ucb1" }
  public var arms: ArmRegistry
  public var alpha: Double
  var statistics: ArmStatistics

  public init(arms: Int, alpha: Double = 1) {
    self.arms = ArmRegistry(count: arms)
    self.alpha = alpha
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .greedy }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    let t = max(statistics.total, 1)
    return (0..<arms.count).map { arm in
      statistics.pulls[arm] == 0
        ? .infinity : statistics.mean(arm) + alpha * (2 * Foundation.log(t) / statistics.pulls[arm]).squareRoot()
    }
  }
}

/// Bernoulli Thompson sampling with Beta(α, β) priors. The propensity of the sampled arm is
/// estimated by `propensitySamples` seeded Monte-Carlo draws (0 skips it and reports NaN).
public struct ThompsonSampling: CountingPolicy {
  public var name: String { "thompson" }
  public var arms: ArmRegistry
  public var priorAlpha: Double
  public var priorBeta: Double
  public var propensitySamples: Int
  var statistics: ArmStatistics

  public init(arms: Int, priorAlpha: Double = 1, priorBeta: Double = 1, propensitySamples: Int = 0) {
    self.arms = ArmRegistry(count: arms)
    self.priorAlpha = priorAlpha
    self.priorBeta = priorBeta
    self.propensitySamples = propensitySamples
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .sampled(propensitySamples: propensitySamples) }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { arm in
      let successes = min(max(statistics.sums[arm], 0), statistics.pulls[arm])
      return Sampling.beta(priorAlpha + successes, priorBeta + statistics.pulls[arm] - successes, &generator)
    }
  }
}

/// Gaussian Thompson sampling for real-valued rewards: a Normal prior `N(μ₀, σ₀²)` on each arm's
/// mean and Gaussian noise of known variance `σ²`, so the posterior after `n` rewards summing to
/// `S` is Normal with precision `1/σ₀² + n/σ²` and mean `(μ₀/σ₀² + S/σ²) / precision`.
public struct GaussianThompsonSampling: CountingPolicy {
  public var name: String { "gaussian-thompson" }
  public var arms: ArmRegistry
  public var priorMean: Double
  public var priorVariance: Double
  public var noiseVariance: Double
  public var propensitySamples: Int
  var statistics: ArmStatistics

  public init(
    arms: Int, priorMean: Double = 0, priorVariance: Double = 1, noiseVariance: Double = 0.25, propensitySamples: Int = 0
  ) {
    self.arms = ArmRegistry(count: arms)
    self.priorMean = priorMean
    self.priorVariance = max(priorVariance, 1e-12)
    self.noiseVariance = max(noiseVariance, 1e-12)
    self.propensitySamples = propensitySamples
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .sampled(propensitySamples: propensitySamples) }

  /// The posterior mean and variance of `arm`'s mean reward.
  public func posterior(_ arm: Int) -> (mean: Double, variance: Double) {
    let precision = 1 / priorVariance + statistics.pulls[arm] / noiseVariance
    return ((priorMean / priorVariance + statistics.sums[arm] / noiseVariance) / precision, 1 / precision)
  }

  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { arm in
      let (mean, variance) = posterior(arm)
      return mean + variance.squareRoot() * generator.nextGaussian()
    }
  }
}

/// Softmax (Boltzmann) exploration: arm `a` with probability ∝ `exp(mean_a / τ)`; exact propensities.
public struct Softmax: CountingPolicy {
  public var name: String { "softmax" }
  public var arms: ArmRegistry
  public var temperature: Double
  var statistics: ArmStatistics

  public init(arms: Int, temperature: Double = 0.1) {
    self.arms = ArmRegistry(count: arms)
    self.temperature = max(temperature, 1e-9)
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .softmax(temperature: temperature) }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { statistics.mean($0) }
  }
}

/// KL-UCB for rewards in [0, 1] (Garivier & Cappé 2011): the largest `q` with
/// `n_a · KL(mean_a, q) ≤ log t + c log log t`, found by bisection.
public struct KLUCB: CountingPolicy {
  public var name: String { "kl-ucb" }
  public var arms: ArmRegistry
  public var c: Double
  var statistics: ArmStatistics

  public init(arms: Int, c: Double = 0) {
    self.arms = ArmRegistry(count: arms)
    self.c = c
    statistics = ArmStatistics(arms: arms)
  }

  static func kl(_ p: Double, _ q: Double) -> Double {
    let p = min(max(p, 1e-12), 1 - 1e-12)
    let q = min(max(q, 1e-12), 1 - 1e-12)
    return p * Foundation.log(p / q) + (1 - p) * Foundation.log((1 - p) / (1 - q))
  }

  func index(_ arm: Int) -> Double {
    let n = statistics.pulls[arm]
    guard n > 0 else { return .infinity }
    let t = max(statistics.total, 2)
    let bound = (Foundation.log(t) + c * Foundation.log(max(Foundation.log(t), 1))) / n
    let mean = min(max(statistics.mean(arm), 0), 1)
    var low = mean
    var high = 1.0
    for _ in 0..<32 {
      let mid = (low + high) / 2
      if Self.kl(mean, mid) > bound { high = mid } else { low = mid }
    }
    return low
  }

  public var exploration: ExplorationRule { .greedy }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { index($0) }
  }
}

/// The uniformly random policy, the floor of every simulation.
public struct RandomPolicy: CountingPolicy {
  public var name: String { "random" }
  public var arms: ArmRegistry
  var statistics: ArmStatistics

  public init(arms: Int) {
    self.arms = ArmRegistry(count: arms)
    statistics = ArmStatistics(arms: arms)
  }

  public var exploration: ExplorationRule { .greedy }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    [Double](repeating: 0, count: arms.count)
  }
}

/// Random numbers the policies need beyond uniforms.
enum Sampling {
  /// Gamma(shape, 1) by Marsaglia–Tsang.
  static func gamma(_ shape: Double, _ generator: inout SeededGenerator) -> Double {
    if shape < 1 {
      let u = max(generator.nextUniform(), .leastNonzeroMagnitude)
      return gamma(shape + 1, &generator) * Foundation.pow(u, 1 / shape)
    }
    let d = shape - 1.0 / 3
    let c = 1 / (9 * d).squareRoot()
    while true {
      let x = generator.nextGaussian()
      let v = Foundation.pow(1 + c * x, 3)
      guard v > 0 else { continue }
      let u = generator.nextUniform()
      if Foundation.log(max(u, .leastNonzeroMagnitude)) < 0.5 * x * x + d - d * v + d * Foundation.log(v) { return d * v }
    }
  }

  static func beta(_ a: Double, _ b: Double, _ generator: inout SeededGenerator) -> Double {
    let x = gamma(a, &generator)
    let y = gamma(b, &generator)
    return x / max(x + y, .leastNonzeroMagnitude)
  }
}

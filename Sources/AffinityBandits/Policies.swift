public import AffinityCore
import AffinityLinalg
import Foundation

/// One arm chosen by a policy, with the probability that the policy chose it (its propensity,
/// for off-policy evaluation of the logs it writes).
public struct BanditChoice: Sendable, Equatable, Codable {
  public var arm: Int
  public var propensity: Double

  public init(arm: Int, propensity: Double) {
    self.arm = arm
    self.propensity = propensity
  }
}

/// A bandit policy: picks an arm for a context, learns from the reward.
///
/// Policies are values; `decide` takes the random generator so a run is reproducible for a seed,
/// and `update` mutates the policy's statistics. Context-free policies ignore the context.
public protocol BanditPolicy: Sendable {
  /// A short name for reports (`epsilon-greedy`, `linucb`).
  var name: String { get }
  var armCount: Int { get }
  /// The arm to play for `context`, with its propensity (exact where the policy allows, else
  /// estimated by seeded Monte-Carlo).
  func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice
  /// Learns from the reward of `arm` in `context`.
  mutating func update(arm: Int, context: [Double], reward: Double)
}

/// Running count and mean reward of each arm.
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

  /// The arms tied at the best value of `score`, lowest index first.
  static func best(_ count: Int, by score: (Int) -> Double) -> [Int] {
    var best = -Double.infinity
    var arms: [Int] = []
    for arm in 0..<count {
      let s = score(arm)
      if s > best {
        best = s
        arms = [arm]
      } else if s == best {
        arms.append(arm)
      }
    }
    return arms
  }
}

/// ε-greedy: a uniformly random arm with probability ε (optionally decaying as `ε / (1 + decay·t)`),
/// else the best mean (ties broken uniformly). Propensities are exact.
public struct EpsilonGreedy: BanditPolicy, Codable {
  public var name: String { "epsilon-greedy" }
  public let armCount: Int
  public var epsilon: Double
  public var decay: Double
  var statistics: ArmStatistics

  public init(arms: Int, epsilon: Double = 0.1, decay: Double = 0) {
    armCount = arms
    self.epsilon = epsilon
    self.decay = decay
    statistics = ArmStatistics(arms: arms)
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let e = epsilon / (1 + decay * statistics.total)
    let greedy = ArmStatistics.best(armCount) { statistics.mean($0) }
    let arm: Int
    if generator.nextUniform() < e {
      arm = generator.nextInt(below: armCount)
    } else {
      arm = greedy[generator.nextInt(below: greedy.count)]
    }
    let explore = e / Double(armCount)
    let propensity = explore + (greedy.contains(arm) ? (1 - e) / Double(greedy.count) : 0)
    return BanditChoice(arm: arm, propensity: propensity)
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
}

/// UCB1 (Auer et al. 2002): every arm once, then the best `mean + α √(2 ln t / n)`.
public struct UCB1: BanditPolicy, Codable {
  public var name: String { "ucb1" }
  public let armCount: Int
  public var alpha: Double
  var statistics: ArmStatistics

  public init(arms: Int, alpha: Double = 1) {
    armCount = arms
    self.alpha = alpha
    statistics = ArmStatistics(arms: arms)
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let t = max(statistics.total, 1)
    let best = ArmStatistics.best(armCount) { arm in
      statistics.pulls[arm] == 0 ? .infinity : statistics.mean(arm) + alpha * (2 * Foundation.log(t) / statistics.pulls[arm]).squareRoot()
    }
    return BanditChoice(arm: best[generator.nextInt(below: best.count)], propensity: 1 / Double(best.count))
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
}

/// Bernoulli Thompson sampling with Beta(α, β) priors. The propensity of the sampled arm is
/// estimated by `propensitySamples` seeded Monte-Carlo draws (0 skips it and reports NaN).
public struct ThompsonSampling: BanditPolicy, Codable {
  public var name: String { "thompson" }
  public let armCount: Int
  public var priorAlpha: Double
  public var priorBeta: Double
  public var propensitySamples: Int
  var statistics: ArmStatistics

  public init(arms: Int, priorAlpha: Double = 1, priorBeta: Double = 1, propensitySamples: Int = 0) {
    armCount = arms
    self.priorAlpha = priorAlpha
    self.priorBeta = priorBeta
    self.propensitySamples = propensitySamples
    statistics = ArmStatistics(arms: arms)
  }

  func draw(_ generator: inout SeededGenerator) -> Int {
    ArmStatistics.best(armCount) { arm in
      let successes = statistics.sums[arm]
      return Sampling.beta(priorAlpha + successes, priorBeta + statistics.pulls[arm] - successes, &generator)
    }.first ?? 0
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let arm = draw(&generator)
    guard propensitySamples > 0 else { return BanditChoice(arm: arm, propensity: .nan) }
    var hits = 0
    for _ in 0..<propensitySamples where draw(&generator) == arm { hits += 1 }
    return BanditChoice(arm: arm, propensity: Double(hits) / Double(propensitySamples))
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
}

/// Disjoint LinUCB (Li et al. 2010): per arm a ridge regression `A_a = I + Σ x xᵀ`, `b_a = Σ r x`;
/// plays the best `θ_aᵀx + α √(xᵀ A_a⁻¹ x)`. `A_a⁻¹` is kept up to date by Sherman–Morrison, so
/// a decision costs O(arms · d²) and an update O(d²). α = 0.5 by default: best of 0.1, 0.25, 0.5
/// and 1 on seeds 101–105 of the MovieLens rating simulator (MABWiser's default is 1).
public struct LinUCB: BanditPolicy, Codable {
  public var name: String { "linucb" }
  public let armCount: Int
  public let dimension: Int
  public var alpha: Double
  /// Per arm `A⁻¹`, `d × d`, row-major.
  var inverses: [[Double]]
  var responses: [[Double]]

  public init(arms: Int, dimension: Int, alpha: Double = 0.5, regularization: Double = 1) {
    armCount = arms
    self.dimension = dimension
    self.alpha = alpha
    let identity = (0..<(dimension * dimension)).map { $0 % (dimension + 1) == 0 ? 1 / regularization : 0 }
    inverses = Array(repeating: identity, count: arms)
    responses = Array(repeating: [Double](repeating: 0, count: dimension), count: arms)
  }

  func score(_ arm: Int, _ x: [Double]) -> Double {
    let d = dimension
    var ax = [Double](repeating: 0, count: d)
    var theta = 0.0
    inverses[arm].withUnsafeBufferPointer { a in
      for i in 0..<d {
        var s = 0.0
        for j in 0..<d { s += a[i * d + j] * x[j] }
        ax[i] = s
      }
    }
    var width = 0.0
    for i in 0..<d {
      width += x[i] * ax[i]
      theta += ax[i] * responses[arm][i]  // θ = A⁻¹ b, so θᵀx = bᵀ A⁻¹ x
    }
    return theta + alpha * max(width, 0).squareRoot()
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let best = ArmStatistics.best(armCount) { score($0, context) }
    return BanditChoice(arm: best[generator.nextInt(below: best.count)], propensity: 1 / Double(best.count))
  }

  public mutating func update(arm: Int, context x: [Double], reward: Double) {
    let d = dimension
    var u = [Double](repeating: 0, count: d)
    var inverse = inverses[arm]
    for i in 0..<d {
      var s = 0.0
      for j in 0..<d { s += inverse[i * d + j] * x[j] }
      u[i] = s
    }
    let denominator = 1 + (0..<d).reduce(0.0) { $0 + x[$1] * u[$1] }
    for i in 0..<d { for j in 0..<d { inverse[i * d + j] -= u[i] * u[j] / denominator } }
    inverses[arm] = inverse
    for i in 0..<d { responses[arm][i] += reward * x[i] }
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

/// Softmax (Boltzmann) exploration: arm `a` with probability ∝ `exp(mean_a / τ)`; exact propensities.
public struct Softmax: BanditPolicy, Codable {
  public var name: String { "softmax" }
  public let armCount: Int
  public var temperature: Double
  var statistics: ArmStatistics

  public init(arms: Int, temperature: Double = 0.1) {
    armCount = arms
    self.temperature = max(temperature, 1e-9)
    statistics = ArmStatistics(arms: arms)
  }

  func probabilities() -> [Double] {
    let scores = (0..<armCount).map { statistics.mean($0) / temperature }
    let top = scores.max() ?? 0
    let weights = scores.map { Foundation.exp($0 - top) }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let p = probabilities()
    var u = generator.nextUniform()
    for arm in 0..<armCount {
      u -= p[arm]
      if u < 0 { return BanditChoice(arm: arm, propensity: p[arm]) }
    }
    return BanditChoice(arm: armCount - 1, propensity: p[armCount - 1])
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
}

/// KL-UCB for rewards in [0, 1] (Garivier & Cappé 2011): the largest `q` with
/// `n_a · KL(mean_a, q) ≤ log t + c log log t`, found by bisection.
public struct KLUCB: BanditPolicy, Codable {
  public var name: String { "kl-ucb" }
  public let armCount: Int
  public var c: Double
  var statistics: ArmStatistics

  public init(arms: Int, c: Double = 0) {
    armCount = arms
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
    let mean = statistics.mean(arm)
    var low = mean
    var high = 1.0
    for _ in 0..<32 {
      let mid = (low + high) / 2
      if Self.kl(mean, mid) > bound { high = mid } else { low = mid }
    }
    return low
  }

  public func decide(context: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let best = ArmStatistics.best(armCount) { index($0) }
    return BanditChoice(arm: best[generator.nextInt(below: best.count)], propensity: 1 / Double(best.count))
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) { statistics.add(arm, reward) }
}

/// Linear Thompson sampling (Agrawal & Goyal 2013), the textbook form: per arm an independent
/// draw `θ̃_a ~ N(A_a⁻¹ b_a, v² A_a⁻¹)`, play the best `θ̃_aᵀx`.
public struct LinearThompsonSampling: BanditPolicy, Codable {
  public var name: String { "lin-ts" }
  public var armCount: Int { ucb.armCount }
  public var scale: Double
  var ucb: LinUCB
  /// Per arm the posterior mean `θ = A⁻¹ b` and the Cholesky factor `L` of `A⁻¹` (nil when not
  /// positive definite), refreshed when the arm is updated instead of at every decision.
  var means: [[Double]]
  var factors: [[Double]?]

  public init(arms: Int, dimension: Int, scale: Double = 0.1, regularization: Double = 1) {
    self.scale = scale
    ucb = LinUCB(arms: arms, dimension: dimension, alpha: 0, regularization: regularization)
    means = []
    factors = []
    for arm in 0..<arms {
      let (mean, factor) = posterior(arm)
      means.append(mean)
      factors.append(factor)
    }
  }

  func posterior(_ arm: Int) -> ([Double], [Double]?) {
    let d = ucb.dimension
    let inverse = ucb.inverses[arm]
    var theta = [Double](repeating: 0, count: d)
    for i in 0..<d { for j in 0..<d { theta[i] += inverse[i * d + j] * ucb.responses[arm][j] } }
    return (theta, DenseSPD.cholesky(inverse, n: d))
  }

  public func decide(context x: [Double], generator: inout SeededGenerator) -> BanditChoice {
    let d = ucb.dimension
    let best = ArmStatistics.best(armCount) { arm in
      // A draw is θ + v · L z with L Lᵀ = A⁻¹.
      var theta = means[arm]
      if let l = factors[arm] {
        let z = (0..<d).map { _ in generator.nextGaussian() }
        for i in 0..<d { for j in 0...i { theta[i] += scale * l[i * d + j] * z[j] } }
      }
      return (0..<d).reduce(0.0) { $0 + theta[$1] * x[$1] }
    }
    return BanditChoice(arm: best.first ?? 0, propensity: .nan)
  }

  public mutating func update(arm: Int, context: [Double], reward: Double) {
    ucb.update(arm: arm, context: context, reward: reward)
    (means[arm], factors[arm]) = posterior(arm)
  }
}

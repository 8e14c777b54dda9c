public import AffinityCore
import AffinityLinalg
import Foundation

/// Per-arm ridge regressions on the context: `A_a = λI + Σ x xᵀ`, `b_a = Σ r x`, kept with
/// `A_a⁻¹` (Sherman–Morrison per event, a Cholesky refactorisation per batch) and `θ_a = A_a⁻¹ b_a`.
/// Flat row-major buffers, one `d × d` block per arm. Package-visible so other policies over
/// ridge statistics (DRR's online protocol) keep them the same way.
package struct LinearArms: Sendable, Codable, Equatable {
  package let dimension: Int
  let regularization: Double
  var grams: [Double]
  package internal(set) var inverses: [Double]
  var responses: [Double]
  package internal(set) var thetas: [Double]
  var pulls: [Double]

  package init(arms: Int, dimension d: Int, regularization: Double) {
    dimension = d
    self.regularization = regularization
    let identity = (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1.0 : 0 }
    grams = (0..<arms).flatMap { _ in identity.map { $0 * regularization } }
    inverses = (0..<arms).flatMap { _ in identity.map { $0 / regularization } }
    responses = [Double](repeating: 0, count: arms * d)
    thetas = responses
    pulls = [Double](repeating: 0, count: arms)
  }

  var count: Int { pulls.count }

  func isConsistent(arms: Int) -> Bool {
    let d = dimension
    return d > 0 && pulls.count == arms && grams.count == arms * d * d && inverses.count == arms * d * d
      && responses.count == arms * d && thetas.count == arms * d
  }

  func mean(_ arm: Int, _ x: [Double]) -> Double {
    let d = dimension
    return thetas.withUnsafeBufferPointer { t in
      var s = 0.0
      for i in 0..<d { s += t[arm * d + i] * x[i] }
      return s
    }
  }

  /// `xᵀ A_a⁻¹ x`.
  func variance(_ arm: Int, _ x: [Double]) -> Double {
    let d = dimension
    return inverses.withUnsafeBufferPointer { a in
      let base = arm * d * d
      var s = 0.0
      for i in 0..<d {
        var row = 0.0
        for j in 0..<d { row += a[base + i * d + j] * x[j] }
        s += x[i] * row
      }
      return max(s, 0)
    }
  }

  /// Adds `weight · x xᵀ` to arm `a`'s Gram matrix, `target · x` to its response, and updates
  /// the inverse by Sherman–Morrison and θ.
  package mutating func add(_ arm: Int, _ x: [Double], reward target: Double, weight: Double = 1) {
    let d = dimension
    let base = arm * d * d
    var u = [Double](repeating: 0, count: d)
    inverses.withUnsafeMutableBufferPointer { a in
      for i in 0..<d {
        var s = 0.0
        for j in 0..<d { s += a[base + i * d + j] * x[j] }
        u[i] = s
      }
      var quadratic = 0.0
      for i in 0..<d { quadratic += x[i] * u[i] }
      let scale = weight / (1 + weight * quadratic)
      for i in 0..<d { for j in 0..<d { a[base + i * d + j] -= scale * u[i] * u[j] } }
    }
    grams.withUnsafeMutableBufferPointer { g in
      for i in 0..<d { for j in 0..<d { g[base + i * d + j] += weight * x[i] * x[j] } }
    }
    for i in 0..<d { responses[arm * d + i] += target * x[i] }
    pulls[arm] += 1
    refreshTheta(arm)
  }

  mutating func refreshTheta(_ arm: Int) {
    let d = dimension
    let base = arm * d * d
    for i in 0..<d {
      var s = 0.0
      for j in 0..<d { s += inverses[base + i * d + j] * responses[arm * d + j] }
      thetas[arm * d + i] = s
    }
  }

  /// Accumulates a batch into the Gram matrices and responses, then refactorises each touched arm
  /// once: O(events · d² + arms · d³) instead of a rank-one update per event.
  mutating func add(batch: [BanditEvent]) {
    let d = dimension
    var contexts = [Double](repeating: 0, count: batch.count * d)
    for (n, event) in batch.enumerated() { for j in 0..<d { contexts[n * d + j] = event.context[j] } }
    add(arms: batch.map(\.arm), rewards: batch.map(\.reward), contexts: contexts)
  }

  /// The batch update on contiguous rows (`contexts` is `arms.count × d`, row-major).
  mutating func add(arms chosen: [Int], rewards: [Double], contexts: [Double]) {
    let d = dimension
    let arms = count
    // Bucket the events by arm (stable), then each arm accumulates its own rows: arms run in
    // parallel and every sum runs in event order, so the result does not depend on threads.
    var starts = [Int](repeating: 0, count: arms + 1)
    for arm in chosen { starts[arm + 1] += 1 }
    for arm in 0..<arms { starts[arm + 1] += starts[arm] }
    var order = [Int](repeating: 0, count: chosen.count)
    var next = starts
    for (n, arm) in chosen.enumerated() {
      order[next[arm]] = n
      next[arm] += 1
    }
    let block = 64
    let width = (d + 7) / 8 * 8
    contexts.withUnsafeBufferPointer { x in
      guard let origin = x.baseAddress else { return }
      rewards.withUnsafeBufferPointer { reward in
        grams.withUnsafeMutableBufferPointer { g in
          responses.withUnsafeMutableBufferPointer { b in
            let gramBox = UncheckedBox(g)
            let responseBox = UncheckedBox(b)
            Parallel.forEachChunk(count: arms, chunkCount: arms, minimumParallelCount: chosen.count >= 4_096 ? 1 : .max) {
              range, _ in
              // Rows of up to 64 events, zero-padded to a multiple of 8 columns.
              let rows = UnsafeMutablePointer<Double>.allocate(capacity: block * width)
              defer { rows.deallocate() }
              for arm in range {
                let base = arm * d * d
                var first = starts[arm]
                while first < starts[arm + 1] {
                  let m = min(block, starts[arm + 1] - first)
                  rows.initialize(repeating: 0, count: block * width)
                  for r in 0..<m {
                    let n = order[first + r]
                    let row = origin + n * d
                    (rows + r * width).update(from: row, count: d)
                    let weight = reward[n]
                    for j in 0..<d { responseBox.value[arm * d + j] += weight * row[j] }
                  }
                  // G[i, j..j+8] += Σ_r x_ri · x_r[j..j+8], accumulated in registers.
                  for i in 0..<d {
                    var j = 0
                    while j < d {
                      var acc = SIMD8<Double>.zero
                      for r in 0..<m {
                        let xr = UnsafeRawPointer(rows + r * width + j).loadUnaligned(as: SIMD8<Double>.self)
                        acc.addProduct(rows[r * width + i], xr)
                      }
                      for lane in 0..<min(8, d - j) { gramBox.value[base + i * d + j + lane] += acc[lane] }
                      j += 8
                    }
                  }
                  first += m
                }
              }
            }
          }
        }
      }
    }
    for arm in chosen { pulls[arm] += 1 }
    for arm in 0..<arms where starts[arm + 1] > starts[arm] { refactorise(arm) }
  }

  /// `A_a⁻¹` from `A_a` by Cholesky (keeps the Sherman–Morrison drift away), then θ.
  mutating func refactorise(_ arm: Int) {
    let d = dimension
    let base = arm * d * d
    let gram = Array(grams[base..<(base + d * d)])
    guard let l = DenseSPD.cholesky(gram, n: d) else { return }
    inverses.replaceSubrange(base..<(base + d * d), with: DenseSPD.inverse(cholesky: l, n: d))
    refreshTheta(arm)
  }

  /// A new arm whose statistics are the neighbours' evidence (beyond the prior), weighted and
  /// damped to at most `pseudoPulls` observations.
  mutating func append(neighbours: [(arm: Int, weight: Double)], pseudoPulls: Double = 5) {
    let d = dimension
    let arm = count
    let identity = (0..<(d * d)).map { $0 % (d + 1) == 0 ? regularization : 0 }
    grams += identity
    inverses += identity.map { $0 == 0 ? 0 : 1 / regularization }
    responses += [Double](repeating: 0, count: d)
    thetas += [Double](repeating: 0, count: d)
    pulls.append(0)
    let evidence = neighbours.reduce(0) { $0 + $1.weight * pulls[$1.arm] }
    guard evidence > 0 else { return }
    let damping = min(1, pseudoPulls / evidence)
    for (neighbour, weight) in neighbours {
      let w = weight * damping
      for k in 0..<(d * d) {
        grams[arm * d * d + k] += w * (grams[neighbour * d * d + k] - identity[k])
      }
      for i in 0..<d { responses[arm * d + i] += w * responses[neighbour * d + i] }
    }
    pulls[arm] = evidence * damping
    refactorise(arm)
  }
}

/// The linear policies share their statistics, validation and warm start.
protocol LinearPolicy: BanditPolicy {
  var model: LinearArms { get set }
}

extension LinearPolicy {
  public var contextDimension: Int? { model.dimension }
  public var isConsistent: Bool { model.isConsistent(arms: arms.count) }
  public mutating func learn(arm: Int, context: [Double], reward: Double) { model.add(arm, context, reward: reward) }
  public mutating func learn(batch: [BanditEvent]) { model.add(batch: batch) }
  public mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError) {
    model.append(neighbours: neighbours)
  }
}

/// Disjoint LinUCB (Li et al. 2010): per arm a ridge regression `A_a = λI + Σ x xᵀ`, `b_a = Σ r x`;
/// plays the best `θ_aᵀx + α √(xᵀ A_a⁻¹ x)`. `A_a⁻¹` is kept up to date by Sherman–Morrison, so
/// a decision costs O(arms · d²) and an update O(d²). α = 0.5 by default: best of 0.1, 0.25, 0.5
/// and 1 on seeds 101–105 of the MovieLens rating simulator (MABWiser's default is 1).
public struct LinUCB: LinearPolicy {
  public var name: String { "linucb" }
  public var arms: ArmRegistry
  public var alpha: Double
  var model: LinearArms

  public init(arms: Int, dimension: Int, alpha: Double = 0.5, regularization: Double = 1, armFeatures: [[Double]]? = nil) {
    self.arms = ArmRegistry(count: arms, features: armFeatures)
    self.alpha = alpha
    model = LinearArms(arms: arms, dimension: dimension, regularization: regularization)
  }

  public var dimension: Int { model.dimension }
  public var exploration: ExplorationRule { .greedy }

  /// Learns from a log held in contiguous buffers: `arms[n]` was played in context row `n` of
  /// `contexts` (row-major `arms.count × d`) and earned `rewards[n]`; as MABWiser's `fit`.
  public mutating func update(arms chosen: [Int], rewards: [Double], contexts: [Double]) throws(BanditError) {
    let d = model.dimension
    guard rewards.count == chosen.count else {
      throw .invalidParameter(policy: name, name: "rewards.count", value: Double(rewards.count), expected: "one reward per arm (\(chosen.count))")
    }
    guard contexts.count == chosen.count * d else {
      throw .contextDimension(policy: name, expected: d, received: chosen.isEmpty ? contexts.count : contexts.count / chosen.count)
    }
    for arm in chosen { try validate(arm: arm) }
    for reward in rewards where !reward.isFinite {
      throw .invalidParameter(policy: name, name: "reward", value: reward, expected: "a finite number")
    }
    model.add(arms: chosen, rewards: rewards, contexts: contexts)
  }

  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { model.mean($0, context) + alpha * model.variance($0, context).squareRoot() }
  }

  /// The best live arm for each of `count` contexts (row-major `count × d`), without learning in
  /// between: the batch form of `decide`, as MABWiser's `predict` on many contexts. Ties go to
  /// the lowest arm. With `A_a = L Lᵀ` the width is `‖L⁻¹x‖`, computed for eight contexts at once
  /// on SIMD lanes; blocks of contexts run on all cores.
  public func bestArms(contexts: [Double], count: Int) throws(BanditError) -> [Int] {
    let d = model.dimension
    guard contexts.count == count * d else {
      throw .contextDimension(policy: name, expected: d, received: count > 0 ? contexts.count / count : contexts.count)
    }
    let live = arms.activeArms
    guard !live.isEmpty else { throw .slateSize(policy: name, requested: 1, activeArms: 0) }
    // Per live arm the lower-triangular L⁻¹, packed by row (row i holds columns 0...i), and θ.
    let packed = d * (d + 1) / 2
    var whiteners = [Double](repeating: 0, count: live.count * packed)
    var thetas = [Double](repeating: 0, count: live.count * d)
    for (k, arm) in live.enumerated() {
      let gram = Array(model.grams[(arm * d * d)..<((arm + 1) * d * d)])
      guard let l = DenseSPD.cholesky(gram, n: d) else { continue }
      for column in 0..<d {  // forward substitution on a unit vector: column `column` of L⁻¹
        var y = [Double](repeating: 0, count: d)
        for i in column..<d {
          var s = i == column ? 1.0 : 0
          for j in column..<i { s -= l[i * d + j] * y[j] }
          y[i] = s / l[i * d + i]
          whiteners[k * packed + i * (i + 1) / 2 + column] = y[i]
        }
      }
      for i in 0..<d { thetas[k * d + i] = model.thetas[arm * d + i] }
    }
    var best = [Int](repeating: live[0], count: count)
    let blocks = (count + 7) / 8
    let alpha = alpha
    contexts.withUnsafeBufferPointer { x in
      whiteners.withUnsafeBufferPointer { w in
        thetas.withUnsafeBufferPointer { t in
          best.withUnsafeMutableBufferPointer { output in
            let out = UncheckedBox(output)
            Parallel.forEachChunk(count: blocks, chunkCount: 64, minimumParallelCount: 64) { range, _ in
              let xt = UnsafeMutablePointer<SIMD8<Double>>.allocate(capacity: d)
              defer { xt.deallocate() }
              for block in range {
                let first = block * 8
                let lanes = min(8, count - first)
                for j in 0..<d {
                  var v = SIMD8<Double>.zero
                  for lane in 0..<lanes { v[lane] = x[(first + lane) * d + j] }
                  xt[j] = v
                }
                var top = SIMD8<Double>(repeating: -.infinity)
                var topArm = SIMD8<Int64>(repeating: Int64(live[0]))
                for k in 0..<live.count {
                  var mean = SIMD8<Double>.zero
                  for i in 0..<d { mean += t[k * d + i] * xt[i] }
                  // ‖L⁻¹x‖²: row i of L⁻¹x is a dot product over columns 0...i, summed on four
                  // independent accumulators so the FMAs overlap.
                  var squared = SIMD8<Double>.zero
                  var offset = k * packed
                  for i in 0..<d {
                    var a0 = SIMD8<Double>.zero
                    var a1 = SIMD8<Double>.zero
                    var a2 = SIMD8<Double>.zero
                    var a3 = SIMD8<Double>.zero
                    var j = 0
                    while j + 4 <= i + 1 {
                      a0.addProduct(w[offset + j], xt[j])
                      a1.addProduct(w[offset + j + 1], xt[j + 1])
                      a2.addProduct(w[offset + j + 2], xt[j + 2])
                      a3.addProduct(w[offset + j + 3], xt[j + 3])
                      j += 4
                    }
                    while j <= i {
                      a0.addProduct(w[offset + j], xt[j])
                      j += 1
                    }
                    let yi = (a0 + a1) + (a2 + a3)
                    squared += yi * yi
                    offset += i + 1
                  }
                  let score = mean + alpha * squared.squareRoot()
                  let better = score .> top
                  top.replace(with: score, where: better)
                  topArm.replace(with: SIMD8<Int64>(repeating: Int64(live[k])), where: better)
                }
                for lane in 0..<lanes { out.value[first + lane] = Int(topArm[lane]) }
              }
            }
          }
        }
      }
    }
    return best
  }
}

/// Linear Thompson sampling (Agrawal & Goyal 2013), the textbook form: per arm an independent
/// draw `θ̃_a ~ N(θ_a, v² A_a⁻¹)`, play the best `θ̃_aᵀx`. Only `θ̃_aᵀx` matters for the choice,
/// and it is exactly `N(θ_aᵀx, v² xᵀA_a⁻¹x)`, so each arm's score is drawn from that scalar
/// Normal (O(d²) per arm, no factorisation).
public struct LinearThompsonSampling: LinearPolicy {
  public var name: String { "lin-ts" }
  public var arms: ArmRegistry
  public var scale: Double
  public var propensitySamples: Int
  var model: LinearArms

  public init(
    arms: Int, dimension: Int, scale: Double = 0.1, regularization: Double = 1, propensitySamples: Int = 0,
    armFeatures: [[Double]]? = nil
  ) {
    self.arms = ArmRegistry(count: arms, features: armFeatures)
    self.scale = scale
    self.propensitySamples = propensitySamples
    model = LinearArms(arms: arms, dimension: dimension, regularization: regularization)
  }

  public var exploration: ExplorationRule { .sampled(propensitySamples: propensitySamples) }

  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { arm in
      model.mean(arm, context) + scale * model.variance(arm, context).squareRoot() * generator.nextGaussian()
    }
  }
}

/// ε-greedy over per-arm ridge regressions: the best `θ_aᵀx` with probability 1 − ε, else a
/// uniformly random arm. Exact propensities.
public struct LinearEpsilonGreedy: LinearPolicy {
  public var name: String { "lin-epsilon-greedy" }
  public var arms: ArmRegistry
  public var epsilon: Double
  var model: LinearArms

  public init(arms: Int, dimension: Int, epsilon: Double = 0.1, regularization: Double = 1, armFeatures: [[Double]]? = nil) {
    self.arms = ArmRegistry(count: arms, features: armFeatures)
    self.epsilon = epsilon
    model = LinearArms(arms: arms, dimension: dimension, regularization: regularization)
  }

  public var exploration: ExplorationRule { .epsilon(epsilon) }
  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { model.mean($0, context) }
  }
}

/// Logistic bandits for binary rewards: per arm an online Bayesian logistic regression with a
/// Laplace (Gaussian) posterior `N(m_a, Σ_a)`. Each reward takes one Newton step:
/// `Σ⁻¹ += p(1−p) x xᵀ` (Sherman–Morrison on Σ) and `m += Σ x (r − p)` with `p = σ(mᵀx)`
/// (the online Laplace approximation of Chapelle & Li 2011). `ucb` plays the best
/// `mᵀx + α √(xᵀΣx)` (the logit of an upper bound), `thompson` draws each arm's logit from
/// `N(mᵀx, v² xᵀΣx)`.
public struct LogisticBandit: BanditPolicy {
  public enum Mode: String, Sendable, Codable { case ucb, thompson }
  public var name: String { mode == .ucb ? "logistic-ucb" : "logistic-ts" }
  public var arms: ArmRegistry
  public let mode: Mode
  /// α for UCB, v for Thompson. The default 0.1 was the best of 0.1, 0.25, 0.5 and 1 for both
  /// modes on seeds 101–105 of the MovieLens rating simulator (0.025 and 0.05 were within seed
  /// noise of it; docs/benchmarks/bandits.md has the sweep).
  public var explorationScale: Double
  public var propensitySamples: Int
  /// `Σ_a` (as `inverses`) and the curvature-weighted Gram matrix; θ is unused.
  var model: LinearArms
  /// Per arm the posterior mean `m_a`, `arms × d`.
  var means: [Double]

  public init(
    arms: Int, dimension: Int, mode: Mode, explorationScale: Double = 0.1, regularization: Double = 1,
    propensitySamples: Int = 0, armFeatures: [[Double]]? = nil
  ) {
    self.arms = ArmRegistry(count: arms, features: armFeatures)
    self.mode = mode
    self.explorationScale = explorationScale
    self.propensitySamples = propensitySamples
    model = LinearArms(arms: arms, dimension: dimension, regularization: regularization)
    means = [Double](repeating: 0, count: arms * dimension)
  }

  public var contextDimension: Int? { model.dimension }
  public var isConsistent: Bool { model.isConsistent(arms: arms.count) && means.count == arms.count * model.dimension }
  public var exploration: ExplorationRule { mode == .ucb ? .greedy : .sampled(propensitySamples: propensitySamples) }

  func logit(_ arm: Int, _ x: [Double]) -> Double {
    let d = model.dimension
    var s = 0.0
    for i in 0..<d { s += means[arm * d + i] * x[i] }
    return s
  }

  public func scores(context: [Double], generator: inout SeededGenerator) -> [Double] {
    (0..<arms.count).map { arm in
      let width = model.variance(arm, context).squareRoot()
      return logit(arm, context) + explorationScale * width * (mode == .ucb ? 1 : generator.nextGaussian())
    }
  }

  /// The probability of a reward at the posterior mean.
  public func probability(arm: Int, context: [Double]) -> Double { 1 / (1 + Foundation.exp(-logit(arm, context))) }

  public mutating func learn(arm: Int, context x: [Double], reward: Double) {
    let r = min(max(reward, 0), 1)
    let p = probability(arm: arm, context: x)
    model.add(arm, x, reward: 0, weight: max(p * (1 - p), 1e-6))
    let d = model.dimension
    let base = arm * d * d
    for i in 0..<d {
      var s = 0.0
      for j in 0..<d { s += model.inverses[base + i * d + j] * x[j] }
      means[arm * d + i] += s * (r - p)
    }
  }

  public mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError) {
    let d = model.dimension
    var mean = [Double](repeating: 0, count: d)
    for (arm, weight) in neighbours { for i in 0..<d { mean[i] += weight * means[arm * d + i] } }
    means += mean
    model.append(neighbours: neighbours)
  }
}

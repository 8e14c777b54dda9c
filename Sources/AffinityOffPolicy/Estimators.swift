public import AffinityCore
import AffinityLinalg
import Foundation

/// Values over (round, action, position) for a log: an evaluation policy's action
/// probabilities, or a reward model's predictions. Row-major `rounds × actions × positions`,
/// the layout of obp's `action_dist` and `estimated_rewards_by_reg_model`.
public struct RoundActionTable: Sendable, Equatable {
  public let rounds: Int
  public let actions: Int
  public let positions: Int
  public var values: [Double]

  public init(rounds: Int, actions: Int, positions: Int, values: [Double]) {
    self.rounds = rounds
    self.actions = actions
    self.positions = positions
    self.values = values
  }

  @inline(__always)
  public subscript(round: Int, action: Int, position: Int) -> Double {
    values[(round * actions + action) * positions + position]
  }

  /// The uniform random policy: every action with probability 1/actions at every position.
  public static func uniform(for log: LoggedFeedback) -> RoundActionTable {
    RoundActionTable(
      rounds: log.rounds, actions: log.actionCount, positions: log.positionCount,
      values: [Double](repeating: 1 / Double(log.actionCount), count: log.rounds * log.actionCount * log.positionCount))
  }

  /// A raw little-endian Float64 file in that layout (numpy: `a.astype('<f8').tofile(path)`).
  public static func read(_ path: String, for log: LoggedFeedback) throws(DataError) -> RoundActionTable {
    let bytes: Data
    do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw .unreadable(file: path, reason: error.localizedDescription)
    }
    let count = log.rounds * log.actionCount * log.positionCount
    guard bytes.count == count * 8 else {
      throw .invalidValue(
        SourceLocation(file: path, field: "file size"), value: "\(bytes.count) bytes",
        expected: "\(count * 8) bytes: Float64 rounds × actions × positions = \(log.rounds) × \(log.actionCount) × \(log.positionCount)")
    }
    var values = [Double](repeating: 0, count: count)
    values.withUnsafeMutableBytes { target in bytes.withUnsafeBytes { target.copyMemory(from: $0) } }
    #if _endian(big)
      values = values.map { Double(bitPattern: $0.bitPattern.byteSwapped) }
    #endif
    for (n, v) in values.enumerated() where !v.isFinite {
      throw .invalidValue(SourceLocation(file: path, field: "value \(n)"), value: "\(v)", expected: "a finite number")
    }
    return RoundActionTable(rounds: log.rounds, actions: log.actionCount, positions: log.positionCount, values: values)
  }

  /// The rows of `indices`, in that order.
  public func resampled(_ indices: [Int]) -> RoundActionTable {
    let width = actions * positions
    return RoundActionTable(
      rounds: indices.count, actions: actions, positions: positions,
      values: indices.flatMap { values[($0 * width)..<(($0 + 1) * width)] })
  }
}

/// The off-policy estimators of Open Bandit Pipeline, with the same definitions (obp 0.5.7).
public enum OffPolicyEstimator: String, Sendable, Codable, CaseIterable {
  /// Inverse propensity scoring: `mean(w_i r_i)`, `w_i = π_e(a_i|x_i, k_i) / π_b(a_i|x_i, k_i)`.
  case ips
  /// Self-normalised IPS: `Σ w_i r_i / Σ w_i`.
  case snips
  /// Direct method: `mean_i Σ_a π_e(a|x_i,k_i) q̂(x_i,a,k_i) / Σ_a π_e(a|x_i,k_i)`.
  case dm
  /// Doubly robust: DM plus `mean(w_i (r_i − q̂(x_i,a_i,k_i)))`.
  case dr
  /// Self-normalised DR: the correction term divided by `mean(w)`.
  case sndr
  /// Switch-DR: the correction only where `w_i ≤ τ`.
  case switchDR = "switch-dr"

  public var needsRewardModel: Bool { self != .ips && self != .snips }

  /// `w_i = π_e(a_i|x_i, k_i) / π_b(a_i|x_i, k_i)` for the selected rounds (all when nil).
  public static func importanceWeights(log: LoggedFeedback, policy: RoundActionTable, rounds: [Int]? = nil) -> [Double] {
    (rounds ?? Array(0..<log.rounds)).map { r in
      policy[r, Int(log.actions[r]), Int(log.positions[r])] / log.propensities[r]
    }
  }

  /// The estimate on `log` for the evaluation policy `policy`, with reward model `model` for
  /// DM and the DR family.
  ///
  /// `rounds` selects the rounds (repeats allowed: a bootstrap resample) without copying the
  /// log and tables; nil uses every round in order.
  public func estimate(
    log: LoggedFeedback, policy: RoundActionTable, model: RoundActionTable?, switchThreshold: Double = .infinity,
    rounds: [Int]? = nil
  ) -> Double? {
    let n = rounds?.count ?? log.rounds
    guard n > 0 else { return nil }
    @inline(__always) func round(_ i: Int) -> Int { rounds?[i] ?? i }
    let weights = Self.importanceWeights(log: log, policy: policy, rounds: rounds)
    let meanWeight = weights.reduce(0, +) / Double(n)
    switch self {
    case .ips:
      return (0..<n).reduce(0.0) { $0 + weights[$1] * log.rewards[round($1)] } / Double(n)
    case .snips:
      guard meanWeight > 0 else { return nil }
      return (0..<n).reduce(0.0) { $0 + weights[$1] * log.rewards[round($1)] / meanWeight } / Double(n)
    case .dm, .dr, .sndr, .switchDR:
      guard let model else { return nil }
      var total = 0.0
      for i in 0..<n {
        let r = round(i)
        let k = Int(log.positions[r])
        var numerator = 0.0
        var denominator = 0.0
        for a in 0..<log.actionCount {
          numerator += policy[r, a, k] * model[r, a, k]
          denominator += policy[r, a, k]
        }
        var term = denominator > 0 ? numerator / denominator : 0
        let residual = log.rewards[r] - model[r, Int(log.actions[r]), k]
        switch self {
        case .dr: term += weights[i] * residual
        case .sndr: term += meanWeight > 0 ? weights[i] * residual / meanWeight : 0
        case .switchDR: term += weights[i] <= switchThreshold ? weights[i] * residual : 0
        default: break
        }
        total += term
      }
      return total / Double(n)
    }
  }
}

/// One estimator's result: the value, a bootstrap confidence interval and the effective sample
/// size of the importance weights.
public struct OffPolicyEstimate: Sendable, Codable, Equatable {
  public var value: Double
  public var ciLow: Double
  public var ciHigh: Double
  /// `|value − truth| / truth` when the true policy value is known.
  public var relativeError: Double?
  /// `(Σ w)² / Σ w²`.
  public var effectiveSampleSize: Double

  enum CodingKeys: String, CodingKey {
    case value
    case ciLow = "ci_low"
    case ciHigh = "ci_high"
    case relativeError = "relative_error"
    case effectiveSampleSize = "ess"
  }
}

/// Runs estimators with bootstrap confidence intervals.
public enum OffPolicyEvaluation {
  /// Each estimator's value with a percentile bootstrap interval over `bootstrapSamples`
  /// resamples of the rounds (seeded), `1 − alpha` coverage.
  public static func evaluate(
    log: LoggedFeedback, policy: RoundActionTable, model: RoundActionTable?,
    estimators: [OffPolicyEstimator] = OffPolicyEstimator.allCases, truth: Double? = nil,
    bootstrapSamples: Int = 1_000, alpha: Double = 0.05, seed: UInt64 = 42
  ) -> [OffPolicyEstimator: OffPolicyEstimate] {
    let weights = OffPolicyEstimator.importanceWeights(log: log, policy: policy)
    let sum = weights.reduce(0, +)
    let squares = weights.reduce(0) { $0 + $1 * $1 }
    let ess = squares > 0 ? sum * sum / squares : 0
    // One set of resamples shared by every estimator, in a fixed order.
    var generator = SeededGenerator(seed: seed, stream: 61)
    let resamples = (0..<max(bootstrapSamples, 0)).map { _ in
      (0..<log.rounds).map { _ in generator.nextInt(below: log.rounds) }
    }
    let usable = estimators.filter { !$0.needsRewardModel || model != nil }
    let draws: [[Double]] = Parallel.mapChunks(count: resamples.count, chunkCount: 16, minimumParallelCount: 16) { range, _ in
      range.map { b in usable.map { $0.estimate(log: log, policy: policy, model: model, rounds: resamples[b]) ?? .nan } }
    }.flatMap { $0 }
    var results: [OffPolicyEstimator: OffPolicyEstimate] = [:]
    for (column, estimator) in usable.enumerated() {
      guard let value = estimator.estimate(log: log, policy: policy, model: model) else { continue }
      let sorted = draws.map { $0[column] }.filter(\.isFinite).sorted()
      func percentile(_ q: Double) -> Double {
        guard !sorted.isEmpty else { return value }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
      }
      results[estimator] = OffPolicyEstimate(
        value: value, ciLow: percentile(alpha / 2), ciHigh: percentile(1 - alpha / 2),
        relativeError: truth.flatMap { $0 != 0 ? abs(value - $0) / abs($0) : nil }, effectiveSampleSize: ess)
    }
    return results
  }
}

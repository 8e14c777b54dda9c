public import AffinityCore
import AffinityLinalg
import Foundation

/// The reward model of DM and DR: one L2-regularised logistic regression per position on the
/// round's context and the action's features, fitted by Newton's method, with K-fold
/// cross-fitting so a round's prediction never comes from a model that saw it (as obp's
/// `RegressionModel.fit_predict(n_folds=…)`).
public struct LogisticRewardModel: Sendable {
  public struct Configuration: ModelConfiguration {
    /// L2 penalty λ on the weights (not the intercept), relative to the summed log-loss.
    public var regularization: Double
    public var folds: Int
    public var iterations: Int

    public init(regularization: Double = 1, folds: Int = 3, iterations: Int = 25) {
      self.regularization = regularization
      self.folds = folds
      self.iterations = iterations
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("LogisticRewardModel")
      try check.nonNegative("regularization", Float(regularization))
      try check.positive("folds", folds)
      try check.positive("iterations", iterations)
    }
  }

  /// `q̂(x_i, a, k_i)` for every round and action at the round's own position (other positions
  /// are 0: the estimators read only the round's position).
  public static func crossFitted(
    _ log: LoggedFeedback, configuration c: Configuration = .init(), seed: UInt64 = 42
  ) throws(FitError) -> RoundActionTable {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    var generator = SeededGenerator(seed: seed, stream: 71)
    var order = Array(0..<log.rounds)
    generator.shuffle(&order)
    var fold = [Int](repeating: 0, count: log.rounds)
    for (rank, round) in order.enumerated() { fold[round] = rank * c.folds / max(log.rounds, 1) }
    var table = RoundActionTable(
      rounds: log.rounds, actions: log.actionCount, positions: log.positionCount,
      values: [Double](repeating: 0, count: log.rounds * log.actionCount * log.positionCount))
    let folds = c.folds > 1 ? c.folds : 1
    for k in 0..<log.positionCount {
      for f in 0..<folds {
        let training = (0..<log.rounds).filter { Int(log.positions[$0]) == k && (folds == 1 || fold[$0] != f) }
        let weights = fit(log, rounds: training, configuration: c)
        for i in 0..<log.rounds where Int(log.positions[i]) == k && (folds == 1 || fold[i] == f) {
          for a in 0..<log.actionCount {
            table.values[(i * log.actionCount + a) * log.positionCount + k] = predict(weights, log, round: i, action: a)
          }
        }
      }
    }
    return table
  }

  /// Sparse features of (round, action): context, action features, intercept.
  static func features(_ log: LoggedFeedback, round i: Int, action a: Int) -> [(Int, Double)] {
    var cells: [(Int, Double)] = []
    for j in 0..<log.contextWidth where log.contexts[i * log.contextWidth + j] != 0 {
      cells.append((j, log.contexts[i * log.contextWidth + j]))
    }
    for j in 0..<log.actionFeatureWidth where log.actionFeatures[a * log.actionFeatureWidth + j] != 0 {
      cells.append((log.contextWidth + j, log.actionFeatures[a * log.actionFeatureWidth + j]))
    }
    cells.append((log.contextWidth + log.actionFeatureWidth, 1))
    return cells
  }

  static func predict(_ w: [Double], _ log: LoggedFeedback, round: Int, action: Int) -> Double {
    let z = features(log, round: round, action: action).reduce(0.0) { $0 + w[$1.0] * $1.1 }
    return 1 / (1 + Foundation.exp(-z))
  }

  /// Newton's method on `Σ log-loss + λ/2 ‖w‖²` over the logged (round, action) pairs.
  static func fit(_ log: LoggedFeedback, rounds: [Int], configuration c: Configuration) -> [Double] {
    let d = log.contextWidth + log.actionFeatureWidth + 1
    var w = [Double](repeating: 0, count: d)
    let rows = rounds.map { features(log, round: $0, action: Int(log.actions[$0])) }
    let labels = rounds.map { log.rewards[$0] > 0 ? 1.0 : 0.0 }
    guard !rows.isEmpty else { return w }
    for _ in 0..<c.iterations {
      var gradient = [Double](repeating: 0, count: d)
      var hessian = [Double](repeating: 0, count: d * d)
      for (n, cells) in rows.enumerated() {
        let z = cells.reduce(0.0) { $0 + w[$1.0] * $1.1 }
        let p = 1 / (1 + Foundation.exp(-z))
        let curvature = max(p * (1 - p), 1e-12)
        for (a, xa) in cells {
          gradient[a] += (p - labels[n]) * xa
          for (b, xb) in cells { hessian[a * d + b] += curvature * xa * xb }
        }
      }
      for a in 0..<d {
        // No penalty on the intercept (the last feature); a tiny jitter keeps unused
        // features from making the system singular.
        let penalty = a == d - 1 ? 0 : c.regularization
        gradient[a] += penalty * w[a]
        hessian[a * d + a] += penalty + 1e-9
      }
      guard let l = DenseSPD.cholesky(hessian, n: d) else { break }
      DenseSPD.solve(l, n: d, &gradient)
      var step = 0.0
      for a in 0..<d {
        w[a] -= gradient[a]
        step = max(step, abs(gradient[a]))
      }
      if step < 1e-8 { break }
    }
    return w
  }
}

import Foundation

/// Global ranking and calibration metrics of predicted probabilities against 0/1 labels.
public enum CTRMetrics {
  /// Probabilities are clipped to `[ε, 1 − ε]` before the log-loss, as scikit-learn did.
  public static let logLossEpsilon = 1e-7

  /// ROC AUC over all rows: the probability that a random positive scores above a random
  /// negative, ties counting one half. Computed from average ranks (Mann–Whitney U):
  /// `(Σ_{positives} rank − P(P+1)/2) / (P · N)`.
  ///
  /// Returns nil when the labels hold only one class (AUC is undefined) or the counts differ.
  ///
  /// - Complexity: O(n log n).
  public static func auc(labels: [Float], scores: [Float]) -> Double? {
    guard labels.count == scores.count else { return nil }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSum = 0.0
    var positives = 0.0
    var start = 0
    while start < order.count {
      var end = start + 1
      while end < order.count && scores[order[end]] == scores[order[start]] { end += 1 }
      // Ranks start+1 … end share their average.
      let averageRank = Double(start + 1 + end) / 2
      for k in start..<end where labels[order[k]] > 0.5 {
        rankSum += averageRank
        positives += 1
      }
      start = end
    }
    let negatives = Double(labels.count) - positives
    guard positives > 0, negatives > 0 else { return nil }
    return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
  }

  /// Mean log-loss `−(1/n) Σ [y ln p + (1 − y) ln(1 − p)]` with `p` clipped to
  /// `[1e-7, 1 − 1e-7]`; nil for no rows or mismatched counts.
  public static func logLoss(labels: [Float], probabilities: [Float]) -> Double? {
    guard labels.count == probabilities.count, !labels.isEmpty else { return nil }
    var sum = 0.0
    for (y, p) in zip(labels, probabilities) {
      let clipped = min(max(Double(p), logLossEpsilon), 1 - logLossEpsilon)
      sum -= y > 0.5 ? Foundation.log(clipped) : Foundation.log(1 - clipped)
    }
    return sum / Double(labels.count)
  }
}

/// How well a CTR model does on a labelled set.
public struct CTREvaluation: Sendable, Codable, Equatable {
  /// ROC AUC; nil when the set has only one class.
  public var auc: Double?
  public var logLoss: Double?
  public var count: Int
  public var positiveRate: Double
  /// Test feature occurrences the model's vocabulary did not know.
  public var unseenFeatureCount: Int

  public init(auc: Double?, logLoss: Double?, count: Int, positiveRate: Double, unseenFeatureCount: Int) {
    self.auc = auc
    self.logLoss = logLoss
    self.count = count
    self.positiveRate = positiveRate
    self.unseenFeatureCount = unseenFeatureCount
  }

  /// Scores every row of `data` with `model` and measures AUC and log-loss.
  public init(_ model: some CTRModel, on data: CTRDataset) {
    let mapped = data.mapped(onto: model.vocabulary)
    let probabilities = model.probabilities(mapped)
    self.init(
      auc: CTRMetrics.auc(labels: mapped.labels, scores: probabilities),
      logLoss: CTRMetrics.logLoss(labels: mapped.labels, probabilities: probabilities), count: mapped.count,
      positiveRate: mapped.positiveRate, unseenFeatureCount: mapped.unseenFeatureCount)
  }
}

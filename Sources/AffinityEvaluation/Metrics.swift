import Foundation

/// Accuracy of predicted ratings: RMSE, MAE and Koren's fraction of concordant pairs.
public enum RatingMetrics {
  /// `√(mean (r − r̂)²)`.
  public static func rmse(actual: [Float], predicted: [Float]) -> Double {
    guard !actual.isEmpty else { return .nan }
    var sum = 0.0
    for k in actual.indices {
      let e = Double(actual[k]) - Double(predicted[k])
      sum += e * e
    }
    return (sum / Double(actual.count)).squareRoot()
  }

  /// `mean |r − r̂|`.
  public static func mae(actual: [Float], predicted: [Float]) -> Double {
    guard !actual.isEmpty else { return .nan }
    var sum = 0.0
    for k in actual.indices { sum += abs(Double(actual[k]) - Double(predicted[k])) }
    return sum / Double(actual.count)
  }

  /// Fraction of concordant pairs within each user, computed as Surprise's `fcp`.
  ///
  /// `n_c / (n_c + n_d)` where `n_c` is the mean number of concordant pairs over the users that
  /// have at least one, and `n_d` the mean number of discordant pairs over the users that have
  /// at least one (Surprise keeps per-user counts in a `defaultdict` that only holds users with a
  /// non-zero count).
  ///
  /// Koren. "Factor in the Neighbors." TKDD 2010, §5.
  public static func fcp(users: [Int], actual: [Float], predicted: [Float]) -> Double {
    var byUser: [Int: [Int]] = [:]
    for k in users.indices { byUser[users[k], default: []].append(k) }
    var concordant = 0.0
    var discordant = 0.0
    var concordantUsers = 0
    var discordantUsers = 0
    for rows in byUser.values {
      var nc = 0
      var nd = 0
      for a in rows {
        for b in rows {
          if predicted[a] > predicted[b] && actual[a] > actual[b] { nc += 1 }
          if predicted[a] >= predicted[b] && actual[a] < actual[b] { nd += 1 }
        }
      }
      if nc > 0 {
        concordant += Double(nc)
        concordantUsers += 1
      }
      if nd > 0 {
        discordant += Double(nd)
        discordantUsers += 1
      }
    }
    let meanConcordant = concordantUsers > 0 ? concordant / Double(concordantUsers) : 0
    let meanDiscordant = discordantUsers > 0 ? discordant / Double(discordantUsers) : 0
    guard meanConcordant + meanDiscordant > 0 else { return .nan }
    return meanConcordant / (meanConcordant + meanDiscordant)
  }
}

/// Per-user ranking metrics for one ranked list against a set of relevant items.
///
/// Binary relevance. NDCG uses gain 1 and `log2(rank + 1)` discounts, ideal over
/// `min(|P|, k)` hits; MAP@k divides by `min(|P|, k)`; MRR and AUC use the whole ranking.
public struct RankingMetrics: Sendable {
  public var precision = 0.0
  public var recall = 0.0
  public var ndcg = 0.0
  public var averagePrecision = 0.0
  public var reciprocalRank = 0.0
  public var hit = 0.0
  public var auc = 0.0

  public init() {}

  /// Metrics of `ranked` (best first, at least k long when possible) for `relevantCount` relevant
  /// items of which `isRelevant` tells membership. `rankOfFirstRelevant` (1-based, over the whole
  /// catalogue) feeds MRR; `auc` is computed by the caller from full scores.
  public static func at(
    _ k: Int, ranked: [Int], isRelevant: (Int) -> Bool, relevantCount: Int,
    rankOfFirstRelevant: Int?, auc: Double
  ) -> RankingMetrics {
    var metrics = RankingMetrics()
    guard relevantCount > 0 else { return metrics }
    var hits = 0
    var dcg = 0.0
    var precisionSum = 0.0
    for (position, item) in ranked.prefix(k).enumerated() where isRelevant(item) {
      hits += 1
      dcg += 1 / log2(Double(position) + 2)
      precisionSum += Double(hits) / Double(position + 1)
    }
    let ideal = min(relevantCount, k)
    var idcg = 0.0
    for position in 0..<ideal { idcg += 1 / log2(Double(position) + 2) }
    metrics.precision = Double(hits) / Double(k)
    metrics.recall = Double(hits) / Double(relevantCount)
    metrics.ndcg = idcg > 0 ? dcg / idcg : 0
    metrics.averagePrecision = precisionSum / Double(ideal)
    metrics.hit = hits > 0 ? 1 : 0
    metrics.reciprocalRank = rankOfFirstRelevant.map { 1 / Double($0) } ?? 0
    metrics.auc = auc
    return metrics
  }

  mutating func add(_ other: RankingMetrics) {
    precision += other.precision
    recall += other.recall
    ndcg += other.ndcg
    averagePrecision += other.averagePrecision
    reciprocalRank += other.reciprocalRank
    hit += other.hit
    auc += other.auc
  }

  func divided(by n: Double) -> RankingMetrics {
    var m = self
    m.precision /= n
    m.recall /= n
    m.ndcg /= n
    m.averagePrecision /= n
    m.reciprocalRank /= n
    m.hit /= n
    m.auc /= n
    return m
  }
}

/// Catalogue-level measures of a set of recommendation lists.
public enum DiversityMetrics {
  /// Fraction of the catalogue that appears in at least one list.
  public static func coverage(lists: [[Int]], catalogueSize: Int) -> Double {
    guard catalogueSize > 0 else { return 0 }
    var shown = Set<Int>()
    for list in lists { shown.formUnion(list) }
    return Double(shown.count) / Double(catalogueSize)
  }

  /// Gini index of how often each catalogue item is recommended: 0 = even, 1 = one item only.
  public static func gini(lists: [[Int]], catalogueSize: Int) -> Double {
    guard catalogueSize > 1 else { return 0 }
    var counts = [Double](repeating: 0, count: catalogueSize)
    for list in lists { for i in list { counts[i] += 1 } }
    counts.sort()
    let total = counts.reduce(0, +)
    guard total > 0 else { return 0 }
    var weighted = 0.0
    for (rank, c) in counts.enumerated() { weighted += Double(2 * (rank + 1) - catalogueSize - 1) * c }
    return weighted / (Double(catalogueSize - 1) * total)
  }

  /// Mean self-information `−log2(popularity)` of recommended items, popularity being the share
  /// of training users who interacted with the item (higher = more novel).
  public static func novelty(lists: [[Int]], itemUserCounts: [Int], userCount: Int) -> Double {
    var sum = 0.0
    var n = 0
    for list in lists {
      for i in list {
        let p = Double(max(itemUserCounts[i], 1)) / Double(max(userCount, 1))
        sum += -log2(p)
        n += 1
      }
    }
    return n > 0 ? sum / Double(n) : 0
  }
}

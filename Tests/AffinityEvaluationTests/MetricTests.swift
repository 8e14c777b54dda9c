import AffinityCore
@testable import AffinityEvaluation
import AffinityTestSupport
import Foundation
import Testing

@Suite("Metrics with hand-computed answers")
struct MetricTests {
  @Test func ratingErrors() {
    let actual: [Float] = [4, 2, 5]
    let predicted: [Float] = [3, 2, 3]
    #expect(abs(RatingMetrics.rmse(actual: actual, predicted: predicted) - (5.0 / 3).squareRoot()) < 1e-12)
    #expect(abs(RatingMetrics.mae(actual: actual, predicted: predicted) - 1) < 1e-12)
  }

  @Test func fcpCountsConcordantPairsPerUser() {
    // User 0: (5, 4.5) vs (1, 2) concordant; user 1: (4, 2) vs (3, 3) discordant.
    let fcp = RatingMetrics.fcp(users: [0, 0, 1, 1], actual: [5, 1, 4, 3], predicted: [4.5, 2, 2, 3])
    #expect(fcp == 0.5)
    // As Surprise: means over users with a non-zero count. User 0 has 3 concordant pairs,
    // user 1 two concordant and one discordant: n_c = (3 + 2) / 2, n_d = 1 / 1 (not 5 / 1 · ½).
    let surprise = RatingMetrics.fcp(
      users: [0, 0, 0, 1, 1, 1], actual: [1, 2, 3, 1, 2, 3], predicted: [1, 2, 3, 1, 3, 2])
    #expect(abs(surprise - 5.0 / 7) < 1e-12)
  }

  @Test func rankingMetricsAtK() {
    // Ranked [7, 3, 9, 1, 5], relevant {3, 5, 8}: hits at ranks 2 and 5.
    let m = RankingMetrics.at(
      5, ranked: [7, 3, 9, 1, 5], isRelevant: { [3, 5, 8].contains($0) }, relevantCount: 3,
      rankOfFirstRelevant: 2, auc: 0.5)
    #expect(abs(m.precision - 0.4) < 1e-12)
    #expect(abs(m.recall - 2.0 / 3) < 1e-12)
    let dcg = 1 / log2(3.0) + 1 / log2(6.0)
    let idcg = 1 + 1 / log2(3.0) + 1 / log2(4.0)
    #expect(abs(m.ndcg - dcg / idcg) < 1e-12)
    #expect(abs(m.averagePrecision - (1.0 / 2 + 2.0 / 5) / 3) < 1e-12)
    #expect(m.reciprocalRank == 0.5)
    #expect(m.hit == 1)
  }

  @Test func idealDCGUsesAtMostKHits() {
    let m = RankingMetrics.at(2, ranked: [1, 2], isRelevant: { _ in true }, relevantCount: 10, rankOfFirstRelevant: 1, auc: 1)
    #expect(m.ndcg == 1)
    #expect(m.averagePrecision == 1)
    #expect(m.recall == 0.2)
  }

  @Test func aucAndFirstRank() {
    // Scores rank items 2 > 0 > 3 > 1; positives {0, 1}: pairs (0>3 ✓, 1<2 ✗, 0<2 ✗, 1<3 ✗ ...).
    let (first, auc) = Evaluator.fullRankStatistics(scores: [0.5, 0.1, 0.9, 0.3], positives: [0, 1])
    #expect(first == 2)
    // Positive 0 beats negative 3 only; positive 1 beats none: 1 of 4 pairs.
    #expect(auc == 0.25)
  }

  @Test func catalogueMeasures() {
    #expect(DiversityMetrics.coverage(lists: [[0, 1], [1, 2]], catalogueSize: 6) == 0.5)
    #expect(DiversityMetrics.gini(lists: [[0], [1], [2]], catalogueSize: 3) == 0)
    #expect(abs(DiversityMetrics.gini(lists: [[0], [0], [0]], catalogueSize: 3) - 1) < 1e-12)
  }
}

@Suite("Splits are seeded and honest")
struct SplitTests {
  let data: InteractionData

  init() throws { data = try Fixtures.smallWorld().ratings }

  @Test func randomSplitIsReproducibleAndSized() throws {
    let a = try SplitMethod.random(testFraction: 0.2).split(data, seed: 1)
    let b = try SplitMethod.random(testFraction: 0.2).split(data, seed: 1)
    let c = try SplitMethod.random(testFraction: 0.2).split(data, seed: 2)
    #expect(a.test.count == 600)
    #expect(a.train.count + a.test.count == data.count)
    #expect(a.test.interactions == b.test.interactions)
    #expect(a.test.interactions != c.test.interactions)
  }

  @Test func userTemporalSplitHoldsOutEachUsersLatest() throws {
    let split = try SplitMethod.userTemporal(testFraction: 0.2).split(data, seed: 1)
    var latestTrain: [UserID: Int64] = [:]
    for row in split.train.interactions { latestTrain[row.user] = max(latestTrain[row.user] ?? .min, row.timestamp) }
    for row in split.test.interactions {
      #expect(row.timestamp >= latestTrain[row.user] ?? .min, "test rows must not precede the user's train rows")
    }
    #expect(Set(split.test.users.ids).isSubset(of: Set(split.train.users.ids)))
  }

  @Test func globalTemporalSplitCutsAtOneTime() throws {
    let split = try SplitMethod.globalTemporal(testFraction: 0.25).split(data, seed: 1)
    let trainMax = split.train.timestamps.max() ?? 0
    let testMin = split.test.timestamps.min() ?? 0
    #expect(trainMax <= testMin)
  }

  @Test func leaveLastOutKeepsOneRowPerUser() throws {
    let split = try SplitMethod.leaveLastOut.split(data, seed: 1)
    #expect(split.test.count == split.test.users.count)
  }

  @Test func coldSplitsShareNoIds() throws {
    let users = try SplitMethod.coldUsers(testFraction: 0.2).split(data, seed: 4)
    #expect(Set(users.test.users.ids).isDisjoint(with: Set(users.train.users.ids)))
    let items = try SplitMethod.coldItems(testFraction: 0.2).split(data, seed: 4)
    #expect(Set(items.test.items.ids).isDisjoint(with: Set(items.train.items.ids)))
  }

  @Test func foldsPartitionTheRows() throws {
    let folds = try crossValidationFolds(data, count: 5, seed: 3)
    #expect(folds.map(\.test.count).reduce(0, +) == data.count)
    #expect(throws: SplitError.invalidFoldCount(1, rows: data.count)) { _ = try crossValidationFolds(data, count: 1, seed: 3) }
  }

  @Test func rejectsAFractionOutsideZeroOne() {
    #expect(throws: SplitError.invalidFraction(1.5)) { _ = try SplitMethod.random(testFraction: 1.5).split(data, seed: 1) }
  }
}

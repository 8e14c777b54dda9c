import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import AffinityTestSupport
import Testing

@Suite("Experiments end to end")
struct ExperimentTests {
  @Test func ratingAndRankingReportsCarryTheAgreedKeys() throws {
    let world = try Fixtures.smallWorld()
    let split = try SplitMethod.random(testFraction: 0.2).split(world.ratings, seed: 1)
    let (_, report) = try Experiment(model: "svd", parameters: [("epochs", "5")], cutoff: 10)
      .run(on: split, tasks: [.rating, .ranking])
    for key in ["rmse", "mae", "fcp", "precision@10", "recall@10", "ndcg@10", "map@10", "hit@10", "coverage@10", "mrr", "auc"] {
      #expect(report.metrics[key] != nil, "missing \(key)")
    }
    #expect(report.parameters["epochs"] == "5")
    #expect(report.fitSeconds >= 0)
  }

  @Test func popularityBeatsRandomScoresOnRanking() throws {
    let world = try Fixtures.smallWorld()
    let split = try SplitMethod.random(testFraction: 0.2).split(world.ratings, seed: 1)
    let popular = try Experiment(model: "popular", task: .ranking).run(on: split).report
    let normal = try Experiment(model: "normal", task: .ranking).run(on: split).report
    #expect((popular.metrics["ndcg@10"] ?? 0) > (normal.metrics["ndcg@10"] ?? 1))
  }

  @Test func ratingTaskOnARankingOnlyModelIsATypedError() throws {
    let split = try SplitMethod.random(testFraction: 0.3).split(try Fixtures.smallWorld().ratings, seed: 1)
    #expect(throws: ExperimentError.taskNotSupported(model: "popular", task: "rating")) {
      _ = try Experiment(model: "popular", task: .rating).run(on: split)
    }
  }
}

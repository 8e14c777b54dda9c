import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import AffinityPipeline
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

  @Test func aPlainPipelineScoresWhatTheBareModelScoresAndFallbacksReachColdUsers() throws {
    let world = try Fixtures.smallWorld()
    let split = try SplitMethod.random(testFraction: 0.2).split(world.ratings, seed: 1)
    let bare = try Experiment(model: "als", parameters: [("iterations", "3")], task: .ranking).run(on: split).report
    var piped = Experiment(model: "als", parameters: [("iterations", "3")], task: .ranking)
    piped.pipeline = Pipeline(sources: [.model])
    let through = try piped.run(on: split).report
    for key in ["precision@10", "recall@10", "ndcg@10", "hit@10"] {
      let a = try #require(bare.metrics[key]), b = try #require(through.metrics[key])
      #expect(abs(a - b) < 1e-9, "\(key): bare \(a), through the pipeline \(b)")
    }
    // Cold users: the bare model cannot rank for them; the pipeline's popular fallback can.
    let cold = try SplitMethod.coldUsers(testFraction: 0.2).split(world.ratings, seed: 1)
    var fallback = Experiment(model: "als", parameters: [("iterations", "3")], task: .ranking)
    fallback.pipeline = Pipeline(sources: [.model, .popular])
    let report = try fallback.run(on: cold).report
    #expect(report.unknownUsers == report.testCount && report.testCount > 0)
    #expect((report.metrics["hit@10"] ?? 0) > 0.2, "popular items reach cold users")
  }
}

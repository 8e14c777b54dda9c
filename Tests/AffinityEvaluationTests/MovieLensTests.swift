import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import AffinityTestSupport
import Testing

/// Golden numbers on MovieLens-100k (seeded random 80/20 split, seed 42), with tolerances.
///
/// The references are Surprise 1.1.5 on the same split file (docs/benchmarks/surprise-comparison.md).
/// These run in a debug build, so they use the cheaper models; the tuned defaults and the blend
/// are checked under `AFFINITY_SLOW_TESTS=1` (use `swift test -c release` for those).
@Suite("MovieLens-100k golden numbers", .tags(.realData), RealData.required(RealData.movieLensInteractions))
struct MovieLensTests {
  static func split() throws -> DataSplit {
    let data = try InteractionReader().read(RealData.movieLensInteractions)
    return try SplitMethod.random(testFraction: 0.2).split(data, seed: 42)
  }

  func rmse(_ model: String, _ parameters: [(String, String)] = [], on split: DataSplit) throws -> Double {
    let (_, report) = try Experiment(model: model, parameters: parameters, task: .rating).run(on: split)
    return try #require(report.metrics["rmse"])
  }

  @Test func ratingModelsMatchSurpriseOnTheSameSplit() throws {
    let split = try Self.split()
    #expect(split.train.count == 80_000 && split.test.count == 20_000)
    // Surprise 1.1.5 on this split: BaselineOnly 0.9483, KNNBaseline (pearson_baseline, item) 0.9170,
    // SlopeOne 0.9480, SVD with its defaults 0.936–0.940 over seeds.
    #expect(abs(try rmse("baseline", on: split) - 0.9483) < 0.005)
    #expect(abs(try rmse("knn-baseline", on: split) - 0.9170) < 0.005)
    #expect(abs(try rmse("slope-one", on: split) - 0.9480) < 0.005)
    let surpriseSVD = [("n_factors", "100"), ("n_epochs", "20"), ("lr_all", "0.005"), ("reg_all", "0.02"), ("init_std", "0.1")]
    #expect(abs(try rmse("svd", surpriseSVD, on: split) - 0.938) < 0.005)
  }

  @Test(.tags(.slow), .enabled(if: TestEnvironment.runsSlowTests, "set AFFINITY_SLOW_TESTS=1 (best with -c release)"))
  func tunedDefaultsBeatSurprisesBest() throws {
    let split = try Self.split()
    #expect(try rmse("svd", on: split) <= 0.912)
    #expect(try rmse("blend", on: split) <= 0.902)
  }

  @Test func rankingOnMovieLensIsDeterministicAndSane() throws {
    let split = try Self.split()
    let first = try Experiment(model: "popular", task: .ranking, positiveThreshold: 4).run(on: split).report
    let second = try Experiment(model: "popular", task: .ranking, positiveThreshold: 4).run(on: split).report
    #expect(first.metrics == second.metrics)
    let ndcg = try #require(first.metrics["ndcg@10"])
    #expect(ndcg > 0.05 && ndcg < 0.5)
    #expect(first.testCount > 800)
  }
}

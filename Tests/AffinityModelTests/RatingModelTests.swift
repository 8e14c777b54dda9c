import AffinityBaselines
import AffinityCore
import AffinityLinalg
@testable import AffinityFactorization
import AffinityTestSupport
import Testing

@Suite("Rating models: known answers and learning")
struct RatingModelTests {
  /// Baselines by hand for the tiny matrix, μ = 17/6, one ALS epoch with λ_i = λ_u = 0.
  @Test func baselineOnlyMatchesAHandComputedALSStep() throws {
    let data = try Fixtures.tinyRatings()
    let model = try BaselineOnly.fit(
      data, configuration: .init(method: .als, epochs: 1, itemRegularization: 0, userRegularization: 0),
      options: FitOptions())
    let mu: Float = 17.0 / 6
    // Items first with b_u = 0: b_i = mean(r_ui) − μ.
    let bi1: Float = 4.5 - mu
    let bi2: Float = 2.5 - mu
    let bi3: Float = 1.5 - mu
    // Then users: b_u = mean(r_ui − μ − b_i).
    let bu1: Float = ((5 - mu - bi1) + (3 - mu - bi2)) / 2
    #expect(abs(model.baselines.itemBiases[0] - bi1) < 1e-5)
    #expect(abs(model.baselines.itemBiases[1] - bi2) < 1e-5)
    #expect(abs(model.baselines.itemBiases[2] - bi3) < 1e-5)
    #expect(abs(model.baselines.userBiases[0] - bu1) < 1e-5)
    let predicted = model.predictedRating(user: "u1", item: "i3")
    #expect(abs(predicted.value - max(1, mu + bu1 + bi3)) < 1e-5)
    // An unknown user gets μ + b_i, not a crash.
    #expect(abs(model.predictedRating(user: "nobody", item: "i1").value - (mu + bi1)) < 1e-5)
  }

  @Test func matrixFactorizationBeatsTheBaselineOnASyntheticWorld() throws {
    let world = try SyntheticWorld(
      configuration: .init(userCount: 200, itemCount: 150, ratingCount: 8_000), seed: 3)
    let rows = Array(0..<world.ratings.count)
    let train = try world.ratings.subset(rows.filter { $0 % 5 != 0 })
    let test = try world.ratings.subset(rows.filter { $0 % 5 == 0 })
    func rmse(_ model: some RatingPredictor) -> Double {
      var sum = 0.0
      for k in 0..<test.count {
        let e = Double(model.predictedRating(user: test[k].user, item: test[k].item).value - test.values[k])
        sum += e * e
      }
      return (sum / Double(test.count)).squareRoot()
    }
    let baseline = try BaselineOnly.fit(train, configuration: .init(), options: FitOptions())
    let svd = try BiasedMatrixFactorization.fit(
      train, configuration: .init(embeddingSize: 16, epochs: 30), options: FitOptions(seed: 1))
    let svdpp = try SVDPlusPlus.fit(
      train, configuration: .init(embeddingSize: 16, epochs: 40, learningRate: 0.01, regularization: 0.05),
      options: FitOptions(seed: 1))
    #expect(rmse(svd) < rmse(baseline) - 0.01, "SVD must learn the latent tastes")
    #expect(rmse(svdpp) < rmse(baseline) - 0.01, "SVD++ must learn the latent tastes")
  }

  @Test func reportsDivergenceWithAFix() throws {
    let data = try Fixtures.tinyRatings()
    do {
      _ = try BiasedMatrixFactorization.fit(
        data, configuration: .init(embeddingSize: 4, epochs: 200, learningRate: 50, regularization: 0),
        options: FitOptions())
      Issue.record("a learning rate of 50 should diverge")
    } catch {
      #expect(error == .diverged(model: "SVD", epoch: error.divergedEpoch ?? -1))
      #expect(error.description.contains("lower learningRate"))
    }
  }

  @Test func nmfFactorsStayNonNegative() throws {
    let world = try Fixtures.smallWorld()
    let model = try NonNegativeMatrixFactorization.fit(world.ratings, configuration: .init(epochs: 10), options: FitOptions())
    #expect(model.userFactors.storage.allSatisfy { $0 >= 0 })
    #expect(model.itemFactors.storage.allSatisfy { $0 >= 0 })
  }
}

extension FitError {
  var divergedEpoch: Int? {
    if case .diverged(_, let epoch) = self { return epoch }
    return nil
  }
}

@Suite("Parallel training is reproducible")
struct ParallelReproducibilityTests {
  @Test func svdGivesTheSameFactorsOnOneThreadAndMany() throws {
    let world = try SyntheticWorld(
      configuration: .init(userCount: 600, itemCount: 400, ratingCount: 60_000), seed: 5)
    let configuration = BiasedMatrixFactorization.Configuration(embeddingSize: 8, epochs: 2)
    let serial = try BiasedMatrixFactorization.fit(
      world.ratings, configuration: configuration, options: FitOptions(seed: 9, threadCount: 1))
    let parallel = try BiasedMatrixFactorization.fit(
      world.ratings, configuration: configuration, options: FitOptions(seed: 9))
    #expect(serial.userFactors == parallel.userFactors)
    #expect(serial.itemFactors == parallel.itemFactors)
    #expect(serial.userBiases == parallel.userBiases)
  }

  /// 60,000 interactions: above the size where BPR and WARP run their strata on all cores.
  @Test func rankingLossesGiveTheSameEmbeddingsOnOneThreadAndMany() throws {
    let world = try SyntheticWorld(
      configuration: .init(userCount: 600, itemCount: 400, ratingCount: 60_000), seed: 5)
    func both<M: EmbeddingRecommender>(_ fit: (FitOptions) throws -> M) throws -> (EmbeddingTable, EmbeddingTable) {
      (try fit(FitOptions(seed: 3, threadCount: 1)).embeddings, try fit(FitOptions(seed: 3, threadCount: 2)).embeddings)
    }
    let bpr = try both {
      try BayesianPersonalizedRanking.fit(world.ratings, configuration: .init(embeddingSize: 8, epochs: 2), options: $0)
    }
    #expect(bpr.0 == bpr.1)
    for loss in WeightedApproximateRankPairwise.Loss.allCases {
      let warp = try both {
        try WeightedApproximateRankPairwise.fit(
          world.ratings, configuration: .init(embeddingSize: 8, epochs: 2, loss: loss), options: $0)
      }
      #expect(warp.0 == warp.1, "\(loss)")
      // Training moved the vectors: equal because deterministic, not because nothing happened.
      let initial = FactorTraining.initialEmbeddings(world.ratings, embeddingSize: 8, seed: 3)
      #expect(warp.0.itemFactors != initial.1)
    }
    #expect(bpr.0.itemBiases.contains { $0 != 0 })
  }
}

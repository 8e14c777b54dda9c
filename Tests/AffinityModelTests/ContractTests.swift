import AffinityCatalog
import AffinityCore
import AffinityLinalg
import AffinityTestSupport
import Testing

@Suite("Every model keeps the Recommender contract")
struct ContractTests {
  /// Lighter settings for the models whose defaults are slow in a debug build; the contract
  /// does not depend on them.
  static let quickSettings: [String: [(String, String)]] = [
    "svd": [("epochs", "5"), ("embeddingSize", "16")],
    "pmf": [("epochs", "5"), ("embeddingSize", "16")],
    "svdpp": [("epochs", "5"), ("embeddingSize", "16")],
    "nmf": [("epochs", "10")],
    "blend": [("models", "baseline+knn-means+slope-one")],
    "als": [("epochs", "3"), ("embeddingSize", "16")],
    "bpr": [("epochs", "5"), ("embeddingSize", "16")],
    "warp": [("epochs", "3"), ("embeddingSize", "16")],
    "kos-warp": [("epochs", "3"), ("embeddingSize", "16")],
    "logistic-mf": [("epochs", "3"), ("embeddingSize", "16")],
    "rank-blend": [("models", "item-knn+popular"), ("weightStep", "0.5")],
  ]

  @Test(arguments: ModelCatalog.names)
  func keepsTheContract(model: String) throws {
    try RecommenderContract.check(model: model, parameters: Self.quickSettings[model] ?? [])
  }

  /// One out-of-range value per model, and the exact message a user sees.
  static let invalidSettings: [(String, String, String, String)] = [
    ("svd", "embeddingSize", "0", "SVD.embeddingSize must be ≥ 1; got 0"),
    ("pmf", "learningRate", "-0.1", "PMF.learningRate must be a finite number > 0; got -0.1"),
    ("svdpp", "epochs", "0", "SVDpp.epochs must be ≥ 1; got 0"),
    ("nmf", "initialHigh", "0", "NMF.initialHigh must be > initialLow (0.0); got 0.0"),
    ("baseline", "epochs", "0", "BaselineOnly.epochs must be ≥ 1; got 0"),
    ("popular", "minimumValue", "-1", "MostPopular.minimumValue must be a finite number ≥ 0; got -1.0"),
    ("als", "cgSteps", "0", "ImplicitALS.cgSteps must be ≥ 1; got 0"),
    ("bpr", "learningRate", "0", "BPR.learningRate must be a finite number > 0; got 0.0"),
    ("ease", "regularization", "-5", "EASE.regularization must be a finite number > 0; got -5.0"),
    ("rank-blend", "models", "als", "RankBlend.models must be 2 to 4 ranking models; got 'als'"),
    ("segment-ridge", "popularityWeight", "2", "SegmentRidgeBlend.popularityWeight must be in [0, 1]; got 2.0"),
    ("segment-ridge", "valueOffset", "-1", "SegmentRidgeBlend.valueOffset must be a finite number ≥ 0; got -1.0"),
    ("inductive", "valueOffset", "-0.5", "FeatureRidge.valueOffset must be a finite number ≥ 0; got -0.5"),
  ]

  @Test(arguments: invalidSettings.indices)
  func rejectsAnOutOfRangeParameter(case index: Int) throws {
    let (model, parameter, value, message) = Self.invalidSettings[index]
    let data = try Fixtures.tinyRatings()
    let descriptor = try ModelCatalog.descriptor(named: model)
    do {
      _ = try descriptor.fit(data, parameters: [(parameter, value)], options: FitOptions())
      Issue.record("\(model) accepted \(parameter)=\(value)")
    } catch let error as FitError {
      guard case .invalidConfiguration = error else {
        Issue.record("expected invalidConfiguration, got \(error)")
        return
      }
      #expect(error.description == message)
    }
  }

  @Test func namesTheParametersWhenOneIsUnknown() throws {
    let descriptor = try ModelCatalog.descriptor(named: "svd")
    #expect(throws: CatalogError.self) {
      _ = try descriptor.fit(try Fixtures.tinyRatings(), parameters: [("factorz", "3")], options: FitOptions())
    }
    do {
      _ = try descriptor.configuration(with: [("factorz", "3")])
    } catch let error as CatalogError {
      #expect(error.description.hasPrefix("svd has no parameter 'factorz'; its parameters are "))
      #expect(error.description.contains("embeddingSize"))
    }
  }

  @Test func acceptsSurpriseParameterNames() throws {
    let resolved = try ModelCatalog.descriptor(named: "svd").configuration(with: [
      ("n_factors", "20"), ("n_epochs", "5"), ("lr_all", "0.01"), ("reg_all", "0.1"), ("biased", "false"),
    ])
    #expect(resolved["embeddingSize"] == "20")
    #expect(resolved["epochs"] == "5")
    #expect(resolved["learningRate"] == "0.01")
    #expect(resolved["biasLearningRate"] == "0.01")
    #expect(resolved["biasRegularization"] == "0.1")
    #expect(resolved["usesBiases"] == "false")
    #expect(throws: CatalogError.self) {
      _ = try ModelCatalog.descriptor(named: "svd").configuration(with: [("n_factors", "2.5")])
    }
  }

  @Test func unknownModelListsTheKnownOnes() {
    #expect(throws: CatalogError.self) { _ = try ModelCatalog.descriptor(named: "svd3") }
    #expect(throws: Never.self) { _ = try ModelCatalog.descriptor(named: "SVD++") }
  }
}

import AffinityCTR
import AffinityCore
import Foundation
import Testing

/// Small labelled sets with a known structure.
enum Toys {
  /// Users u0…u9 and items i0…i3 in every combination, 3 times; users u0…u4 always click.
  /// A linear model separates it perfectly.
  static func separable() throws -> CTRDataset {
    var builder = CTRDataset.Builder(source: "separable")
    for _ in 0..<3 {
      for u in 0..<10 {
        for i in 0..<4 {
          try builder.append(label: u < 5, features: [.category("user", "u\(u)"), .category("item", "i\(i)")])
        }
      }
    }
    return builder.build()
  }

  /// Two fields a, b with values 0…5; the label is "a + b is even", a pure interaction: every
  /// value of a (and of b) is positive exactly half the time, so no linear model beats AUC 0.5.
  /// `pairs` picks the (a, b) combinations; each appears 8 times.
  static func parity(_ pairs: [(Int, Int)], source: String = "parity") throws -> CTRDataset {
    var builder = CTRDataset.Builder(source: source)
    for _ in 0..<8 {
      for (a, b) in pairs {
        try builder.append(label: (a + b) % 2 == 0, features: [.category("a", "\(a)"), .category("b", "\(b)")])
      }
    }
    return builder.build()
  }

  static let allPairs = (0..<6).flatMap { a in (0..<6).map { b in (a, b) } }
  /// Pairs held out of training: two positives and two negatives, each value still seen.
  static let heldOut = [(0, 0), (1, 3), (2, 5), (4, 1)]
  static var trainingPairs: [(Int, Int)] { allPairs.filter { p in !heldOut.contains { $0 == p } } }

  static func auc(_ model: some CTRModel, _ data: CTRDataset) throws -> Double {
    try #require(CTREvaluation(model, on: data).auc)
  }
}

@Suite("CTR models")
struct CTRModelTests {
  static let fm = FactorizationMachine.Configuration(
    embeddingSize: 4, learningRate: 0.1, regularization: 0, epochs: 30, initialStandardDeviation: 0.1)
  static let ffm = FieldAwareFactorizationMachine.Configuration(
    embeddingSize: 4, learningRate: 0.2, regularization: 0, epochs: 30)

  @Test func logisticRegressionSeparatesALinearToy() throws {
    let data = try Toys.separable()
    let model = try LogisticRegression.fit(data, configuration: .init(learningRate: 0.1, epochs: 20), options: .init())
    let evaluation = CTREvaluation(model, on: data)
    #expect(evaluation.auc == 1)
    #expect(try #require(evaluation.logLoss) < 0.2)
    #expect(model.probability(of: [.category("user", "u0")]) > 0.8)
    #expect(model.probability(of: [.category("user", "u9")]) < 0.2)
  }

  @Test func onlyModelsWithCrossesLearnAnInteraction() throws {
    let data = try Toys.parity(Toys.allPairs)
    let lr = try LogisticRegression.fit(data, configuration: .init(learningRate: 0.1, epochs: 30), options: .init())
    #expect(abs(try Toys.auc(lr, data) - 0.5) < 0.1, "a linear model cannot see parity")
    let poly2 = try Poly2.fit(
      data, configuration: .init(learningRate: 0.1, regularization: 0, epochs: 30, hashBits: 12), options: .init())
    #expect(try Toys.auc(poly2, data) > 0.99)
    let fm = try FactorizationMachine.fit(data, configuration: Self.fm, options: .init())
    #expect(try Toys.auc(fm, data) > 0.99)
    let ffm = try FieldAwareFactorizationMachine.fit(data, configuration: Self.ffm, options: .init())
    #expect(try Toys.auc(ffm, data) > 0.99)
  }

  @Test func factorizedCrossesGeneraliseToUnseenPairsButHashedOnesDoNot() throws {
    let train = try Toys.parity(Toys.trainingPairs)
    let heldOut = try Toys.parity(Toys.heldOut, source: "held out").mapped(onto: train.vocabulary)
    #expect(heldOut.unseenFeatureCount == 0, "every value was seen, only the pairs are new")
    let fm = try FactorizationMachine.fit(train, configuration: Self.fm, options: .init())
    #expect(try Toys.auc(fm, heldOut) == 1)
    let ffm = try FieldAwareFactorizationMachine.fit(train, configuration: Self.ffm, options: .init())
    #expect(try Toys.auc(ffm, heldOut) == 1)
    let poly2 = try Poly2.fit(
      train, configuration: .init(learningRate: 0.1, regularization: 0, epochs: 30, hashBits: 12), options: .init())
    #expect(try Toys.auc(poly2, heldOut) < 0.8, "a pair never seen in training has no weight")
  }

  @Test func theSameSeedGivesTheSameModel() throws {
    let data = try Toys.parity(Toys.allPairs)
    let a = try FactorizationMachine.fit(data, configuration: Self.fm, options: .init(seed: 3))
    let b = try FactorizationMachine.fit(data, configuration: Self.fm, options: .init(seed: 3))
    let c = try FactorizationMachine.fit(data, configuration: Self.fm, options: .init(seed: 4))
    #expect(a.factors == b.factors && a.weights == b.weights && a.bias == b.bias)
    #expect(a.factors != c.factors)
    let f1 = try FieldAwareFactorizationMachine.fit(data, configuration: Self.ffm, options: .init(seed: 3))
    let f2 = try FieldAwareFactorizationMachine.fit(data, configuration: Self.ffm, options: .init(seed: 3))
    #expect(f1.factors == f2.factors)
  }

  @Test func modelsRoundTripThroughJSON() throws {
    let data = try Toys.parity(Toys.allPairs)
    let options = FitOptions(seed: 1)
    let small = Poly2.Configuration(epochs: 2, hashBits: 8)
    try Self.roundTrip(LogisticRegression.fit(data, configuration: .init(epochs: 2), options: options), data)
    try Self.roundTrip(Poly2.fit(data, configuration: small, options: options), data)
    try Self.roundTrip(FactorizationMachine.fit(data, configuration: .init(epochs: 2), options: options), data)
    try Self.roundTrip(FieldAwareFactorizationMachine.fit(data, configuration: .init(epochs: 2), options: options), data)
  }

  static func roundTrip<Model: CTRModel>(_ model: Model, _ data: CTRDataset) throws {
    let decoded = try JSONDecoder().decode(Model.self, from: JSONEncoder().encode(model))
    #expect(decoded.probabilities(data) == model.probabilities(data))
    #expect(decoded.vocabulary == model.vocabulary)
    #expect(decoded.configuration == model.configuration)
  }

  @Test func corruptedParametersFailToDecode() throws {
    let data = try Toys.parity(Toys.allPairs)
    let model = try FactorizationMachine.fit(data, configuration: .init(epochs: 1), options: .init())
    var json = try #require(
      try JSONSerialization.jsonObject(with: JSONEncoder().encode(model)) as? [String: Any])
    json["weights"] = FloatBlobText.of([1, 2])
    let broken = try JSONSerialization.data(withJSONObject: json)
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(FactorizationMachine.self, from: broken) }
  }

  @Test func invalidConfigurationsNameTheField() throws {
    let data = try Toys.separable()
    #expect(throws: FitError.self) {
      try LogisticRegression.fit(data, configuration: .init(learningRate: -0.1), options: .init())
    }
    let messages = [
      Self.message { () throws(ConfigurationError) in try LogisticRegression.Configuration(learningRate: -0.1).validate() },
      Self.message { () throws(ConfigurationError) in try FactorizationMachine.Configuration(embeddingSize: 0).validate() },
      Self.message { () throws(ConfigurationError) in try FieldAwareFactorizationMachine.Configuration(epochs: 0).validate() },
      Self.message { () throws(ConfigurationError) in try Poly2.Configuration(hashBits: 40).validate() },
      Self.message { () throws(ConfigurationError) in try FactorizationMachine.Configuration(regularization: -1).validate() },
    ]
    #expect(
      messages == [
        "LogisticRegression.learningRate must be a finite number > 0; got -0.1",
        "FM.embeddingSize must be ≥ 1; got 0",
        "FFM.epochs must be ≥ 1; got 0",
        "Poly2.hashBits must be between 1 and 28; got 40",
        "FM.regularization must be a finite number ≥ 0; got -1.0",
      ])
    let error = #expect(throws: FitError.self) {
      try FactorizationMachine.fit(data, configuration: .init(embeddingSize: 0), options: .init())
    }
    #expect(error?.description == "FM.embeddingSize must be ≥ 1; got 0")
  }

  static func message(_ body: () throws(ConfigurationError) -> Void) -> String? {
    do {
      try body()
      return nil
    } catch {
      return error.description
    }
  }

  @Test func emptyDataAndDivergenceAreTypedErrors() throws {
    let empty = CTRDataset.Builder(source: "no rows").build()
    #expect(throws: FitError.invalidData(.empty(source: "no rows"))) {
      try FieldAwareFactorizationMachine.fit(empty, configuration: .init(), options: .init())
    }
    var builder = CTRDataset.Builder(source: "huge")
    try builder.append(label: true, features: [CTRFeature(field: "a", name: "a=1", value: 1e30)])
    try builder.append(label: false, features: [CTRFeature(field: "a", name: "a=1", value: -1e30)])
    #expect(throws: FitError.diverged(model: "LogisticRegression", epoch: 1)) {
      try LogisticRegression.fit(
        builder.build(), configuration: .init(learningRate: 1e10, optimizer: .sgd), options: .init())
    }
  }

  @Test func ranksCandidatesForAUser() throws {
    // u1 likes i1 and i3; everyone else likes i2.
    var rows: [Interaction] = []
    for u in 0..<6 {
      for i in 1...3 {
        let likes = u == 1 ? i != 2 : i == 2
        rows.append(Interaction(user: UserID("u\(u)"), item: ItemID("i\(i)"), value: likes ? 5 : 1))
      }
    }
    let featurizer = CTRFeaturizer()
    let data = try featurizer.trainingSet(try InteractionData(rows))
    let model = try FactorizationMachine.fit(data, configuration: Self.fm, options: .init())
    let ranked = model.ranked(["i2", "i3", "i1"], for: "u1", featurizer: featurizer)
    #expect(ranked.last?.item == "i2")
    #expect(model.ranked(["i1", "i2", "i3"], for: "u4", featurizer: featurizer).first?.item == "i2")
    let scores = ranked.map { $0.score }
    #expect(scores == scores.sorted(by: >))
  }
}

/// Base64 of little-endian Float32 values, the form `FloatBlob` writes.
enum FloatBlobText {
  static func of(_ values: [Float]) -> String {
    var data = Data()
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    return data.base64EncodedString()
  }
}

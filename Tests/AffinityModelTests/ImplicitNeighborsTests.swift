import AffinityBaselines
import AffinityCore
import AffinityLinalg
import AffinityTestSupport
import Foundation
import Testing

@testable import AffinityNeighbors

/// Known answers for the implicit-feedback family on a 6 × 6 fixture of weights.
///
/// ```
///        i1  i2  i3  i4  i5  i6
///   u1    2   1   .   .   .   .
///   u2    1   3   1   .   .   .
///   u3    .   1   2   1   .   .
///   u4    .   .   1   4   1   .
///   u5    .   .   .   .   2   1
///   u6    1   .   .   .   .   3
/// ```
///
/// The expected cosine, BM25 and TF-IDF numbers were computed with implicit 0.7.3
/// (`CosineRecommender`, `BM25Recommender(K1=1.2, B=0.75)`, `TFIDFRecommender`, K = 10) on this
/// matrix and pasted here; the others are worked out in the comments.
@Suite("Implicit-feedback neighbours and EASE")
struct ImplicitNeighborsTests {
  static func weights() throws -> InteractionData {
    let rows: [(UserID, ItemID, Float)] = [
      ("u1", "i1", 2), ("u1", "i2", 1),
      ("u2", "i1", 1), ("u2", "i2", 3), ("u2", "i3", 1),
      ("u3", "i2", 1), ("u3", "i3", 2), ("u3", "i4", 1),
      ("u4", "i3", 1), ("u4", "i4", 4), ("u4", "i5", 1),
      ("u5", "i5", 2), ("u5", "i6", 1),
      ("u6", "i1", 1), ("u6", "i6", 3),
    ]
    return try InteractionData(
      rows.map { Interaction(user: $0.0, item: $0.1, value: $0.2) }, source: "6 × 6 fixture")
  }

  /// Two groups of four users and four items; each user has every item of the group but one.
  static func checkerboard() throws -> InteractionData {
    var rows: [Interaction] = []
    for group in ["a", "b"] {
      for user in 1...4 {
        for item in 1...4 where item != user {
          rows.append(
            Interaction(user: UserID("\(group)\(user)"), item: ItemID("\(group)-item\(item)")))
        }
      }
    }
    return try InteractionData(rows, source: "checkerboard")
  }

  static func itemKNN(_ configuration: ItemKNN.Configuration) throws -> ItemKNN {
    try ItemKNN.fit(weights(), configuration: configuration, options: FitOptions())
  }

  static func userKNN(_ configuration: UserKNN.Configuration) throws -> UserKNN {
    try UserKNN.fit(weights(), configuration: configuration, options: FitOptions())
  }

  static func close(_ a: Float?, _ b: Double, _ tolerance: Double = 1e-6) -> Bool {
    guard let a else { return false }
    return abs(Double(a) - b) <= tolerance * max(1, abs(b))
  }

  // MARK: - Similarities

  @Test(arguments: [
    // (similarity, [(row, column, implicit's value)])
    (
      ImplicitSimilarity.cosine,
      [(0, 1, 0.615457455), (0, 5, 0.387298335), (2, 3, 0.594088526), (3, 4, 0.433860916)]
    ),
    (.bm25, [(0, 1, 0.869458063), (1, 3, 0.1404748), (2, 4, 0.18875833), (4, 5, 0.729023527)]),
    (.tfidf, [(0, 1, 0.71326516), (1, 2, 0.597910205), (2, 3, 0.763441362), (4, 5, 0.462034881)]),
  ])
  func itemSimilaritiesMatchImplicit(similarity: ImplicitSimilarity, pairs: [(Int, Int, Double)])
    throws
  {
    let model = try Self.itemKNN(.init(similarity: similarity, neighborCount: 10))
    for (row, column, expected) in pairs {
      #expect(Self.close(model.neighbors.value(row: row, column: column), expected))
      #expect(Self.close(model.neighbors.value(row: column, column: row), expected))
    }
    #expect(model.neighbors.value(row: 0, column: 0) == nil, "an item is not its own neighbour")
    #expect(model.neighbors.value(row: 0, column: 3) == nil, "no common user, no similarity")
  }

  @Test func jaccardIsIntersectionOverUnionForBinaryData() throws {
    let binary = try Self.itemKNN(.init(similarity: .jaccard, neighborCount: 10, usesValues: false))
    // i1 = {u1, u2, u6}, i2 = {u1, u2, u3}: 2 / 4.
    #expect(binary.neighbors.value(row: 0, column: 1) == 0.5)
    // i3 = {u2, u3, u4}, i4 = {u3, u4}: 2 / 3.
    #expect(Self.close(binary.neighbors.value(row: 2, column: 3), 2.0 / 3))
    // Weighted (Tanimoto): i1 = (2, 1, ·, ·, ·, 1), i2 = (1, 3, 1, ·, ·, ·):
    // 5 / (6 + 11 − 5).
    let weighted = try Self.itemKNN(.init(similarity: .jaccard, neighborCount: 10))
    #expect(Self.close(weighted.neighbors.value(row: 0, column: 1), 5.0 / 12))
  }

  @Test func asymmetricCosineWeighsTheCandidateByAlpha() throws {
    // i3 = {u2, u3, u4}, i4 = {u3, u4}. Row h is the history item, column c the candidate:
    // |c ∩ h| / (|c|^α |h|^(1 − α)).
    let conditional = try Self.itemKNN(
      .init(similarity: .asymmetricCosine, neighborCount: 10, asymmetricAlpha: 0, usesValues: false)
    )
    #expect(Self.close(conditional.neighbors.value(row: 2, column: 3), 2.0 / 3), "P(i4 | i3)")
    #expect(conditional.neighbors.value(row: 3, column: 2) == 1, "P(i3 | i4)")
    let half = try Self.itemKNN(
      .init(similarity: .asymmetricCosine, neighborCount: 10, asymmetricAlpha: 0.5))
    let cosine = try Self.itemKNN(.init(similarity: .cosine, neighborCount: 10))
    for row in 0..<6 {
      for column in 0..<6 where row != column {
        let (a, b) = (
          half.neighbors.value(row: row, column: column),
          cosine.neighbors.value(row: row, column: column)
        )
        #expect((a == nil) == (b == nil))
        if let a, let b { #expect(abs(a - b) <= 1e-6) }
      }
    }
  }

  @Test func shrinkageIsAddedToTheDenominator() throws {
    let model = try Self.itemKNN(
      .init(similarity: .cosine, neighborCount: 10, usesValues: false, shrinkage: 1))
    // i3, i4 binary: 2 / (√3 √2 + 1).
    #expect(Self.close(model.neighbors.value(row: 2, column: 3), 2 / (6.0.squareRoot() + 1)))
  }

  // MARK: - Scores

  @Test func itemScoresAreImplicitsRecommendScores() throws {
    // implicit: CosineRecommender(K=10).recommend(u1) → i3 0.948790788, i6 0.774596669,
    // i4 0.073127242.
    let model = try Self.itemKNN(.init(similarity: .cosine, neighborCount: 10))
    let scores = try model.scores(for: RecommendationQuery(user: "u1"))
    #expect(Self.close(scores[2], 0.948790788))
    #expect(Self.close(scores[5], 0.774596669))
    #expect(Self.close(scores[3], 0.073127242))
    #expect(scores[4] == 0)
    let top = try model.recommend(RecommendationQuery(user: "u1", count: 2))
    #expect(top.map(\.item) == ["i3", "i6"])
  }

  @Test func neighbourListsKeepTheTopK() throws {
    // implicit's K = 3 keeps each item and its 2 nearest: neighborCount 2 here.
    // implicit: recommend(u2) → i4 0.594088526, i6 0.387298335, nothing else.
    let model = try Self.itemKNN(.init(similarity: .cosine, neighborCount: 2))
    let scores = try model.scores(for: RecommendationQuery(user: "u2"))
    #expect(Self.close(scores[3], 0.594088526))
    #expect(Self.close(scores[5], 0.387298335))
    #expect(scores[4] == 0)
    for row in 0..<6 { #expect(model.neighbors.range(ofRow: row).count <= 2) }
  }

  @Test func userScoresSumTheNearestUsersItems() throws {
    // Binary cosine to u1 = {i1, i2}: u2 2/√6, u6 1/2, u3 1/√6. With k = 2, u2 and u6.
    let model = try Self.userKNN(
      .init(similarity: .cosine, neighborCount: 2, usesValues: false, shrinkage: 0))
    let scores = try model.scores(for: RecommendationQuery(user: "u1"))
    #expect(Self.close(scores[2], 2 / 6.0.squareRoot()), "i3 from u2")
    #expect(Self.close(scores[5], 0.5), "i6 from u6")
    #expect(scores[3] == 0, "i4 only from u3, who is not among the 2 nearest")
  }

  @Test func checkerboardRecommendsTheGroupsMissingItem() throws {
    let data = try Self.checkerboard()
    let models: [any Recommender] = [
      try ItemKNN.fit(data, configuration: .init(), options: FitOptions()),
      try UserKNN.fit(data, configuration: .init(), options: FitOptions()),
      try EASE.fit(data, configuration: .init(regularization: 1), options: FitOptions()),
    ]
    for model in models {
      for group in ["a", "b"] {
        for user in 1...4 {
          let top = try model.recommend(
            RecommendationQuery(user: UserID("\(group)\(user)"), count: 1))
          #expect(top.map(\.item) == [ItemID("\(group)-item\(user)")], "\(type(of: model).kind)")
        }
      }
    }
  }

  // MARK: - Capabilities

  @Test func similarItemsComeFromTheNeighbourLists() throws {
    let model = try Self.itemKNN(.init(similarity: .cosine, neighborCount: 10))
    let similar = try model.similarItems(to: "i3", count: 3)
    #expect(similar.map(\.item) == ["i2", "i4", "i5"])
    #expect(Self.close(similar.first?.score, 0.615457455))
    #expect(throws: QueryError.unknownItem("nothing")) {
      try model.similarItems(to: "nothing", count: 3)
    }
    #expect(throws: QueryError.invalidCount(0)) { try model.similarItems(to: "i3", count: 0) }
    // A user-based model computes the same item similarity on demand.
    let users = try Self.userKNN(.init(similarity: .cosine, neighborCount: 10, shrinkage: 0))
    let computed = try users.similarItems(to: "i3", count: 3)
    #expect(computed.map(\.item) == similar.map(\.item))
    #expect(zip(computed, similar).allSatisfy { abs($0.score - $1.score) <= 1e-6 })
  }

  @Test func explanationsAddUpToTheScore() throws {
    let data = try Self.weights()
    let models: [any Explainable] = [
      try ItemKNN.fit(data, configuration: .init(neighborCount: 3), options: FitOptions()),
      try UserKNN.fit(data, configuration: .init(neighborCount: 3), options: FitOptions()),
      try EASE.fit(data, configuration: .init(regularization: 2), options: FitOptions()),
    ]
    for model in models {
      for query in [RecommendationQuery(user: "u3"), RecommendationQuery(history: ["i1", "i5"])] {
        let scores = try model.scores(for: query)
        for (i, item) in model.items.ids.enumerated() {
          let explanation = try model.explanation(of: item, for: query)
          let total = explanation.contributions.reduce(Float(0)) { $0 + $1.weight }
          #expect(abs(explanation.score - scores[i]) <= 1e-6, "\(type(of: model).kind) \(item)")
          #expect(abs(total - scores[i]) <= 1e-5, "\(type(of: model).kind) \(item)")
          let sizes = explanation.contributions.map { abs($0.weight) }
          #expect(sizes == sizes.sorted(by: >))
        }
      }
    }
    let itemBased = try ItemKNN.fit(
      data, configuration: .init(similarity: .cosine, neighborCount: 10), options: FitOptions())
    // i3 for u1: 2 · sim(i3, i1) + 1 · sim(i3, i2) = 2/6 + 0.6154…: i2 first.
    let why = try itemBased.explanation(of: "i3", for: RecommendationQuery(user: "u1"))
    #expect(why.contributions.map(\.source) == ["i2", "i1"])
  }

  @Test func foldingInAHistoryMatchesTheKnownUser() throws {
    let data = try Self.weights()
    let history: [ItemID] = ["i2", "i3", "i4"]  // u3's items
    let itemBased = try ItemKNN.fit(
      data, configuration: .init(neighborCount: 3, usesValues: false), options: FitOptions())
    #expect(
      try itemBased.scores(forHistory: history)
        == itemBased.scores(for: RecommendationQuery(user: "u3")))
    // Without recency weighting a known user is scored exactly as the fold-in of their items.
    let ease = try EASE.fit(
      data, configuration: .init(regularization: 2, usesValues: false, historyHalfLife: 0), options: FitOptions())
    #expect(
      try ease.scores(forHistory: history) == ease.scores(for: RecommendationQuery(user: "u3")))
    // With it, the user's later interactions weigh more: the scores differ from the flat fold-in.
    let recent = try EASE.fit(
      data, configuration: .init(regularization: 2, usesValues: false, historyHalfLife: 1), options: FitOptions())
    #expect(try recent.scores(forHistory: history) != recent.scores(for: RecommendationQuery(user: "u3")))
    #expect(
      try ease.scores(for: RecommendationQuery(user: "stranger", history: history))
        == ease.scores(forHistory: history))
    // User-based: the history also finds u3 itself, which adds only to u3's own items; with
    // every user a neighbour the other items score the same.
    let userBased = try UserKNN.fit(
      data, configuration: .init(neighborCount: 6, usesValues: false), options: FitOptions())
    let folded = try userBased.scores(forHistory: history)
    let known = try userBased.scores(for: RecommendationQuery(user: "u3"))
    for i in [0, 4, 5] { #expect(abs(folded[i] - known[i]) <= 1e-6) }
    #expect(try userBased.scores(forHistory: []) == [Float](repeating: 0, count: 6))
    #expect(try userBased.scores(forHistory: ["unknown"]) == [Float](repeating: 0, count: 6))
  }

  // MARK: - EASE

  @Test func easeMatchesTheClosedForm() throws {
    // X = u1 {i1, i2}, u2 {i2, i3}, u3 {i1, i3}, u4 {i1}; λ = 1: G = [[4,1,1],[1,3,1],[1,1,3]].
    // B = I − P diag(1/diag(P)), P = G⁻¹, computed with NumPy 2.4 and pasted here.
    let data = try InteractionData([
      Interaction(user: "u1", item: "i1"), Interaction(user: "u1", item: "i2"),
      Interaction(user: "u2", item: "i2"), Interaction(user: "u2", item: "i3"),
      Interaction(user: "u3", item: "i1"), Interaction(user: "u3", item: "i3"),
      Interaction(user: "u4", item: "i1"),
    ])
    let model = try EASE.fit(data, configuration: .init(regularization: 1), options: FitOptions())
    let expected: [[Double]] = [
      [0, 0.181818182, 0.181818182],
      [0.25, 0, 0.272727273],
      [0.25, 0.272727273, 0],
    ]
    for j in 0..<3 {
      for i in 0..<3 { #expect(Self.close(model.weights[j, i], expected[j][i])) }
    }
    let scores = try model.scores(for: RecommendationQuery(user: "u4"))
    #expect(Self.close(scores[1], 2.0 / 11) && Self.close(scores[2], 2.0 / 11))
    #expect(try model.similarItems(to: "i1", count: 2).map(\.item) == ["i2", "i3"])
  }

  @Test func symmetricInverseInvertsAcrossBlocksAndGroups() {
    // n = 150 crosses two 64-row Cholesky blocks and ends in a partial group of four.
    let n = 150
    let stride = 152
    var generator = SeededGenerator(seed: 3)
    var m = [Double](repeating: 0, count: n * n)
    for k in 0..<(n * n) { m[k] = Double.random(in: -1...1, using: &generator) }
    // A = M Mᵀ + n I, symmetric positive definite.
    var a = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
      for j in 0..<n {
        var sum = 0.0
        for k in 0..<n { sum += m[i * n + k] * m[j * n + k] }
        a[i * n + j] = sum + (i == j ? Double(n) : 0)
      }
    }
    var work = [Double](repeating: 0, count: n * stride)
    for i in 0..<n { for j in 0...i { work[i * stride + j] = a[i * n + j] } }
    let inverted = work.withUnsafeMutableBufferPointer {
      SymmetricInverse.invertLower($0.baseAddress!, count: n, stride: stride, parallel: true)
    }
    #expect(inverted)
    var worst = 0.0
    for i in 0..<n {
      for j in 0..<n {
        var sum = 0.0
        for k in 0..<n {
          let p = k <= i ? work[i * stride + k] : work[k * stride + i]
          sum += p * a[k * n + j]
        }
        worst = max(worst, abs(sum - (i == j ? 1 : 0)))
      }
    }
    #expect(worst < 1e-12, "‖A⁻¹A − I‖∞ = \(worst)")
    var singular = [Double](repeating: 0, count: 4 * 8)
    singular[0] = 1
    #expect(
      !singular.withUnsafeMutableBufferPointer {
        SymmetricInverse.invertLower($0.baseAddress!, count: 4, stride: 8, parallel: false)
      }, "a zero pivot is reported, not trapped")
  }

  // MARK: - Determinism, storage, errors

  @Test func oneThreadAndManyGiveTheSameBytes() throws {
    // 300 users and items: enough rows for every parallel loop to split.
    let world = try SyntheticWorld(
      configuration: .init(userCount: 300, itemCount: 300, ratingCount: 6_000), seed: 11)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]  // key order is otherwise unspecified
    func isReproducible<Model: Recommender>(_: Model.Type, _ configuration: Model.Configuration)
      throws -> Bool
    {
      let bytes = try [nil, 1].map { threads in
        let model = try Model.fit(
          world.ratings, configuration: configuration, options: FitOptions(threadCount: threads))
        return try encoder.encode(model)
      }
      return bytes[0] == bytes[1]
    }
    #expect(try isReproducible(ItemKNN.self, .init()))
    #expect(try isReproducible(UserKNN.self, .init(similarity: .bm25)))
    #expect(try isReproducible(EASE.self, .init()))
  }

  @Test func modelsSurviveTheirSavedForm() throws {
    let data = try Self.weights()
    let query = RecommendationQuery(user: "u2")
    let item = try ItemKNN.fit(data, configuration: .init(), options: FitOptions())
    let user = try UserKNN.fit(data, configuration: .init(), options: FitOptions())
    let ease = try EASE.fit(data, configuration: .init(), options: FitOptions())
    let decoder = JSONDecoder()
    let encoder = JSONEncoder()
    #expect(
      try decoder.decode(ItemKNN.self, from: encoder.encode(item)).scores(for: query)
        == item.scores(for: query))
    #expect(
      try decoder.decode(UserKNN.self, from: encoder.encode(user)).scores(for: query)
        == user.scores(for: query))
    #expect(
      try decoder.decode(EASE.self, from: encoder.encode(ease)).scores(for: query)
        == ease.scores(for: query))
    // An item-based bundle is not a user-based one.
    #expect(throws: DecodingError.self) {
      try decoder.decode(UserKNN.self, from: encoder.encode(item))
    }
  }

  @Test(arguments: [
    ("item-knn", "neighborCount", "ItemKNN.neighborCount must be ≥ 1; got 0"),
    ("item-knn", "asymmetricAlpha", "ItemKNN.asymmetricAlpha must be in [0, 1]; got 1.5"),
    ("user-knn", "bm25B", "UserKNN.bm25B must be in [0, 1]; got -0.5"),
    ("user-knn", "shrinkage", "UserKNN.shrinkage must be a finite number ≥ 0; got -1.0"),
    ("ease", "regularization", "EASE.regularization must be a finite number > 0; got 0.0"),
    ("popular", "halfLifeDays", "MostPopular.halfLifeDays must be a finite number ≥ 0; got -1.0"),
  ])
  func rejectsOutOfRangeSettings(model: String, parameter: String, message: String) throws {
    let data = try Self.weights()
    let error: FitError?
    switch (model, parameter) {
    case ("item-knn", "neighborCount"):
      error = Self.fitError {
        try ItemKNN.fit(data, configuration: .init(neighborCount: 0), options: FitOptions())
      }
    case ("item-knn", _):
      error = Self.fitError {
        try ItemKNN.fit(data, configuration: .init(asymmetricAlpha: 1.5), options: FitOptions())
      }
    case ("user-knn", "bm25B"):
      error = Self.fitError {
        try UserKNN.fit(data, configuration: .init(bm25B: -0.5), options: FitOptions())
      }
    case ("user-knn", _):
      error = Self.fitError {
        try UserKNN.fit(data, configuration: .init(shrinkage: -1), options: FitOptions())
      }
    case ("ease", _):
      error = Self.fitError {
        try EASE.fit(data, configuration: .init(regularization: 0), options: FitOptions())
      }
    default:
      error = Self.fitError {
        try MostPopular.fit(data, configuration: .init(halfLifeDays: -1), options: FitOptions())
      }
    }
    #expect(error?.description == message)
  }

  /// The ``FitError`` that `body` throws, or nil when it succeeds.
  static func fitError(_ body: () throws -> some Any) -> FitError? {
    do {
      _ = try body()
      return nil
    } catch {
      return error as? FitError
    }
  }

  @Test func easeRefusesLargeCatalogsAndSaysWhy() throws {
    let data = try Self.weights()
    let error = Self.fitError {
      try EASE.fit(data, configuration: .init(maximumItems: 5), options: FitOptions())
    }
    #expect(
      error?.description
        == "EASE.maximumItems must be at least the number of training items; got 5, but the "
        + "training data has 6 items (fitting would need 432 bytes for the dense item × item "
        + "matrices); use item-knn for a catalog this large")
  }

  @Test func negativeWeightsAreRejectedWithTheirRow() throws {
    let data = try InteractionData(
      [
        Interaction(user: "u1", item: "i1", value: 1),
        Interaction(user: "u2", item: "i1", value: -2),
      ], source: "clicks.tsv")
    let error = Self.fitError {
      try ItemKNN.fit(data, configuration: .init(), options: FitOptions())
    }
    #expect(
      error?.description
        == "clicks.tsv field 'value': '-2.0' is not a weight ≥ 0 for ItemKNN (the row of user "
        + "'u2' and item 'i1'); fix or remove that row")
  }

  // MARK: - Popularity with time decay

  @Test func popularityDecaysWithAge() throws {
    let day: Int64 = 86_400
    let data = try InteractionData([
      Interaction(user: "u1", item: "old", timestamp: 0),
      Interaction(user: "u2", item: "new", timestamp: 10 * day),
      Interaction(user: "u3", item: "new", timestamp: 0),
    ])
    let plain = try MostPopular.fit(data, configuration: .init(), options: FitOptions())
    #expect(plain.counts == [1, 2])
    // Ten days with a ten-day half-life: the old interactions count ½.
    let decayed = try MostPopular.fit(
      data, configuration: .init(halfLifeDays: 10), options: FitOptions())
    #expect(decayed.counts == [0.5, 1.5])
    // Configurations saved before the field existed read as no decay.
    let old = try JSONDecoder().decode(
      MostPopular.Configuration.self, from: Data(#"{"minimumValue": 2}"#.utf8))
    #expect(old == MostPopular.Configuration(minimumValue: 2, halfLifeDays: 0))
  }
}

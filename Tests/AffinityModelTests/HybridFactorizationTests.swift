import AffinityBaselines
import AffinityContent
import AffinityCore
import AffinityLinalg
import AffinityTestSupport
import Foundation
import Testing

@Suite("Hybrid factorization (inductive + per-id, joint ALS)")
struct HybridFactorizationTests {
  /// Three taste groups of unequal size: 12 users like films a0–a4, 6 like b0–b4, 4 like
  /// c0–c4; each trained user has watched four of their group's five films. The user table
  /// also knows two users per group with no interactions (`A-new0`, …) and the item table one
  /// unwatched film per group (a5, b5, c5). Popularity favours group A's films for everyone.
  static func world() throws -> (InteractionData, SideInformation) {
    let sizes = ["a": 12, "b": 6, "c": 4]
    var rows: [Interaction] = []
    var userIDs: [UserID] = []
    for (group, size) in sizes.sorted(by: { $0.key < $1.key }) {
      for n in 0..<size {
        let user = UserID("\(group.uppercased())\(n)")
        userIDs.append(user)
        for i in 0..<5 where i != n % 5 { rows.append(Interaction(user: user, item: ItemID("\(group)\(i)"))) }
      }
      for n in 0..<2 { userIDs.append(UserID("\(group.uppercased())-new\(n)")) }
    }
    let users = try FeatureTable<UserID>(
      ids: IDVocabulary(userIDs),
      columns: [
        .init(name: "group", kind: .categorical, values: userIDs.map { .category(String($0.rawValue.prefix(1))) })
      ], source: "users")
    let itemIDs = ["a", "b", "c"].flatMap { group in (0..<6).map { ItemID("\(group)\($0)") } }
    let items = try FeatureTable<ItemID>(
      ids: IDVocabulary(itemIDs),
      columns: [
        .init(name: "genre", kind: .categorical, values: itemIDs.map { .category(String($0.rawValue.prefix(1))) })
      ], source: "items")
    let side = SideInformation(users: try FeatureEncoder().encode(users), items: try FeatureEncoder().encode(items))
    return (try InteractionData(rows), side)
  }

  static let quick = HybridFactorization.Configuration(
    embeddingSize: 4, featureEmbeddingSize: 4, userRegularization: 1, itemRegularization: 1,
    userFeatureRegularization: 0.1, itemFeatureRegularization: 0.1, confidenceWeight: 4, epochs: 15)

  static func group(of items: [ScoredItem]) -> Set<Character> { Set(items.compactMap { $0.item.rawValue.first }) }

  @Test func coldUsersRankedFromTheirFeaturesBeatPopularity() throws {
    let (data, side) = try Self.world()
    let model = try HybridFactorization.fit(
      data, features: SideInformation(users: side.users), configuration: Self.quick, options: FitOptions(seed: 3))
    let popular = try MostPopular.fit(data, configuration: .init(), options: FitOptions())
    var hybridHits = 0
    var popularHits = 0
    for group in ["A", "B", "C"] {
      for n in 0..<2 {
        let query = RecommendationQuery(user: UserID("\(group)-new\(n)"), count: 4)
        let wanted = Character(group.lowercased())
        hybridHits += try model.recommend(query).filter { $0.item.rawValue.first == wanted }.count
        popularHits += try popular.recommend(query).filter { $0.item.rawValue.first == wanted }.count
      }
    }
    #expect(hybridHits == 24, "every cold user's top 4 are films of their group")
    #expect(popularHits == 8, "popularity serves group A's films to everyone")
  }

  @Test func coldItemsAndRequestTimeFeaturesAreScoredFromFeatures() throws {
    let (data, side) = try Self.world()
    let model = try HybridFactorization.fit(data, features: side, configuration: Self.quick, options: FitOptions(seed: 3))
    // An unwatched film, ranked among the unwatched ones from its genre alone.
    for (user, film) in [("A0", "a5"), ("B1", "b5"), ("C2", "c5")] {
      let top = try model.recommend(RecommendationQuery(user: UserID(user), count: 1, allowing: ["a5", "b5", "c5"]))
      #expect(top.first?.item == ItemID(film), "\(user)")
    }
    // An id in no file, described by features in the request.
    let stranger = try model.recommend(RecommendationQuery(user: "stranger", count: 4, features: ["group=C"]))
    #expect(Self.group(of: stranger) == ["c"])
  }

  @Test func foldInMovesScoresTowardTheHistory() throws {
    let (data, side) = try Self.world()
    // Users without features: each user's taste is their identity row and per-id vector, and
    // a new user's pair is folded in from their history.
    let model = try HybridFactorization.fit(
      data, features: SideInformation(items: side.items), configuration: Self.quick, options: FitOptions(seed: 3))
    let before = try model.scores(for: RecommendationQuery(user: "stranger"))
    let after = try model.scores(forHistory: ["c0", "c1"])
    func change(_ id: ItemID) throws -> Float {
      let j = try #require(model.items.index(of: id))
      return after[j] - before[j]
    }
    // A stranger who watched two C films: the other C films gain the most, the unwatched c5 too.
    #expect(try change("c2") > 0.1)
    #expect(try change("c2") > change("a2") + 0.1)
    #expect(try change("c3") > change("b3") + 0.1)
    #expect(try change("c5") > change("a5") + 0.1)
    let top = try model.recommend(RecommendationQuery(history: ["c0", "c1"], count: 3))
    #expect(Self.group(of: top) == ["c"])
    // A trained A user whose request brings C films is re-solved with them.
    let mixed = try model.scores(for: RecommendationQuery(user: "A1", history: ["c0", "c1", "c2"]))
    let plain = try model.scores(for: RecommendationQuery(user: "A1"))
    let c3 = try #require(model.items.index(of: "c3"))
    #expect(mixed[c3] > plain[c3] + 0.1)
  }

  @Test func jointTrainingLowersTheLossEveryEpoch() throws {
    let world = try Fixtures.smallWorld()
    let losses = LossLog()
    let options = FitOptions(seed: 5) { progress in
      if let loss = progress.loss { losses.append(loss) }
    }
    let configuration = HybridFactorization.Configuration(embeddingSize: 8, featureEmbeddingSize: 8, epochs: 6)
    _ = try HybridFactorization.fit(
      world.ratings, features: try Fixtures.features(of: world), configuration: configuration, options: options)
    let values = losses.values
    #expect(values.count == 6)
    #expect(values.allSatisfy { $0.isFinite })
    for (previous, next) in zip(values, values.dropFirst()) {
      #expect(next <= previous * (1 + 1e-5), "loss went up: \(values)")
    }
    #expect(try #require(values.last) < values[0])
  }

  @Test func sameSeedSameModelOnOneThreadOrMany() throws {
    let world = try SyntheticWorld(configuration: .init(userCount: 300, itemCount: 200, ratingCount: 6_000), seed: 2)
    let features = try world.encodedFeatures()
    let configuration = HybridFactorization.Configuration(embeddingSize: 8, featureEmbeddingSize: 8, epochs: 2)
    let parallel = try HybridFactorization.fit(
      world.ratings, features: features, configuration: configuration, options: FitOptions(seed: 4))
    let serial = try Parallel.$isSerial.withValue(true) {
      try HybridFactorization.fit(
        world.ratings, features: features, configuration: configuration, options: FitOptions(seed: 4, threadCount: 1))
    }
    let again = try HybridFactorization.fit(
      world.ratings, features: features, configuration: configuration, options: FitOptions(seed: 4))
    let other = try HybridFactorization.fit(
      world.ratings, features: features, configuration: configuration, options: FitOptions(seed: 5))
    for user in world.ratings.users.ids.prefix(40) {
      let query = RecommendationQuery(user: user)
      #expect(try serial.scores(for: query) == parallel.scores(for: query), "\(user)")
      #expect(try again.scores(for: query) == parallel.scores(for: query), "\(user)")
    }
    let first = RecommendationQuery(user: world.ratings.users[0])
    #expect(try other.scores(for: first) != parallel.scores(for: first), "another seed, another start")
  }

  @Test func explanationsNameFeaturesAndHistoryItemsAndAddUp() throws {
    let (data, side) = try Self.world()
    let model = try HybridFactorization.fit(data, features: side, configuration: Self.quick, options: FitOptions(seed: 3))
    let query = RecommendationQuery(user: "B1")
    let why = try model.explanation(of: "b1", for: query)
    let b1 = try #require(model.items.index(of: "b1"))
    #expect(abs(why.score - (try model.scores(for: query))[b1]) < 1e-3, "the parts add up to the trained score")
    #expect(why.contributions.contains { $0.source == "group=B × genre=b" })
    let historyItems = Set(why.contributions.map(\.source)).intersection(["b0", "b2", "b3", "b4"])
    #expect(historyItems == ["b0", "b2", "b3", "b4"], "every watched film is listed")
    #expect(why.contributions.contains { $0.source == "(history: feature correction)" })
    let weights = why.contributions.map { abs($0.weight) }
    #expect(weights == weights.sorted(by: >))
    // A stranger with request-time features and history: the same parts, adding up again.
    let stranger = RecommendationQuery(user: "stranger", history: ["c0", "c1"], features: ["group=C"])
    let strangerWhy = try model.explanation(of: "c2", for: stranger)
    let c2 = try #require(model.items.index(of: "c2"))
    #expect(abs(strangerWhy.score - (try model.scores(for: stranger))[c2]) < 1e-3)
    #expect(strangerWhy.contributions.contains { $0.source == "c0" })
    #expect(strangerWhy.contributions.contains { $0.source.hasPrefix("group=C × ") })
    #expect(throws: QueryError.unknownItem("zz")) { try model.explanation(of: "zz", for: query) }
  }

  @Test func updatedFoldsInNewUsersAndItemsAndKeepsTheFeatureEmbeddings() throws {
    let (data, side) = try Self.world()
    let model = try HybridFactorization.fit(
      data, features: SideInformation(items: side.items), configuration: Self.quick, options: FitOptions(seed: 3))
    // b9 is a new film with its genre; a newcomer watches two B films.
    let newFilm = try FeatureTable<ItemID>(
      ids: IDVocabulary(["b9"]), columns: [.init(name: "genre", kind: .categorical, values: [.category("b")])],
      source: "new items")
    let updated = try model.updated(
      with: [
        Interaction(user: "newcomer", item: "b0"), Interaction(user: "newcomer", item: "b1"),
        Interaction(user: "B0", item: "b9"), Interaction(user: "B2", item: "b9"),
      ], features: SideInformation(items: try FeatureEncoder().encode(newFilm)), options: FitOptions())
    #expect(updated.users.count == model.users.count + 1)
    #expect(updated.items.count == model.items.count + 1)
    let top = try updated.recommend(RecommendationQuery(user: "newcomer", count: 3))
    #expect(Self.group(of: top) == ["b"], "\(top)")
    let b9 = try #require(updated.items.index(of: "b9"))
    let forB = try updated.scores(for: RecommendationQuery(user: "B3"))
    let forA = try updated.scores(for: RecommendationQuery(user: "A3"))
    #expect(forB[b9] > forA[b9] + 0.1, "the new film is scored from its genre and its viewers")
    // The shared embeddings are kept: a user known by nothing scores the old films as before.
    let stranger = RecommendationQuery(user: "stranger")
    #expect(try Array(updated.scores(for: stranger).prefix(model.items.count)) == model.scores(for: stranger))
    // The same update without the new film's features still folds it in from its viewers.
    let plain = try model.updated(
      with: [Interaction(user: "B0", item: "b9"), Interaction(user: "B2", item: "b9")], options: FitOptions())
    #expect(plain.items.index(of: "b9") != nil)
  }

  @Test func rejectsOutOfRangeSettingsWithTheirNames() throws {
    let cases: [(HybridFactorization.Configuration, String)] = [
      (.init(embeddingSize: 0), "HybridFactorization.embeddingSize must be ≥ 1; got 0"),
      (.init(featureEmbeddingSize: -2), "HybridFactorization.featureEmbeddingSize must be ≥ 1; got -2"),
      (.init(userRegularization: 0), "HybridFactorization.userRegularization must be a finite number > 0; got 0.0"),
      (.init(itemFeatureRegularization: .infinity),
       "HybridFactorization.itemFeatureRegularization must be a finite number > 0; got inf"),
      (.init(confidenceWeight: -1), "HybridFactorization.confidenceWeight must be a finite number ≥ 0; got -1.0"),
      (.init(minimumValue: .nan), "HybridFactorization.minimumValue must be a finite number; got nan"),
      (.init(cgSteps: 0), "HybridFactorization.cgSteps must be ≥ 1; got 0"),
    ]
    let (data, side) = try Self.world()
    for (configuration, message) in cases {
      let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
      #expect(error?.description == message)
      #expect(throws: FitError.self) {
        try HybridFactorization.fit(data, features: side, configuration: configuration, options: FitOptions())
      }
    }
  }
}

/// Losses reported by training, collected across threads.
private final class LossLog: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [Double] = []

  func append(_ loss: Double) { lock.withLock { stored.append(loss) } }
  var values: [Double] { lock.withLock { stored } }
}

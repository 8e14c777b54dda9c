import AffinityCatalog
import AffinityContent
import AffinityCore
import AffinityEvaluation
import AffinityLinalg
import AffinityTestSupport
import Foundation
import Testing

@Suite("Side information and cold start")
struct SideInformationTests {
  /// Men (m0…m5) watch action films a0–a2, women (w0…w5) romance films r0–r2. The feature
  /// tables also know a man and a woman with no interactions, and an action and a romance film
  /// no one has watched.
  static func world() throws -> (InteractionData, SideInformation) {
    var rows: [Interaction] = []
    for n in 0..<6 {
      for i in 0..<3 {
        rows.append(Interaction(user: UserID("m\(n)"), item: ItemID("a\(i)")))
        rows.append(Interaction(user: UserID("w\(n)"), item: ItemID("r\(i)")))
      }
    }
    let userIDs = (0..<7).map { UserID("m\($0)") } + (0..<7).map { UserID("w\($0)") }
    let users = try FeatureTable<UserID>(
      ids: IDVocabulary(userIDs),
      columns: [
        .init(name: "gender", kind: .categorical, values: userIDs.map { .category($0.rawValue.hasPrefix("m") ? "M" : "F") }),
        .init(name: "age", kind: .numeric, values: userIDs.map { _ in .number(30) }),
      ], source: "users")
    let itemIDs = (0..<4).map { ItemID("a\($0)") } + (0..<4).map { ItemID("r\($0)") }
    let items = try FeatureTable<ItemID>(
      ids: IDVocabulary(itemIDs),
      columns: [
        .init(
          name: "genres", kind: .multiLabel,
          values: itemIDs.map { .labels([$0.rawValue.hasPrefix("a") ? "Action" : "Romance", "Drama"]) })
      ], source: "items")
    let side = SideInformation(users: try FeatureEncoder().encode(users), items: try FeatureEncoder().encode(items))
    return (try InteractionData(rows), side)
  }

  @Test func encoderBucketsEncodesAndNormalises() throws {
    let table = try FeatureTable<ItemID>(
      ids: IDVocabulary(["x", "y", "z"]),
      columns: [
        .init(name: "age", kind: .numeric, values: [.number(17), .number(30), .number(60)]),
        .init(name: "release_year", kind: .numeric, values: [.number(1995), .number(2001), .missing]),
        .init(name: "genres", kind: .multiLabel, values: [.labels(["A", "B"]), .labels(["A"]), .labels([])]),
        .init(name: "title", kind: .text, values: [.text("Star Wars"), .text("Star Trek"), .text("Wars!")]),
        .init(name: "code", kind: .categorical, values: [.category("1"), .category("2"), .category("3")]),
      ], source: "t")
    let encoded = try FeatureEncoder().encode(table)
    func names(_ id: ItemID) -> Set<String> { Set((encoded.features(of: id) ?? []).map { encoded.names[$0.0] }) }
    #expect(names("x").isSuperset(of: ["age=<18", "release_year=1990s", "genres=A", "genres=B", "title:star", "title:wars"]))
    #expect(names("y").contains("age=25-34") && names("y").contains("release_year=2000s"))
    #expect(names("z").contains("age=56+"))
    #expect(!encoded.names.contains { $0.hasPrefix("code=") }, "near-unique categoricals are left out by default")
    let x = try #require(encoded.features(of: "x"))
    let genreWeights = x.filter { encoded.names[$0.0].hasPrefix("genres=") }.map(\.1)
    #expect(genreWeights.allSatisfy { abs($0 - 1 / Float(2).squareRoot()) < 1e-6 })
    let titleNorm = x.filter { encoded.names[$0.0].hasPrefix("title:") }.reduce(Float(0)) { $0 + $1.1 * $1.1 }
    #expect(abs(titleNorm - 1) < 1e-5)
    let chosen = try FeatureEncoder(columns: ["code"]).encode(table)
    #expect(chosen.featureCount == 3)
    #expect(throws: DataError.self) { try FeatureEncoder(columns: ["nope"]).encode(table) }
  }

  @Test func yearsAreDecadesYearsOrBothAndStrayYearsAreMissing() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-items-\(UUID().uuidString).item").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let rows = (1...120).map { "\($0)\tFilm \($0)\t\($0 == 7 ? "unkonwn" : String(1990 + $0 % 10))\tComedy" }
    try (["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"] + rows)
      .joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let table: FeatureTable<ItemID> = try FeatureReader().read(path)
    #expect(table.column("release_year")?.kind == .numeric, "one stray value in 120 does not make years categories")
    #expect(table.value(of: "7", in: "release_year") == .missing)
    func names(_ years: FeatureEncoder.YearEncoding) throws -> Set<String> {
      let encoded = try FeatureEncoder(columns: ["release_year"], years: years).encode(table)
      return Set((encoded.features(of: "3") ?? []).map { encoded.names[$0.0] })
    }
    #expect(try names(.decade) == ["release_year=1990s"])
    #expect(try names(.year) == ["release_year=1993"])
    #expect(try names(.both) == ["release_year=1990s", "release_year=1993"])
  }

  @Test func float32VectorFilesAreReadAndMergedWithOtherFeatures() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-vectors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let vectors = directory.appendingPathComponent("items.f32").path
    let ids = directory.appendingPathComponent("items.ids").path
    let values: [Float] = [1, 0, 0.5, 0, 2, 0]  // two ids × three dimensions
    var bytes = Data()
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    try bytes.write(to: URL(fileURLWithPath: vectors))
    try "a3\nr3\n".write(toFile: ids, atomically: true, encoding: .utf8)
    let reader = FeatureReader()
    let dense: FeatureTable<ItemID> = try reader.readVectors(vectors, ids: ids)
    #expect(dense.value(of: "r3", in: "embedding") == .vector([0, 2, 0]))
    let genres = try FeatureTable<ItemID>(
      ids: IDVocabulary(["a3", "x"]), columns: [.init(name: "genres", kind: .multiLabel, values: [.labels(["Action"]), .labels(["Drama"])])],
      source: "g")
    let merged = try genres.merged(with: dense)
    #expect(merged.ids.ids == ["a3", "x", "r3"])
    #expect(merged.value(of: "x", in: "embedding") == .missing)
    #expect(merged.value(of: "r3", in: "genres") == .missing)
    let encoded = try FeatureEncoder().encode(merged)
    let a3 = try #require(encoded.features(of: "a3"))
    let norm = a3.filter { encoded.names[$0.0].hasPrefix("embedding[") }.reduce(Float(0)) { $0 + $1.1 * $1.1 }
    #expect(abs(norm - 1) < 1e-6, "vectors are L2-normalised")
    try "a3\nr3\nz9\nz10\n".write(toFile: ids, atomically: true, encoding: .utf8)  // 6 floats for 4 ids
    #expect(throws: DataError.self) { let _: FeatureTable<ItemID> = try reader.readVectors(vectors, ids: ids) }
  }

  @Test func inductiveModelRecommendsForColdUsersAndColdItems() throws {
    let (data, side) = try Self.world()
    let coldUsers = try FeatureRidge.fit(
      data, features: SideInformation(users: side.users), configuration: .init(userRegularization: 1), options: FitOptions())
    let forNewMan = try coldUsers.recommend(RecommendationQuery(user: "m6", count: 3))
    #expect(Set(forNewMan.map(\.item)) == ["a0", "a1", "a2"])
    let forNewWoman = try coldUsers.recommend(RecommendationQuery(user: "w6", count: 3))
    #expect(Set(forNewWoman.map(\.item)) == ["r0", "r1", "r2"])
    let why = try coldUsers.explanation(of: "a0", for: RecommendationQuery(user: "m6"))
    #expect(why.contributions.first?.source.contains("gender=M") == true)

    let coldItems = try FeatureRidge.fit(
      data, features: SideInformation(items: side.items), configuration: .init(itemRegularization: 1), options: FitOptions())
    let ranked = try coldItems.recommend(RecommendationQuery(user: "m0", count: 1, allowing: ["a3", "r3"]))
    #expect(ranked.first?.item == "a3", "an unseen action film ranks first for a man")
    let folded = try coldItems.scores(forHistory: ["r0", "r1"])
    let r3 = try #require(coldItems.items.index(of: "r3"))
    let a3 = try #require(coldItems.items.index(of: "a3"))
    #expect(folded[r3] > folded[a3], "a new user folded in from romance history prefers romance")

    #expect(throws: FitError.missingFeatures(model: "inductive", needs: "user features, item features or both")) {
      _ = try FeatureRidge.fit(data, configuration: .init(), options: FitOptions())
    }
  }

  @Test(arguments: [FeatureEmbeddings.Loss.warp, .bpr])
  func featureEmbeddingsRankColdUsersAndColdItemsFromFeatures(loss: FeatureEmbeddings.Loss) throws {
    let (data, side) = try Self.world()
    let configuration = FeatureEmbeddings.Configuration(
      embeddingSize: 8, learningRate: 0.1, epochs: 60, loss: loss, featureWeight: 1)
    let model = try FeatureEmbeddings.fit(data, features: side, configuration: configuration, options: FitOptions(seed: 2))
    let again = try FeatureEmbeddings.fit(data, features: side, configuration: configuration, options: FitOptions(seed: 2))
    #expect(try model.scores(for: RecommendationQuery(user: "m6")) == again.scores(for: RecommendationQuery(user: "m6")))
    // A man the training data never saw, ranked from his features alone, among the films with
    // interactions: the action films first.
    let man = try model.recommend(RecommendationQuery(user: "m6", count: 3, allowing: ["a0", "a1", "a2", "r0", "r1", "r2"]))
    #expect(Set(man.map(\.item)) == ["a0", "a1", "a2"], "\(loss): \(man.map(\.item))")
    // A film no one has watched, ranked from its genres: the unseen action film beats the
    // unseen romance for a man who watched action.
    let film = try model.recommend(RecommendationQuery(user: "m0", count: 1, allowing: ["a3", "r3"]))
    #expect(film.first?.item == "a3", "\(loss)")
  }

  /// An id in no file, described by features in the request, is folded in at request time.
  @Test func requestTimeFeaturesFoldInAStranger() throws {
    let (data, side) = try Self.world()
    let users = SideInformation(users: side.users)
    let query = { (features: [String]) in RecommendationQuery(user: "stranger", count: 3, features: features) }
    let ridge = try FeatureRidge.fit(data, features: users, configuration: .init(userRegularization: 1), options: FitOptions())
    #expect(Set(try ridge.recommend(query(["gender=F"])).map(\.item)) == ["r0", "r1", "r2"])
    #expect(Set(try ridge.recommend(query(["gender=M"])).map(\.item)) == ["a0", "a1", "a2"])
    let segments = try SegmentPopularity.fit(data, features: users, configuration: .init(segmentColumns: "gender"), options: FitOptions())
    #expect(Set(try segments.recommend(query(["gender=F", "age=25-34"])).map(\.item)) == ["r0", "r1", "r2"])
    let embeddings = try FeatureEmbeddings.fit(
      data, features: users, configuration: .init(embeddingSize: 8, learningRate: 0.1, epochs: 60, featureWeight: 1),
      options: FitOptions(seed: 2))
    #expect(Set(try embeddings.recommend(query(["gender=M"])).map(\.item)) == ["a0", "a1", "a2"])
    let why = try embeddings.explanation(of: "a0", for: query(["gender=M"]))
    let scores = try embeddings.scores(for: query(["gender=M"]))
    let a0 = try #require(embeddings.items.index(of: "a0"))
    #expect(abs(why.score - scores[a0]) < 1e-4, "contributions add up to the score")
    #expect(why.contributions.contains { $0.source == "gender=M" })
  }

  /// Mean 0, standard deviation 1 (the blend's `z`).
  static func standardized(_ values: [Float]) -> [Float] {
    let n = Double(values.count)
    let mean = values.reduce(0.0) { $0 + Double($1) } / n
    let sd = (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
    return values.map { sd > 0 ? Float((Double($0) - mean) / sd) : 0 }
  }

  /// The blend's end points are its parts, standardised; a cold user is ranked by gender at every weight.
  @Test func segmentRidgeBlendMixesTheRidgeAndSegmentPopularity() throws {
    let (data, side) = try Self.world()
    let users = SideInformation(users: side.users)
    let query = RecommendationQuery(user: "w6", count: 3)
    let ridge = try FeatureRidge.fit(data, features: users, configuration: .init(userRegularization: 1), options: FitOptions())
    let segments = try SegmentPopularity.fit(data, features: users, configuration: .init(segmentColumns: "gender"), options: FitOptions())
    for weight: Float in [0, 0.5, 1] {
      let blend = try SegmentRidgeBlend.fit(
        data, features: users, configuration: .init(popularityWeight: weight, userRegularization: 1, segmentColumns: "gender"),
        options: FitOptions())
      #expect(Set(try blend.recommend(query).map(\.item)) == ["r0", "r1", "r2"], "weight \(weight)")
      let scores = try blend.scores(for: query)
      let expected =
        weight == 0
        ? Self.standardized(try ridge.scores(for: query))
        : weight == 1 ? Self.standardized(try segments.scores(for: query).map { Float(log1p(Double($0))) }) : nil
      if let expected {
        #expect(zip(scores, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "weight \(weight): \(scores) vs \(expected)")
      }
      let mean = scores.reduce(0, +) / Float(scores.count)
      #expect(abs(mean) < 1e-5, "a blend of standardised scores has mean 0")
    }
    #expect(throws: FitError.self) {
      _ = try SegmentRidgeBlend.fit(data, features: SideInformation(items: side.items), configuration: .init(), options: FitOptions())
    }
    #expect(throws: FitError.self) {
      _ = try SegmentRidgeBlend.fit(data, features: users, configuration: .init(popularityWeight: 1.5), options: FitOptions())
    }
  }

  /// Women f0…f5 (plus f6, with no ratings): four pan "panned" (2 stars), three find "fine" fine
  /// (3 stars), two love "loved" (5 stars). Counted once each, "panned" leads; graded (stars − 2),
  /// "loved" does (2 × 3 against 3 × 1) and "panned" counts nothing.
  static func gradedWorld() throws -> (InteractionData, SideInformation) {
    var rows: [Interaction] = []
    for n in 0..<4 { rows.append(Interaction(user: UserID("f\(n)"), item: "panned", value: 2)) }
    for n in 0..<3 { rows.append(Interaction(user: UserID("f\(n)"), item: "fine", value: 3)) }
    for n in 4..<6 { rows.append(Interaction(user: UserID("f\(n)"), item: "loved", value: 5)) }
    let ids = (0..<7).map { UserID("f\($0)") }
    let users = try FeatureTable<UserID>(
      ids: IDVocabulary(ids), columns: [.init(name: "gender", kind: .categorical, values: ids.map { _ in .category("F") })],
      source: "users")
    return (try InteractionData(rows), SideInformation(users: try FeatureEncoder().encode(users)))
  }

  @Test func gradedTargetsWeighInteractionsByTheirStars() throws {
    let weighting = TargetWeighting(minimumValue: 0, usesValues: true, valueOffset: 2)
    #expect([1, 2, 2.5, 3, 4, 5].map { weighting.weight(of: $0) } == [nil, nil, 0.5, 1, 2, 3])
    #expect(TargetWeighting(minimumValue: 4, usesValues: true, valueOffset: 2).weight(of: 3) == nil)
    #expect(TargetWeighting(minimumValue: 0, usesValues: false, valueOffset: 2).weight(of: 5) == 1)
    #expect(TargetWeighting(minimumValue: -5, usesValues: true, valueOffset: 0).weight(of: -1) == -1,
      "without an offset the value itself is the target, negative feedback included")

    let (data, users) = try Self.gradedWorld()
    let query = RecommendationQuery(user: "f6", count: 3)
    let graded = SegmentPopularity.Configuration(segmentColumns: "gender", usesValues: true, valueOffset: 2)
    let counted = try SegmentPopularity.fit(data, features: users, configuration: .init(segmentColumns: "gender"), options: FitOptions())
    #expect(try counted.recommend(query).map(\.item) == ["panned", "fine", "loved"])
    let segments = try SegmentPopularity.fit(data, features: users, configuration: graded, options: FitOptions())
    #expect(try segments.recommend(query).map(\.item) == ["loved", "fine", "panned"])
    let scores = try segments.scores(for: query)
    for (item, sum) in [("loved", Float(6)), ("fine", 3), ("panned", 0)] {
      let j = try #require(segments.items.index(of: ItemID(item)))
      #expect(scores[j] >= sum && scores[j] < sum + 1, "\(item): the graded sum plus a tie-break below the smallest weight")
    }

    // The ridge with an offset equals the ridge on values already shifted (and 1-2 stars dropped).
    let shifted = try InteractionData(
      (0..<3).map { Interaction(user: UserID("f\($0)"), item: "fine", value: 1) }
        + (4..<6).map { Interaction(user: UserID("f\($0)"), item: "loved", value: 3) })
    let offset = try FeatureRidge.fit(
      data, features: users, configuration: .init(userRegularization: 1, usesValues: true, userNormalization: 0, valueOffset: 2),
      options: FitOptions())
    let reference = try FeatureRidge.fit(
      shifted, features: users, configuration: .init(userRegularization: 1, usesValues: true, userNormalization: 0),
      options: FitOptions())
    for item: ItemID in ["loved", "fine"] {
      let a = try offset.scores(for: query)[try #require(offset.items.index(of: item))]
      let b = try reference.scores(for: query)[try #require(reference.items.index(of: item))]
      #expect(abs(a - b) < 1e-5, "\(item): \(a) vs \(b)")
    }
    let blend = try SegmentRidgeBlend.fit(
      data, features: users,
      configuration: .init(userRegularization: 1, segmentColumns: "gender", usesValues: true, valueOffset: 2),
      options: FitOptions())
    #expect(try blend.recommend(query).first?.item == "loved")
    // LightFM-style embeddings take the graded values as sample weights: "panned" is no positive.
    let embeddings = try FeatureEmbeddings.fit(
      data, features: users, configuration: .init(embeddingSize: 4, epochs: 20, usesValues: true, valueOffset: 2),
      options: FitOptions(seed: 3))
    #expect(try embeddings.recommend(query).last?.item == "panned")
  }

  /// Configurations saved before `usesValues`/`valueOffset` existed still load, counting 1 each.
  @Test func gradedTargetKeysAreOptionalInSavedConfigurations() throws {
    let decoder = JSONDecoder()
    let segments = try decoder.decode(
      SegmentPopularity.Configuration.self, from: Data(#"{"segmentColumns": "gender,age", "minimumValue": 4}"#.utf8))
    #expect(segments == .init(minimumValue: 4))
    let ridge = try decoder.decode(
      FeatureRidge.Configuration.self,
      from: Data(
        #"{"userRegularization": 300, "itemRegularization": 30, "usesValues": false, "userCrosses": false, "itemCrosses": false, "itemIdentity": false, "minimumValue": 4, "userNormalization": 0.5}"#
          .utf8))
    #expect(ridge == .init(minimumValue: 4))
    let blend = try decoder.decode(
      SegmentRidgeBlend.Configuration.self,
      from: Data(
        #"{"popularityWeight": 0.7, "minimumValue": 4, "userRegularization": 300, "itemRegularization": 30, "userNormalization": 0, "segmentColumns": "gender,age"}"#
          .utf8))
    #expect(blend == .init(minimumValue: 4))
    let graded = SegmentRidgeBlend.Configuration(usesValues: true, valueOffset: 2)
    #expect(try decoder.decode(SegmentRidgeBlend.Configuration.self, from: try JSONEncoder().encode(graded)) == graded)
    let old = FeatureEmbeddings.Configuration(minimumValue: 4)
    var saved = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(old)) as? [String: Any])
    saved["usesValues"] = nil
    saved["valueOffset"] = nil
    #expect(try decoder.decode(FeatureEmbeddings.Configuration.self, from: try JSONSerialization.data(withJSONObject: saved)) == old)
  }

  @Test func segmentPopularityAndContentModels() throws {
    let (data, side) = try Self.world()
    let segments = try SegmentPopularity.fit(data, features: side, configuration: .init(segmentColumns: "gender"), options: FitOptions())
    #expect(Set(try segments.recommend(RecommendationQuery(user: "w6", count: 3)).map(\.item)) == ["r0", "r1", "r2"])
    let content = try ContentBased.fit(data, features: side, configuration: .init(), options: FitOptions())
    let ranked = try content.recommend(RecommendationQuery(user: "w0", count: 1, allowing: ["a3", "r3"]))
    #expect(ranked.first?.item == "r3")
    let why = try content.explanation(of: "r3", for: RecommendationQuery(user: "w0"))
    #expect(Set(why.contributions.map(\.source)) == ["genres=Romance", "genres=Drama"])
    #expect(abs(why.score - 1) < 1e-5, "the profile of three romance dramas is exactly a romance drama's vector")
  }

  @Test func rankingCanBeRestrictedToTheTestItems() throws {
    let (data, side) = try Self.world()
    let model = try FeatureRidge.fit(data, features: SideInformation(items: side.items), configuration: .init(), options: FitOptions())
    let test = try InteractionData([Interaction(user: "m0", item: "a3"), Interaction(user: "w0", item: "r3")])
    let restricted = Evaluator.ranking(model, on: test, k: 1, candidates: ["a3", "r3"])
    #expect(restricted.metrics["hit@1"] == 1, "with two candidates each user's cold film ranks first")
    #expect(restricted.metrics["coverage@1"] == 1, "coverage counts the candidates, both recommended")
    let everything = Evaluator.ranking(model, on: test, k: 1)
    #expect(everything.metrics["hit@1"] != nil)
  }
}

import AffinityBaselines
import AffinityCore
import AffinityPipeline
import Foundation
import Testing

@Suite("Served pipeline")
struct PipelineTests {
  /// Items a…f with 6…1 interactions each, from users u1…u6 (u1 saw every item, u6 only a).
  static func popular() throws -> MostPopular {
    var interactions: [Interaction] = []
    let items = ["a", "b", "c", "d", "e", "f"]
    for (k, item) in items.enumerated() {
      for u in 1...(6 - k) { interactions.append(Interaction(user: UserID("u\(u)"), item: ItemID(item), value: 1, timestamp: Int64(k))) }
    }
    return try MostPopular.fit(try InteractionData(interactions, source: "pipeline fixture"), configuration: .init(), options: FitOptions())
  }

  static func ids(_ slate: PipelineSlate) -> [String] { slate.items.map(\.item.rawValue) }

  @Test func filtersDropHiddenDeniedExpiredSeenAndNegativeItems() throws {
    let model = try Self.popular()
    let now = Date(timeIntervalSince1970: 1_000)
    let catalog: [ItemID: CatalogItem] = [
      "a": CatalogItem(categories: ["news"], hidden: true),
      "b": CatalogItem(categories: ["sport"], expiresAt: Date(timeIntervalSince1970: 500)),
      "c": CatalogItem(categories: ["sport"]),
      "d": CatalogItem(categories: ["news"]),
    ]
    var pipeline = Pipeline()
    pipeline.filters.deny = ["e"]
    let served = try ServedPipeline(pipeline: pipeline, model: model, catalog: catalog)
    // u6 saw only a. a hidden, b expired, e denied: c d f remain, most popular first.
    #expect(Self.ids(try served.run(PipelineRequest(user: "u6", count: 5, now: now))) == ["c", "d", "f"])
    // Before b's expiry it is back; a negative on c drops c.
    #expect(Self.ids(try served.run(PipelineRequest(user: "u6", count: 5, negatives: ["c"], now: Date(timeIntervalSince1970: 100)))) == ["b", "d", "f"])
    // The request's categories narrow to sport.
    #expect(Self.ids(try served.run(PipelineRequest(user: "u6", count: 5, categories: ["sport"], now: now))) == ["c"])
    // u1 has seen everything: nothing is left, and that is not an error.
    #expect(try served.run(PipelineRequest(user: "u1", count: 3, now: now)).items.isEmpty)
    var keepSeen = pipeline
    keepSeen.filters.excludeSeen = false
    #expect(Self.ids(try ServedPipeline(pipeline: keepSeen, model: model, catalog: catalog).run(PipelineRequest(user: "u1", count: 2, now: now))) == ["c", "d"])
  }

  @Test func sourcesFormAFallbackChain() throws {
    let model = try Self.popular()
    let catalog: [ItemID: CatalogItem] = [
      "new": CatalogItem(addedAt: Date(timeIntervalSince1970: 900)), "f": CatalogItem(addedAt: Date(timeIntervalSince1970: 800)),
    ]
    // An anonymous visitor with no history: the model cannot answer, popular does.
    let served = try ServedPipeline(pipeline: Pipeline(sources: [.model, .popular]), model: model, catalog: catalog)
    let anonymous = try served.run(PipelineRequest(count: 2))
    #expect(Self.ids(anonymous) == ["a", "b"])
    #expect(anonymous.items.allSatisfy { $0.source == .popular && $0.propensity == 1 })
    // A known user gets the model's ranking first.
    #expect(try served.run(PipelineRequest(user: "u6", count: 1)).items.first?.source == .model)
    // Recent items come first when that source leads, including one the model has never seen.
    let recent = try ServedPipeline(pipeline: Pipeline(sources: [.recent, .popular]), model: model, catalog: catalog)
    #expect(Self.ids(try recent.run(PipelineRequest(count: 3))) == ["new", "f", "a"])
  }

  @Test func rulesPinBoostAndBury() throws {
    let model = try Self.popular()
    let catalog: [ItemID: CatalogItem] = [
      "a": CatalogItem(categories: ["old"]), "e": CatalogItem(features: ["brand": "house"]), "f": CatalogItem(categories: ["promo"]),
    ]
    let rules: [Pipeline.Rule] = [
      .init(action: .bury, match: .init(category: "old")),
      .init(action: .pin, match: .init(category: "promo"), position: 0),
      .init(action: .boost, match: .init(feature: "brand=house"), positions: 2),
    ]
    let served = try ServedPipeline(pipeline: Pipeline(sources: [.popular], rules: rules), model: model, catalog: catalog)
    // popular: a b c d e f → bury a: b c d e f a → pin f first: f b c d e a → boost e by 2: f b e c d a
    #expect(Self.ids(try served.run(PipelineRequest(count: 6))) == ["f", "b", "e", "c", "d", "a"])
  }

  @Test func epsilonGreedyPropensitiesMatchHowOftenItemsAreShown() throws {
    let model = try Self.popular()
    var pipeline = Pipeline(sources: [.popular])
    pipeline.exploration = .init(method: .epsilonGreedy, epsilon: 0.3, samples: 400)
    let served = try ServedPipeline(pipeline: pipeline, model: model)
    let first = try served.run(PipelineRequest(count: 3, seed: 9))
    #expect(first == (try served.run(PipelineRequest(count: 3, seed: 9))), "the same seed gives the same slate")
    // Over many requests, the share of slates with item X in slot k must match the mean
    // propensity recorded when X was shown there (the IPS identity E[1/p · 1{shown}] = 1).
    var shown: [String: Int] = [:]
    var inverse: [String: Double] = [:]
    let requests = 3_000
    for seed in 0..<requests {
      let slate = try served.run(PipelineRequest(count: 3, seed: UInt64(seed)))
      #expect(slate.items.count == 3)
      for (slot, entry) in slate.items.enumerated() {
        #expect(entry.propensity > 0 && entry.propensity <= 1)
        let key = "\(slot):\(entry.item.rawValue)"
        shown[key, default: 0] += 1
        inverse[key, default: 0] += 1 / entry.propensity
      }
    }
    // Slot 0 is exact: a with 0.7 + 0.3/6.
    #expect(abs(Double(shown["0:a", default: 0]) / Double(requests) - 0.75) < 0.03)
    for key in ["0:a", "0:c", "1:b", "1:a", "2:c", "2:f"] {
      // Σ 1/p over the draws that showed it estimates the number of requests.
      let estimate = inverse[key, default: 0] / Double(requests)
      #expect(abs(estimate - 1) < 0.2, "\(key): \(estimate)")
    }
  }

  @Test func thompsonExploresLessOnWellKnownItems() throws {
    let model = try Self.popular()
    var pipeline = Pipeline(sources: [.popular])
    pipeline.exploration = .init(method: .thompson, scale: 1, samples: 200)
    let served = try ServedPipeline(pipeline: pipeline, model: model)
    var firsts: [String: Int] = [:]
    for seed in 0..<500 {
      let slate = try served.run(PipelineRequest(count: 2, seed: UInt64(seed)))
      firsts[slate.items[0].item.rawValue, default: 0] += 1
      #expect(slate.items.allSatisfy { $0.propensity > 0 && $0.propensity <= 1 })
    }
    #expect(firsts.count > 1, "it explores")
    #expect(firsts["a", default: 0] > firsts["f", default: 0], "but the best-known item leads most often")
  }

  @Test func badPipelinesAreRefusedNamingTheField() throws {
    let json = #"{"sources": ["popular"], "exploration": {"method": "epsilon-greedy", "epsilon": 0.2}}"#
    let decoded = try JSONDecoder().decode(Pipeline.self, from: Data(json.utf8))
    #expect(decoded.sources == [.popular] && decoded.exploration.epsilon == 0.2 && decoded.candidates == 100, "missing fields take defaults")
    var bad = Pipeline()
    bad.exploration = .init(method: .epsilonGreedy, epsilon: 1.5)
    #expect(throws: ConfigurationError.self) { try bad.validate() }
    do {
      try Pipeline(rules: [.init(action: .pin, match: .init(category: "x"))]).validate()
      Issue.record("a pin without a position must be refused")
    } catch {
      #expect(error.parameter == "rules[0].position")
    }
    #expect(throws: ConfigurationError.self) { try Pipeline(sources: []).validate() }
    #expect(throws: QueryError.invalidCount(0)) { try ServedPipeline(pipeline: Pipeline(), model: try Self.popular()).run(PipelineRequest(count: 0)) }
  }
}

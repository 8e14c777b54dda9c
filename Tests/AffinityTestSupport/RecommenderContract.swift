import AffinityCatalog
import AffinityCore
import AffinityLinalg
import Foundation
import Testing

/// Checks the behaviour every catalogued model promises, whatever its algorithm.
public enum RecommenderContract {
  /// Fits `model` twice on a small world and checks determinism, fallbacks, exclusions and
  /// the Codable round trip.
  public static func check(model name: String, parameters: [(String, String)] = []) throws {
    let world = try Fixtures.smallWorld()
    let descriptor = try ModelCatalog.descriptor(named: name)
    let features = descriptor.usesFeatures ? try Fixtures.features(of: world) : .none
    let first = try descriptor.fit(world.ratings, parameters: parameters, options: FitOptions(seed: 7), features: features)
    let second = try descriptor.fit(world.ratings, parameters: parameters, options: FitOptions(seed: 7), features: features)

    let user = world.ratings.users[0]
    let query = RecommendationQuery(user: user, count: 5)
    #expect(try first.scores(for: query) == second.scores(for: query), "\(name): same seed, same scores")

    let list = try first.recommend(query)
    #expect(list.count <= 5)
    #expect(list.map(\.score) == list.map(\.score).sorted(by: >), "\(name): scores must be descending")
    if let u = first.users.index(of: user) {
      let seen = Set(first.seen.range(ofRow: u).map { first.items[Int(first.seen.columns[$0])] })
      #expect(list.allSatisfy { !seen.contains($0.item) }, "\(name): seen items must be excluded")
    }
    let withHistory = try first.recommend(
      RecommendationQuery(user: user, count: 3, excluding: Set(list.prefix(1).map(\.item))))
    #expect(!withHistory.contains { $0.item == list.first?.item }, "\(name): excluded items stay out")
    let allowed = Set(first.items.ids.suffix(4))
    let restricted = try first.recommend(RecommendationQuery(user: user, count: 3, allowing: allowed, excludesHistory: false))
    #expect(restricted.allSatisfy { allowed.contains($0.item) }, "\(name): allow-list respected")
    #expect(throws: QueryError.invalidCount(0)) { try first.recommend(RecommendationQuery(user: user, count: 0)) }

    // Unknown users and items never trap.
    let unknown = try first.scores(for: RecommendationQuery(user: "no-such-user", count: 5))
    #expect(unknown.count == first.items.count)
    if let predictor = first as? any RatingPredictor {
      let p = predictor.predictedRating(user: "no-such-user", item: "no-such-item")
      #expect(p.value.isFinite)
      #expect(predictor.ratingScale.contains(p.value))
      let q = predictor.predictedRating(user: user, item: world.ratings.items[0])
      #expect(predictor.ratingScale.contains(q.value), "\(name): predictions are clipped")
    }

    // Round trip through the saved (JSON) form gives the same scores.
    let restored = try roundTrip(first)
    #expect(try restored.scores(for: query) == first.scores(for: query), "\(name): Codable round trip")

    // And through a bundle (tensors + manifest): same kind, same scores, same answers for a
    // user it never saw.
    let bytes = try ModelBundle.encode(first, kind: name, provenance: .init(dataSource: "synthetic"))
    let (kind, reloaded) = try ModelBundle.decode(bytes)
    #expect(kind == name)
    #expect(try reloaded.scores(for: query) == first.scores(for: query), "\(name): bundle round trip")
    let stranger = RecommendationQuery(user: "no-such-user", history: Array(first.items.ids.prefix(2)), count: 5)
    #expect(try reloaded.scores(for: stranger) == first.scores(for: stranger), "\(name): bundle round trip, new user")
    #expect(reloaded.users == first.users && reloaded.items == first.items && reloaded.seen == first.seen)
  }

  static func roundTrip<Model: Recommender>(_ model: Model) throws -> Model {
    try JSONDecoder().decode(Model.self, from: JSONEncoder().encode(model))
  }
}

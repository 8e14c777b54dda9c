import AffinityServer
import AffinityStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("HTTP service")
struct ServerTests {
  /// A fresh store and service; the caller removes the folder.
  static func service() throws -> (RecommenderService, String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-server-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let store = try SQLiteStore(path: folder + "/affinity.sqlite")
    return (try RecommenderService(store: store, configuration: .init(model: "popular")), folder)
  }

  static let key = "test-key"
  static var write: HTTPFields { [.authorization: "Bearer \(key)", .contentType: "application/json"] }

  static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

  static func json(_ response: TestResponse) throws -> [String: Any] {
    (try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]) ?? [:]
  }

  /// Five users, four items; item c is popular, d is hidden.
  static let feedback = """
    {"events": [
      {"eventId": "1", "user": "u1", "item": "a"}, {"eventId": "2", "user": "u1", "item": "c"},
      {"eventId": "3", "user": "u2", "item": "c"}, {"eventId": "4", "user": "u3", "item": "c"},
      {"eventId": "5", "user": "u3", "item": "b"}, {"eventId": "6", "user": "u4", "item": "d"},
      {"eventId": "7", "user": "u4", "item": "d", "kind": "read"}, {"eventId": "8", "user": "u5", "item": "d"},
      {"eventId": "9", "user": "u5", "item": "b", "value": 2, "timestamp": 1700000000}
    ]}
    """

  @Test func writesNeedTheKeyAndBadInputGetsTypedErrors() async throws {
    let (service, folder) = try Self.service()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let app = Application(router: AffinityHTTP.router(service: service, configuration: ServerConfiguration(apiKey: Self.key)))
    try await app.test(.router) { client in
      try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/feedback", method: .post, body: Self.body(Self.feedback)) { response in
        #expect(response.status == .unauthorized)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["code"] as? String == "missing_api_key")
      }
      try await client.execute(uri: "/feedback", method: .post, headers: [.authorization: "Bearer wrong"], body: Self.body(Self.feedback)) {
        #expect($0.status == .forbidden)
      }
      try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .serviceUnavailable) }
      try await client.execute(uri: "/recommend?user=u1", method: .get) { #expect($0.status == .serviceUnavailable) }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body("{\"events\": [{\"eventId\": 1}]}")) { response in
        #expect(response.status == .badRequest)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["code"] as? String == "invalid_json")
        #expect(error?["field"] as? String == "events[0].eventId")
      }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body("not json")) {
        #expect($0.status == .badRequest)
      }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write,
        body: Self.body("{\"events\": [{\"eventId\": \"x\", \"user\": \"\", \"item\": \"a\"}]}")) { response in
        #expect(response.status == .badRequest)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["field"] as? String == "user")
      }
      try await client.execute(uri: "/users/nobody", method: .get) { #expect($0.status == .notFound) }
      try await client.execute(uri: "/train", method: .get) { response in
        #expect(response.status == .methodNotAllowed)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["code"] as? String == "method_not_allowed")
      }
      try await client.execute(uri: "/nowhere", method: .get) { response in
        #expect(response.status == .notFound)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["code"] as? String == "not_found")
      }
      try await client.execute(uri: "/decisions?limit=100001", method: .get) { #expect($0.status == .badRequest) }
      try await client.execute(uri: "/train", method: .get) { #expect($0.headers[.allow] == "POST") }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write,
        body: Self.body(#"{"events": [{"eventId": "big", "user": "u1", "item": "a", "value": 1e300}]}"#)) { response in
        #expect(response.status == .badRequest, "a value no model can train on is refused at the door")
      }
      try await client.execute(uri: "/users/caf%C3%A9", method: .put, headers: Self.write, body: Self.body("{}")) { response in
        let body = try Self.json(response)
        #expect(body["id"] as? String == "café", "path ids are percent-decoded")
      }
      try await client.execute(uri: "/train", method: .post, headers: Self.write) { #expect($0.status == .conflict) }
    }
  }

  @Test func feedbackTrainsAModelThatServesFilteredRecommendations() async throws {
    let (service, folder) = try Self.service()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let app = Application(router: AffinityHTTP.router(service: service, configuration: ServerConfiguration(apiKey: Self.key)))
    try await app.test(.router) { client in
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body(Self.feedback)) { response in
        #expect(response.status == .ok)
        let body = try Self.json(response)
        #expect(body["inserted"] as? Int == 9)
      }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body(Self.feedback)) { response in
        let body = try Self.json(response)
        #expect(body["duplicates"] as? Int == 9, "idempotent by event id")
      }
      try await client.execute(uri: "/items/d", method: .put, headers: Self.write, body: Self.body("{\"hidden\": true, \"categories\": [\"x\"]}")) {
        #expect($0.status == .ok)
      }
      try await client.execute(uri: "/items/b", method: .put, headers: Self.write, body: Self.body("{\"categories\": [\"x\"]}")) {
        #expect($0.status == .ok)
      }
      try await client.execute(uri: "/train", method: .post, headers: Self.write) { #expect($0.status == .ok) }
      try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
      // u2 has seen c; d is hidden: popular order c(3) > d(2, hidden) ≈ b(2) > a(1).
      try await client.execute(uri: "/recommend?user=u2&n=2", method: .get) { response in
        #expect(response.status == .ok)
        let items = (try Self.json(response)["items"] as? [[String: Any]])?.compactMap { $0["item"] as? String }
        #expect(items == ["b", "a"])
      }
      try await client.execute(uri: "/recommend?user=u2&category=x", method: .get) { response in
        let items = (try Self.json(response)["items"] as? [[String: Any]])?.compactMap { $0["item"] as? String }
        #expect(items == ["b"], "only category x, and d is hidden")
      }
      try await client.execute(uri: "/recommend", method: .post, body: Self.body("{\"history\": [\"c\"], \"n\": 1}")) { response in
        #expect(response.status == .ok)
        let items = (try Self.json(response)["items"] as? [[String: Any]])?.compactMap { $0["item"] as? String }
        #expect(items == ["b"])
      }
      try await client.execute(uri: "/recommend?user=ghost", method: .get) { #expect($0.status == .notFound) }
      try await client.execute(uri: "/recommend?user=u1&n=0", method: .get) { #expect($0.status == .badRequest) }
      try await client.execute(uri: "/recommend?user=u1&n=many", method: .get) { #expect($0.status == .badRequest) }
      try await client.execute(uri: "/decisions", method: .get) { response in
        let decisions = try Self.json(response)["decisions"] as? [[String: Any]]
        #expect(decisions?.count == 3, "every served recommendation is logged")
        let slate = decisions?.first?["slate"] as? [[String: Any]]
        #expect(slate?.first?["propensity"] as? Double == 1)
      }
      try await client.execute(uri: "/users/u5", method: .delete, headers: Self.write) { #expect($0.status == .noContent) }
      try await client.execute(uri: "/metrics", method: .get) { response in
        let text = String(buffer: response.body)
        #expect(text.contains("affinity_feedback_events 7"))
        #expect(text.contains("affinity_recommend_requests_total"))
      }
    }
  }

  @Test func servesItsOpenAPIDocumentAndWebPageAsKeptInTheRepository() async throws {
    let (service, folder) = try Self.service()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let document = try String(contentsOf: root.appendingPathComponent("docs/openapi.json"), encoding: .utf8)
    let page = try String(contentsOf: root.appendingPathComponent("Sources/AffinityServer/web/index.html"), encoding: .utf8)
    let app = Application(router: AffinityHTTP.router(service: service, configuration: ServerConfiguration(apiKey: Self.key)))
    try await app.test(.router) { client in
      try await client.execute(uri: "/openapi.json", method: .get) { response in
        #expect(response.status == .ok)
        #expect(String(buffer: response.body) + "\n" == document, "rerun scripts/embed_assets.py after editing docs/openapi.json")
        let parsed = try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any]
        let paths = (parsed?["paths"] as? [String: Any])?.keys.sorted() ?? []
        #expect(paths.contains("/recommend") && paths.contains("/feedback") && paths.contains("/users/{id}/history"))
      }
      try await client.execute(uri: "/", method: .get) { response in
        #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
        #expect(String(buffer: response.body) + "\n" == page, "rerun scripts/embed_assets.py after editing web/index.html")
      }
    }
  }

  @Test func newAndAnonymousUsersHistoryTimelineAndTimes() async throws {
    let (service, folder) = try Self.service()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let app = Application(router: AffinityHTTP.router(service: service, configuration: ServerConfiguration(apiKey: Self.key)))
    try await app.test(.router) { client in
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body(Self.feedback)) { #expect($0.status == .ok) }
      try await client.execute(uri: "/train", method: .post, headers: Self.write) { #expect($0.status == .ok) }
      // A user who arrives after training: their stored feedback is folded in and skipped.
      let late = #"{"events": [{"eventId": "late", "user": "newcomer", "item": "c", "timestamp": "2026-11-27T10:00:00Z"}]}"#
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write, body: Self.body(late)) { #expect($0.status == .ok) }
      try await client.execute(uri: "/recommend?user=newcomer&n=5", method: .get) { response in
        #expect(response.status == .ok)
        let items = (try Self.json(response)["items"] as? [[String: Any]])?.compactMap { $0["item"] as? String } ?? []
        #expect(!items.isEmpty && !items.contains("c"), "what the newcomer already had is not offered again")
      }
      // An anonymous session with nothing known gets the popular fallback.
      try await client.execute(uri: "/recommend", method: .post, body: Self.body(#"{"features": {"country": "fr"}, "n": 2}"#)) { response in
        #expect(response.status == .ok)
        let items = try Self.json(response)["items"] as? [[String: Any]]
        #expect(items?.count == 2)
      }
      try await client.execute(uri: "/users/newcomer/history?limit=5", method: .get) { response in
        let events = try Self.json(response)["events"] as? [[String: Any]]
        #expect(events?.first?["item"] as? String == "c")
        #expect(events?.first?["timestamp"] as? String == "2026-11-27T10:00:00Z")
      }
      try await client.execute(uri: "/users/newcomer/history?limit=0", method: .get) { #expect($0.status == .badRequest) }
      try await client.execute(uri: "/stats/timeline", method: .get) { response in
        let body = try Self.json(response)
        #expect(body["unit"] as? String == "month", "the fixture spans 2023 to 2026")
        let total = (body["buckets"] as? [[String: Any]])?.compactMap { $0["events"] as? Int }.reduce(0, +)
        #expect(total == 10)
      }
      try await client.execute(uri: "/feedback", method: .post, headers: Self.write,
        body: Self.body(#"{"events": [{"eventId": "t", "user": "u1", "item": "a", "timestamp": "yesterday"}]}"#)) { response in
        #expect(response.status == .badRequest)
        let error = try Self.json(response)["error"] as? [String: Any]
        #expect(error?["field"] as? String == "events[0].timestamp")
      }
      try await client.execute(uri: "/explain?user=u1&item=a", method: .get) { #expect($0.status == .unprocessableContent, "popular does not explain") }
      try await client.execute(uri: "/items/a/similar", method: .get) { #expect($0.status == .unprocessableContent) }
      try await client.execute(uri: "/models", method: .get) { response in
        let models = try Self.json(response)["models"] as? [[String: Any]]
        #expect(models?.count == 1 && models?.first?["active"] as? Bool == true)
      }
    }
  }

  @Test func retrainingSwapsTheModelWithoutFailingARequest() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-swap-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try SQLiteStore(path: folder + "/affinity.sqlite")
    let service = try RecommenderService(store: store, configuration: .init(model: "als", parameters: [("iterations", "3")]))
    var events: [FeedbackEvent] = []
    for u in 0..<60 {
      for k in 0..<8 { events.append(FeedbackEvent(eventID: "\(u)-\(k)", user: "u\(u)", item: "i\((u * 7 + k * 3) % 40)", kind: .positive, value: 1, timestamp: Date())) }
    }
    _ = try await service.ingest(events)
    let first = try #require(try await service.trainInBackground())
    let answered = try await withThrowingTaskGroup(of: Int.self) { group in
      group.addTask { _ = try await service.trainInBackground(); return 0 }
      for r in 0..<200 {
        group.addTask { try service.recommend(user: "u\(r % 60)", count: 5).items.count }
      }
      return try await group.reduce(0, +)
    }
    #expect(answered == 200 * 5, "every request during the retrain got a full slate")
    #expect(service.served?.version != first.version, "the new model is in service")
    let decisions = try service.decisions(after: nil, limit: 1_000)
    #expect(decisions.count == 200, "each slate is in the decision log")
  }

  @Test func aRestartServesTheSavedBundleOfTheActiveModel() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-restore-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let configuration = RecommenderService.Configuration(model: "ease", modelDirectory: folder + "/models")
    let first = try RecommenderService(store: try SQLiteStore(path: folder + "/affinity.sqlite"), configuration: configuration)
    var events: [FeedbackEvent] = []
    for u in 0..<30 {
      for k in 0..<5 { events.append(FeedbackEvent(eventID: "\(u)-\(k)", user: "u\(u)", item: "i\((u + k * 4) % 25)", kind: .positive, value: 1, timestamp: Date())) }
    }
    _ = try await first.ingest(events)
    let trained = try #require(try first.train())
    let before = try first.recommend(user: "u3", count: 5).items
    let second = try RecommenderService(store: try SQLiteStore(path: folder + "/affinity.sqlite"), configuration: configuration)
    let restored = try #require(try second.restore())
    #expect(restored.version == trained.version)
    #expect(try second.recommend(user: "u3", count: 5).items == before, "the bundle serves what the trained model served")
    // Another kind configured: the saved model is not served.
    let other = try RecommenderService(store: try SQLiteStore(path: folder + "/affinity.sqlite"), configuration: .init(model: "popular"))
    #expect(try other.restore() == nil)
  }

  @Test func aNewUserIsRankedFromTheirFeaturesByAFeatureModel() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-features-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try SQLiteStore(path: folder + "/affinity.sqlite")
    let service = try RecommenderService(store: store, configuration: .init(model: "inductive"))
    // Women click f0…f4, men m0…m4; popularity alone would not tell them apart.
    var users: [StoredUser] = []
    var events: [FeedbackEvent] = []
    for u in 0..<40 {
      let gender = u % 2 == 0 ? "F" : "M"
      users.append(StoredUser(id: "u\(u)", features: ["gender": gender]))
      for k in 0..<3 {
        let item = (gender == "F" ? "f" : "m") + "\((u / 2 + k) % 5)"
        events.append(FeedbackEvent(eventID: "\(u)-\(k)", user: "u\(u)", item: item, kind: .positive, value: 1, timestamp: Date()))
      }
    }
    try store.upsert(users: users)
    _ = try await service.ingest(events)
    _ = try service.train()
    let women = try service.recommend(user: nil, features: ["gender": "F"], count: 5).items.map(\.item)
    let men = try service.recommend(user: nil, features: ["gender": "M"], count: 5).items.map(\.item)
    #expect(women.allSatisfy { $0.hasPrefix("f") }, "\(women)")
    #expect(men.allSatisfy { $0.hasPrefix("m") }, "\(men)")
    // A stored user unknown to the model gets the same from their stored features.
    try store.upsert(users: [StoredUser(id: "late", features: ["gender": "M"])])
    #expect(try service.recommend(user: "late", count: 3).items.allSatisfy { $0.item.hasPrefix("m") })
  }
}

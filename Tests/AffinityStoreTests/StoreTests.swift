import AffinityStore
import Foundation
import GRDB
import Testing

@Suite("SQLite store")
struct StoreTests {
  static func temporaryFolder() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-store-\(UUID())").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  @Test func usersItemsAndFeedbackRoundTrip() throws {
    let folder = try Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try SQLiteStore(path: folder + "/affinity.sqlite")
    try store.upsert(users: [StoredUser(id: "u1", features: ["gender": "F", "age": "24"])])
    let expiry = Date(timeIntervalSince1970: 2_000_000_000)
    try store.upsert(items: [
      StoredItem(id: "i1", features: ["genre": "Comedy"], categories: ["comedy"]),
      StoredItem(id: "i2", hidden: true, expiresAt: expiry),
    ])
    #expect(try store.user("u1") == StoredUser(id: "u1", features: ["gender": "F", "age": "24"]))
    var stored = try store.item("i2")
    #expect(stored?.createdAt != nil, "the store stamps when an item arrived")
    stored?.createdAt = nil
    #expect(stored == StoredItem(id: "i2", hidden: true, expiresAt: expiry))
    #expect(try store.user("nobody") == nil)
    try store.upsert(users: [StoredUser(id: "u1", features: ["gender": "F"])])
    #expect(try store.user("u1")?.features == ["gender": "F"], "an upsert replaces the features")

    let t0 = Date(timeIntervalSince1970: 1_000)
    var events: [FeedbackEvent] = []
    for n in 0..<5 {
      let kind: FeedbackKind = n == 4 ? .negative : .positive
      let user = n < 3 ? "u1" : "u2"
      events.append(FeedbackEvent(
        eventID: "e\(n)", user: user, item: "i\(n % 3 + 1)", kind: kind, value: Double(n),
        timestamp: t0.addingTimeInterval(Double(n))))
    }
    #expect(try store.ingest(events) == IngestResult(inserted: 5, duplicates: 0))
    #expect(try store.ingest(Array(events.prefix(2))) == IngestResult(inserted: 0, duplicates: 2), "idempotent by event id")
    #expect(try store.events(kinds: nil, after: nil, limit: nil) == events)
    #expect(try store.events(kinds: [.negative], after: nil, limit: nil).map(\.eventID) == ["e4"])
    #expect(try store.events(kinds: nil, after: t0.addingTimeInterval(2.5), limit: nil).map(\.eventID) == ["e3", "e4"])
    #expect(try store.history(of: "u1", limit: 2).map(\.eventID) == ["e2", "e1"])
    #expect(try store.user("u2") == StoredUser(id: "u2"), "feedback creates unknown users")
    #expect(try store.item("i3")?.id == "i3", "feedback creates unknown items")

    try store.log(ServedDecision(requestID: "r1", user: "u1", servedAt: t0, policy: "epsilon-greedy", modelVersion: "m1",
      slate: [ServedItem(item: "i1", score: 0.9, propensity: 0.95), ServedItem(item: "i3", score: 0.2, propensity: 0.05)]))
    #expect(try store.decisions(after: nil, limit: nil).first?.slate.map(\.propensity) == [0.95, 0.05])

    try store.register(ModelRecord(version: "m1", kind: "als", createdAt: t0, path: "m1.json", metrics: ["ndcg@10": 0.2], active: true))
    try store.register(ModelRecord(version: "m2", kind: "ease", createdAt: t0.addingTimeInterval(1), path: "m2.json"))
    try store.activate(model: "m2")
    #expect(try store.models().map(\.active) == [false, true])
    #expect(throws: StoreError.self) { try store.activate(model: "m9") }

    #expect(try store.deleteUser("u2"))
    #expect(try !store.deleteUser("u2"))
    #expect(try store.counts() == StoreCounts(users: 1, items: 3, events: 3, decisions: 1, models: 2))
  }

  @Test func reopeningKeepsEverythingAndBadInputIsRefused() throws {
    let folder = try Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/affinity.sqlite"
    do {
      let store = try SQLiteStore(path: path)
      _ = try store.ingest([FeedbackEvent(eventID: "a", user: "u", item: "i")])
    }
    let again = try SQLiteStore(path: path)
    #expect(try again.counts().events == 1)
    #expect(throws: StoreError.self) { try again.ingest([FeedbackEvent(eventID: "", user: "u", item: "i")]) }
    #expect(throws: StoreError.self) { try again.ingest([FeedbackEvent(eventID: "b", user: "u", item: "i", value: .nan)]) }
    let error = #expect(throws: StoreError.self) {
      try again.ingest([FeedbackEvent(eventID: "ok", user: "u", item: "i"), FeedbackEvent(eventID: "c", user: "", item: "i")])
    }
    #expect(error?.description.contains("event 2") == true)
    #expect(try again.counts().events == 1, "a rejected batch stores nothing")
    #expect(throws: StoreError.self) { try SQLiteStore(path: folder + "/missing/folder/db.sqlite") }
    // A database written by a newer build (an unknown migration) is refused, not damaged.
    try DatabaseQueue(path: path).write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99-future')") }
    #expect(throws: StoreError.newerSchema(path: path, found: 2, supported: 1)) { try SQLiteStore(path: path) }
  }

  @Test func aBatchCreatesEachNewUserAndItemOnce() throws {
    let folder = try Self.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let store = try SQLiteStore(path: folder + "/affinity.sqlite")
    let events = (0..<5_000).map { FeedbackEvent(eventID: "e\($0)", user: "u\($0 % 50)", item: "i\($0 % 300)") }
    #expect(try store.ingest(events).inserted == 5_000)
    #expect(try store.counts() == StoreCounts(users: 50, items: 300, events: 5_000, decisions: 0, models: 0))
  }
}

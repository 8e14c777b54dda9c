public import Foundation
import GRDB

/// The embedded store: one SQLite database file in WAL mode (readers never block the writer),
/// `synchronous = FULL` (an acknowledged write survives a crash of the process or the machine),
/// schema versioned by migrations.
public final class SQLiteStore: RecommenderStore {
  public let path: String
  let pool: DatabasePool

  /// The schema versions this build knows, oldest first.
  static let migrations = ["v1-users-items-feedback-decisions-models"]

  /// Opens (creating when missing) the database at `path`; the folder must exist.
  public init(path: String) throws(StoreError) {
    self.path = path
    var configuration = Configuration()
    configuration.busyMode = .timeout(10)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
      // 32 MiB of page cache (the default is 2 MiB): feedback indexes stay in memory, and a
      // batch of random inserts reads fewer pages.
      try db.execute(sql: "PRAGMA cache_size = -32768")
    }
    do {
      pool = try DatabasePool(path: path, configuration: configuration)
    } catch {
      throw .database(path: path, reason: Self.describe(error))
    }
    var migrator = DatabaseMigrator()
    migrator.registerMigration(Self.migrations[0]) { db in
      try db.execute(
        sql: """
          CREATE TABLE users (
            id TEXT PRIMARY KEY NOT NULL,
            features TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL);
          CREATE TABLE items (
            id TEXT PRIMARY KEY NOT NULL,
            features TEXT NOT NULL DEFAULT '{}',
            categories TEXT NOT NULL DEFAULT '[]',
            hidden INTEGER NOT NULL DEFAULT 0,
            expires_at REAL,
            created_at REAL NOT NULL);
          CREATE TABLE feedback (
            sequence INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            item_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('positive', 'negative', 'read', 'exposure')),
            value REAL NOT NULL,
            timestamp REAL NOT NULL);
          CREATE INDEX feedback_by_user ON feedback (user_id, timestamp);
          CREATE INDEX feedback_by_item ON feedback (item_id);
          CREATE INDEX feedback_by_time ON feedback (timestamp);
          CREATE TABLE decisions (
            request_id TEXT PRIMARY KEY NOT NULL,
            user_id TEXT NOT NULL,
            served_at REAL NOT NULL,
            policy TEXT NOT NULL,
            model_version TEXT NOT NULL,
            slate TEXT NOT NULL);
          CREATE INDEX decisions_by_time ON decisions (served_at);
          CREATE TABLE models (
            version TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL,
            path TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',
            active INTEGER NOT NULL DEFAULT 0);
          """)
    }
    do {
      if try pool.read({ db in try migrator.hasBeenSuperseded(db) }) {
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        throw StoreError.newerSchema(path: path, found: applied.count, supported: Self.migrations.count)
      }
      try migrator.migrate(pool)
    } catch let error as StoreError {
      throw error
    } catch {
      throw .database(path: path, reason: Self.describe(error))
    }
  }

  // MARK: Plumbing

  static func describe(_ error: any Error) -> String {
    if let error = error as? DatabaseError { return error.message ?? "\(error)" }
    return "\(error)"
  }

  func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
    do {
      return try pool.write(body)
    } catch let error as StoreError {
      throw error
    } catch {
      throw .database(path: path, reason: Self.describe(error))
    }
  }

  func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
    do {
      return try pool.read(body)
    } catch let error as StoreError {
      throw error
    } catch {
      throw .database(path: path, reason: Self.describe(error))
    }
  }

  static func json(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
  }

  static func decode<T: Decodable>(_ type: T.Type, _ text: String?, default fallback: T) -> T {
    guard let text, let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else { return fallback }
    return value
  }

  static func check(_ id: String, record: String, field: String) throws(StoreError) {
    if !RecordID.isValid(id) {
      throw .invalidField(record: record, field: field, value: String(id.prefix(40)), fix: "use a non-empty id of at most 256 characters without line breaks")
    }
  }

  // MARK: Users and items

  public func upsert(users: [StoredUser]) throws(StoreError) {
    for (n, user) in users.enumerated() { try Self.check(user.id, record: "user \(n + 1)", field: "id") }
    let now = Date().timeIntervalSince1970
    try write { db in
      let statement = try db.cachedStatement(
        sql: "INSERT INTO users (id, features, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET features = excluded.features")
      for user in users { try statement.execute(arguments: [user.id, Self.json(user.features), now]) }
    }
  }

  public func upsert(items: [StoredItem]) throws(StoreError) {
    for (n, item) in items.enumerated() {
      try Self.check(item.id, record: "item \(n + 1)", field: "id")
      if let expiry = item.expiresAt, !expiry.timeIntervalSince1970.isFinite {
        throw .invalidField(record: "item \(item.id)", field: "expiresAt", value: "\(expiry)", fix: "give a finite date or none")
      }
    }
    let now = Date().timeIntervalSince1970
    try write { db in
      let statement = try db.cachedStatement(
        sql: """
          INSERT INTO items (id, features, categories, hidden, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET features = excluded.features, categories = excluded.categories,
            hidden = excluded.hidden, expires_at = excluded.expires_at
          """)
      for item in items {
        try statement.execute(arguments: [
          item.id, Self.json(item.features), Self.json(item.categories), item.hidden,
          item.expiresAt?.timeIntervalSince1970, now,
        ])
      }
    }
  }

  public func user(_ id: String) throws(StoreError) -> StoredUser? {
    try read { db in
      try Row.fetchOne(db, sql: "SELECT id, features FROM users WHERE id = ?", arguments: [id]).map { row in
        StoredUser(id: row["id"] ?? id, features: Self.decode([String: String].self, row["features"], default: [:]))
      }
    }
  }

  /// Every user with their features, for training the feature models.
  public func allUsers() throws(StoreError) -> [StoredUser] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT id, features FROM users ORDER BY id").map { row in
        StoredUser(id: row["id"] ?? "", features: Self.decode([String: String].self, row["features"], default: [:]))
      }
    }
  }

  public func item(_ id: String) throws(StoreError) -> StoredItem? {
    try read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM items WHERE id = ?", arguments: [id]).map(Self.item(from:))
    }
  }

  static func item(from row: Row) -> StoredItem {
    let expiry: Double? = row["expires_at"]
    let created: Double? = row["created_at"]
    return StoredItem(
      id: row["id"] ?? "", features: decode([String: String].self, row["features"], default: [:]),
      categories: decode([String].self, row["categories"], default: []), hidden: (row["hidden"] as Int?) == 1,
      expiresAt: expiry.map { Date(timeIntervalSince1970: $0) }, createdAt: created.map { Date(timeIntervalSince1970: $0) })
  }

  /// Every item, for candidate filters.
  public func allItems() throws(StoreError) -> [StoredItem] {
    try read { db in try Row.fetchAll(db, sql: "SELECT * FROM items ORDER BY id").map(Self.item(from:)) }
  }

  public func deleteUser(_ id: String) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(sql: "DELETE FROM feedback WHERE user_id = ?", arguments: [id])
      try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
      return db.changesCount > 0
    }
  }

  public func deleteItem(_ id: String) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(sql: "DELETE FROM feedback WHERE item_id = ?", arguments: [id])
      try db.execute(sql: "DELETE FROM items WHERE id = ?", arguments: [id])
      return db.changesCount > 0
    }
  }

  // MARK: Feedback

  public func ingest(_ events: [FeedbackEvent]) throws(StoreError) -> IngestResult {
    try validate(events)
    return try ingest(batches: [events])[0]
  }

  /// Checks every event of a batch; the first bad one is named.
  public func validate(_ events: [FeedbackEvent]) throws(StoreError) {
    for (n, event) in events.enumerated() {
      let record = "event \(n + 1) ('\(event.eventID.prefix(40))')"
      try Self.check(event.eventID, record: record, field: "eventID")
      try Self.check(event.user, record: record, field: "user")
      try Self.check(event.item, record: record, field: "item")
      guard event.value.isFinite, abs(event.value) <= 1e38 else {
        throw .invalidField(record: record, field: "value", value: "\(event.value)", fix: "send a number between -1e38 and 1e38")
      }
      guard event.timestamp.timeIntervalSince1970.isFinite else {
        throw .invalidField(record: record, field: "timestamp", value: "\(event.timestamp)", fix: "send a finite time")
      }
    }
  }

  /// Stores several validated batches in one transaction (one fsync), in order: a group
  /// commit. Returns each batch's counts; an event id seen in an earlier batch is a duplicate.
  public func ingest(batches: [[FeedbackEvent]]) throws(StoreError) -> [IngestResult] {
    let now = Date().timeIntervalSince1970
    return try write { db in
      let insert = try db.cachedStatement(
        sql: "INSERT OR IGNORE INTO feedback (event_id, user_id, item_id, kind, value, timestamp) VALUES (?, ?, ?, ?, ?, ?)")
      let newUser = try db.cachedStatement(sql: "INSERT OR IGNORE INTO users (id, created_at) VALUES (?, ?)")
      let newItem = try db.cachedStatement(sql: "INSERT OR IGNORE INTO items (id, created_at) VALUES (?, ?)")
      return try batches.map { events in
        var inserted = 0
        for event in events {
          try insert.execute(arguments: [
            event.eventID, event.user, event.item, event.kind.rawValue, event.value, event.timestamp.timeIntervalSince1970,
          ])
          guard db.changesCount > 0 else { continue }
          inserted += 1
          try newUser.execute(arguments: [event.user, now])
          try newItem.execute(arguments: [event.item, now])
        }
        return IngestResult(inserted: inserted, duplicates: events.count - inserted)
      }
    }
  }


  static func event(from row: Row) -> FeedbackEvent {
    let kind: String = row["kind"] ?? "positive"
    let time: Double = row["timestamp"] ?? 0
    return FeedbackEvent(
      eventID: row["event_id"] ?? "", user: row["user_id"] ?? "", item: row["item_id"] ?? "",
      kind: FeedbackKind(rawValue: kind) ?? .positive, value: row["value"] ?? 0, timestamp: Date(timeIntervalSince1970: time))
  }

  public func events(kinds: Set<FeedbackKind>? = nil, after: Date? = nil, limit: Int? = nil) throws(StoreError) -> [FeedbackEvent] {
    var sql = "SELECT * FROM feedback WHERE timestamp > ?"
    var arguments: [any DatabaseValueConvertible] = [after?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]
    if let kinds {
      sql += " AND kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))"
      arguments += kinds.map(\.rawValue).sorted()
    }
    sql += " ORDER BY timestamp, sequence"
    if let limit { sql += " LIMIT \(max(limit, 0))" }
    return try read { db in
      try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(Self.event(from:))
    }
  }

  public func history(of user: String, limit: Int) throws(StoreError) -> [FeedbackEvent] {
    try read { db in
      try Row.fetchAll(
        db, sql: "SELECT * FROM feedback WHERE user_id = ? ORDER BY timestamp DESC, sequence DESC LIMIT ?",
        arguments: [user, max(limit, 0)]
      ).map(Self.event(from:))
    }
  }

  // MARK: Decisions and models

  public func log(_ decisions: [ServedDecision]) throws(StoreError) {
    for decision in decisions { try Self.check(decision.requestID, record: "decision", field: "requestID") }
    guard !decisions.isEmpty else { return }
    try write { db in
      let statement = try db.cachedStatement(
        sql: "INSERT OR REPLACE INTO decisions (request_id, user_id, served_at, policy, model_version, slate) VALUES (?, ?, ?, ?, ?, ?)")
      for decision in decisions {
        try statement.execute(arguments: [
          decision.requestID, decision.user, decision.servedAt.timeIntervalSince1970, decision.policy,
          decision.modelVersion, Self.json(decision.slate),
        ])
      }
    }
  }

  public func log(_ decision: ServedDecision) throws(StoreError) { try log([decision]) }

  public func decisions(after: Date? = nil, limit: Int? = nil) throws(StoreError) -> [ServedDecision] {
    var sql = "SELECT * FROM decisions WHERE served_at > ? ORDER BY served_at, request_id"
    if let limit { sql += " LIMIT \(max(limit, 0))" }
    return try read { db in
      try Row.fetchAll(db, sql: sql, arguments: [after?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]).map { row in
        let time: Double = row["served_at"] ?? 0
        return ServedDecision(
          requestID: row["request_id"] ?? "", user: row["user_id"] ?? "", servedAt: Date(timeIntervalSince1970: time),
          policy: row["policy"] ?? "", modelVersion: row["model_version"] ?? "",
          slate: Self.decode([ServedItem].self, row["slate"], default: []))
      }
    }
  }

  public func register(_ model: ModelRecord) throws(StoreError) {
    try Self.check(model.version, record: "model", field: "version")
    try write { db in
      if model.active { try db.execute(sql: "UPDATE models SET active = 0") }
      try db.execute(
        sql: "INSERT OR REPLACE INTO models (version, kind, created_at, path, metrics, active) VALUES (?, ?, ?, ?, ?, ?)",
        arguments: [model.version, model.kind, model.createdAt.timeIntervalSince1970, model.path, Self.json(model.metrics), model.active])
    }
  }

  public func activate(model version: String) throws(StoreError) {
    try write { db in
      guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM models WHERE version = ?", arguments: [version]) == 1 else {
        throw StoreError.invalidField(record: "model", field: "version", value: version, fix: "register the model first")
      }
      try db.execute(sql: "UPDATE models SET active = (version = ?)", arguments: [version])
    }
  }

  public func models() throws(StoreError) -> [ModelRecord] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM models ORDER BY created_at, version").map { row in
        let time: Double = row["created_at"] ?? 0
        return ModelRecord(
          version: row["version"] ?? "", kind: row["kind"] ?? "", createdAt: Date(timeIntervalSince1970: time),
          path: row["path"] ?? "", metrics: Self.decode([String: Double].self, row["metrics"], default: [:]),
          active: (row["active"] as Int?) == 1)
      }
    }
  }

  public func counts() throws(StoreError) -> StoreCounts {
    try read { db in
      func count(_ table: String) throws -> Int { try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
      return StoreCounts(
        users: try count("users"), items: try count("items"), events: try count("feedback"),
        decisions: try count("decisions"), models: try count("models"))
    }
  }

  /// Feedback events per day, or per month when they span more than 180 days.
  public func timeline() throws(StoreError) -> FeedbackTimeline {
    try read { db in
      let row = try Row.fetchOne(db, sql: "SELECT MIN(timestamp) AS first, MAX(timestamp) AS last FROM feedback")
      guard let first: Double = row?["first"], let last: Double = row?["last"] else { return FeedbackTimeline(unit: "day", buckets: []) }
      let monthly = last - first > 180 * 86_400
      let format = monthly ? "%Y-%m" : "%Y-%m-%d"
      let buckets = try Row.fetchAll(
        db, sql: "SELECT strftime(?, timestamp, 'unixepoch') AS start, COUNT(*) AS events FROM feedback GROUP BY start ORDER BY start",
        arguments: [format]
      ).map { FeedbackTimeline.Bucket(start: $0["start"] ?? "", events: $0["events"] ?? 0) }
      return FeedbackTimeline(unit: monthly ? "month" : "day", buckets: buckets)
    }
  }
}

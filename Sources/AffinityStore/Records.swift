public import Foundation

/// A user as the service stores it: raw feature values by column (`gender: F`, `age: 24`).
/// The rule every stored id follows (the limits of the OpenAPI document): 1 to 256 characters
/// (code points), no line breaks.
public enum RecordID {
  public static func isValid(_ id: String) -> Bool {
    !id.isEmpty && id.unicodeScalars.count <= 256 && !id.contains(where: \.isNewline)
  }
}

public struct StoredUser: Sendable, Codable, Equatable {
  public var id: String
  public var features: [String: String]

  public init(id: String, features: [String: String] = [:]) {
    self.id = id
    self.features = features
  }
}

/// An item as the service stores it: features, categories for filters and rules, a hidden
/// flag (never recommended, still explainable) and an optional expiry.
public struct StoredItem: Sendable, Codable, Equatable {
  public var id: String
  public var features: [String: String]
  public var categories: [String]
  public var hidden: Bool
  /// After this moment the item is no longer recommended (nil: never expires).
  public var expiresAt: Date?
  /// When the item was first stored (set by the store; ignored on upsert).
  public var createdAt: Date?

  public init(
    id: String, features: [String: String] = [:], categories: [String] = [], hidden: Bool = false, expiresAt: Date? = nil,
    createdAt: Date? = nil
  ) {
    self.id = id
    self.features = features
    self.categories = categories
    self.hidden = hidden
    self.expiresAt = expiresAt
    self.createdAt = createdAt
  }
}

/// What a user did with an item.
public enum FeedbackKind: String, Sendable, Codable, CaseIterable {
  /// A click, purchase, like or rating (the value carries the strength or the rating).
  case positive
  /// A dislike, a skip, "not interested".
  case negative
  /// The user opened or read the item.
  case read
  /// The item was shown (an impression), whether or not the user reacted.
  case exposure
}

/// One feedback event. `eventID` makes ingestion idempotent: sending the same event twice
/// stores it once.
public struct FeedbackEvent: Sendable, Codable, Equatable {
  public var eventID: String
  public var user: String
  public var item: String
  public var kind: FeedbackKind
  public var value: Double
  public var timestamp: Date

  public init(eventID: String, user: String, item: String, kind: FeedbackKind = .positive, value: Double = 1, timestamp: Date = Date()) {
    self.eventID = eventID
    self.user = user
    self.item = item
    self.kind = kind
    self.value = value
    self.timestamp = timestamp
  }
}

/// One item of a served slate with the probability that the serving policy showed it there.
public struct ServedItem: Sendable, Codable, Equatable {
  public var item: String
  public var score: Double
  public var propensity: Double

  public init(item: String, score: Double, propensity: Double) {
    self.item = item
    self.score = score
    self.propensity = propensity
  }
}

/// A logged decision: what was shown to whom, by which policy and model, with propensities —
/// what off-policy evaluation of a candidate model needs.
public struct ServedDecision: Sendable, Codable, Equatable {
  public var requestID: String
  public var user: String
  public var servedAt: Date
  public var policy: String
  public var modelVersion: String
  public var slate: [ServedItem]

  public init(requestID: String, user: String, servedAt: Date = Date(), policy: String, modelVersion: String, slate: [ServedItem]) {
    self.requestID = requestID
    self.user = user
    self.servedAt = servedAt
    self.policy = policy
    self.modelVersion = modelVersion
    self.slate = slate
  }
}

/// A trained model known to the service.
/// Feedback counts over time, for the web page.
public struct FeedbackTimeline: Sendable, Codable, Equatable {
  public struct Bucket: Sendable, Codable, Equatable {
    /// The day (`2026-11-27`) or month (`2026-11`) the bucket starts.
    public var start: String
    public var events: Int
  }
  /// `day` or `month`.
  public var unit: String
  public var buckets: [Bucket]
}

public struct ModelRecord: Sendable, Codable, Equatable {
  public var version: String
  public var kind: String
  public var createdAt: Date
  /// Where the model file lives.
  public var path: String
  public var metrics: [String: Double]
  public var active: Bool

  public init(version: String, kind: String, createdAt: Date = Date(), path: String, metrics: [String: Double] = [:], active: Bool = false) {
    self.version = version
    self.kind = kind
    self.createdAt = createdAt
    self.path = path
    self.metrics = metrics
    self.active = active
  }
}

/// How many rows each table holds.
public struct StoreCounts: Sendable, Codable, Equatable {
  public var users: Int
  public var items: Int
  public var events: Int
  public var decisions: Int
  public var models: Int

  public init(users: Int, items: Int, events: Int, decisions: Int, models: Int) {
    self.users = users
    self.items = items
    self.events = events
    self.decisions = decisions
    self.models = models
  }
}

/// The outcome of a batch ingest.
public struct IngestResult: Sendable, Codable, Equatable {
  /// Events stored now.
  public var inserted: Int
  /// Events whose id was already stored (sent twice); nothing changed for them.
  public var duplicates: Int

  public init(inserted: Int, duplicates: Int) {
    self.inserted = inserted
    self.duplicates = duplicates
  }
}

/// Bad input to the store, or a database failure, with what to do about it.
public enum StoreError: Error, Equatable, CustomStringConvertible {
  case invalidField(record: String, field: String, value: String, fix: String)
  case unknownUser(String)
  case unknownItem(String)
  case database(path: String, reason: String)
  case newerSchema(path: String, found: Int, supported: Int)

  public var description: String {
    switch self {
    case .invalidField(let record, let field, let value, let fix):
      "\(record): \(field) '\(value)' is invalid; \(fix)"
    case .unknownUser(let id): "unknown user '\(id)'; create it first (PUT /users/\(id)) or send its features with the request"
    case .unknownItem(let id): "unknown item '\(id)'; create it first (PUT /items/\(id))"
    case .database(let path, let reason): "the database '\(path)' failed: \(reason)"
    case .newerSchema(let path, let found, let supported):
      "the database '\(path)' has schema version \(found), newer than this build reads (\(supported)); upgrade affinity"
    }
  }
}

/// Where the service keeps users, items, feedback, served decisions and models. SQLite
/// (``SQLiteStore``) is the embedded default; another database can implement the same protocol
/// without touching the server.
public protocol RecommenderStore: Sendable {
  /// Where the data lives, for messages (a file path, a connection string without secrets).
  var path: String { get }
  func upsert(users: [StoredUser]) throws(StoreError)
  func upsert(items: [StoredItem]) throws(StoreError)
  func user(_ id: String) throws(StoreError) -> StoredUser?
  func item(_ id: String) throws(StoreError) -> StoredItem?
  /// Every user with their features.
  func allUsers() throws(StoreError) -> [StoredUser]
  /// Every item, for the pipeline's filters.
  func allItems() throws(StoreError) -> [StoredItem]
  /// Deletes the user and their feedback; false when there was no such user.
  func deleteUser(_ id: String) throws(StoreError) -> Bool
  /// Deletes the item and its feedback; false when there was no such item.
  func deleteItem(_ id: String) throws(StoreError) -> Bool
  /// Stores new events in one transaction; an event id seen before is skipped. Users and items
  /// the events name are created (without features) when missing. Once this returns, the events
  /// are on disk.
  func ingest(_ events: [FeedbackEvent]) throws(StoreError) -> IngestResult
  /// Checks a batch before it is queued; the first bad event is named.
  func validate(_ events: [FeedbackEvent]) throws(StoreError)
  /// Several validated batches in one transaction (a group commit), each batch's counts.
  func ingest(batches: [[FeedbackEvent]]) throws(StoreError) -> [IngestResult]
  /// Events in time order, optionally of some kinds only and after a moment.
  func events(kinds: Set<FeedbackKind>?, after: Date?, limit: Int?) throws(StoreError) -> [FeedbackEvent]
  /// The user's events, newest first.
  func history(of user: String, limit: Int) throws(StoreError) -> [FeedbackEvent]
  /// Logs served decisions in one transaction.
  func log(_ decisions: [ServedDecision]) throws(StoreError)
  func decisions(after: Date?, limit: Int?) throws(StoreError) -> [ServedDecision]
  func register(_ model: ModelRecord) throws(StoreError)
  /// Makes `version` the one active model (the others become inactive).
  func activate(model version: String) throws(StoreError)
  func models() throws(StoreError) -> [ModelRecord]
  func counts() throws(StoreError) -> StoreCounts
  /// Feedback events per day or month.
  func timeline() throws(StoreError) -> FeedbackTimeline
}

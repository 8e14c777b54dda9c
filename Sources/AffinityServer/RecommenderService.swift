import AffinityCatalog
public import AffinityCore
public import AffinityPipeline
public import AffinityStore
public import Foundation
import Dispatch
import Synchronization

/// The service behind the HTTP API: the store, the model and pipeline being served, training.
///
/// The served model is an immutable value behind a lock: a retrain builds a new one off to the
/// side and swaps it in at once, so requests in flight finish on the old model and none is
/// dropped. Item writes bump a catalogue version; the next request rebuilds the bound
/// pipeline (filters, categories) once.
public final class RecommenderService: Sendable {
  public struct Configuration: Sendable {
    /// The model kind trained on the stored feedback (`affinity models` lists them).
    public var model: String
    public var parameters: [(String, String)]
    /// Feedback kinds that count as interactions for training.
    public var trainingKinds: Set<FeedbackKind>
    public var seed: UInt64
    /// Candidate sources, filters, rules and exploration of every recommendation.
    public var pipeline: Pipeline
    /// Where each trained model is saved as a bundle (`<version>.affinity`) so a restart
    /// serves it at once; nil keeps models in memory only.
    public var modelDirectory: String?

    public init(
      model: String = "als", parameters: [(String, String)] = [], trainingKinds: Set<FeedbackKind> = [.positive, .read],
      seed: UInt64 = 42, pipeline: Pipeline = Pipeline(), modelDirectory: String? = nil
    ) {
      self.modelDirectory = modelDirectory
      self.model = model
      self.parameters = parameters
      self.trainingKinds = trainingKinds
      self.seed = seed
      self.pipeline = pipeline
    }
  }

  /// A model in service, bound into the pipeline.
  public struct Served: Sendable {
    public var version: String
    public var kind: String
    public var model: any Recommender
    public var pipeline: ServedPipeline
    /// The catalogue version the pipeline was bound with.
    var catalogVersion: Int
    public var trainedAt: Date
    public var events: Int
  }

  /// Any store behind ``RecommenderStore``: SQLite here, another database later.
  public let store: any RecommenderStore
  public let configuration: Configuration
  let current = Mutex<Served?>(nil)
  let training = Mutex<Bool>(false)
  let trainings = Atomic<Int>(0)
  let catalogVersion = Atomic<Int>(0)
  let decisionLog: DecisionLog
  let feedbackWriter: FeedbackWriter
  let recommendations = Atomic<Int>(0)
  /// Requests answered by `recommend`, for /metrics.
  public var recommendationCount: Int { recommendations.load(ordering: .relaxed) }

  public init(store: any RecommenderStore, configuration: Configuration = Configuration()) throws(ConfigurationError) {
    do { _ = try ModelCatalog.descriptor(named: configuration.model) } catch {
      throw ConfigurationError(model: "service", parameter: "model", value: configuration.model, requirement: "one of \(ModelCatalog.names.joined(separator: ", "))")
    }
    try configuration.pipeline.validate()
    self.store = store
    self.configuration = configuration
    decisionLog = DecisionLog(store: store)
    feedbackWriter = FeedbackWriter(store: store)
  }

  /// Stores a batch of feedback; returns once it is on disk. Batches that arrive together
  /// share one transaction (a group commit), so many clients cost few fsyncs.
  public func ingest(_ events: [FeedbackEvent]) async throws -> IngestResult {
    try store.validate(events)
    return try await feedbackWriter.write(events)
  }

  public var served: Served? { current.withLock { $0 } }

  // MARK: Catalogue writes (they re-bind the pipeline)

  public func upsert(items: [StoredItem]) throws(StoreError) {
    try store.upsert(items: items)
    catalogVersion.add(1, ordering: .sequentiallyConsistent)
  }

  public func deleteItem(_ id: String) throws(StoreError) -> Bool {
    defer { catalogVersion.add(1, ordering: .sequentiallyConsistent) }
    return try store.deleteItem(id)
  }

  /// The item catalogue as the pipeline sees it.
  func catalog(_ items: [StoredItem]? = nil) throws(StoreError) -> [ItemID: CatalogItem] {
    var catalog: [ItemID: CatalogItem] = [:]
    let stored: [StoredItem]
    if let items { stored = items } else { stored = try store.allItems() }
    for item in stored {
      catalog[ItemID(item.id)] = CatalogItem(
        categories: item.categories, features: item.features, hidden: item.hidden, expiresAt: item.expiresAt, addedAt: item.createdAt)
    }
    return catalog
  }

  /// One interaction per (user, item) from feedback events: values add up (repeated clicks are
  /// stronger evidence) and the latest time wins.
  public static func interactions(from events: [FeedbackEvent]) -> [Interaction] {
    var merged: [String: Int] = [:]
    var interactions: [Interaction] = []
    for event in events {
      let key = event.user + "\u{1F}" + event.item
      let time = Int64(event.timestamp.timeIntervalSince1970)
      if let k = merged[key] {
        interactions[k].value += Float(event.value)
        interactions[k].timestamp = max(interactions[k].timestamp, time)
      } else {
        merged[key] = interactions.count
        interactions.append(Interaction(user: UserID(event.user), item: ItemID(event.item), value: Float(event.value), timestamp: time))
      }
    }
    return interactions
  }

  /// The stored user and item features, encoded for the feature models (`gender=F`,
  /// `category=drama`); empty tables are left out. Other models ignore them.
  func sideInformation(items stored: [StoredItem]) throws -> SideInformation {
    func encode<ID: ExternalID>(_ rows: [(ID, [String: String], [String])]) throws -> EncodedFeatures<ID>? {
      let keys = Set(rows.flatMap { $0.1.keys }).sorted()
      let hasCategories = rows.contains { !$0.2.isEmpty }
      guard !keys.isEmpty || hasCategories else { return nil }
      var columns = keys.map { key in
        FeatureTable<ID>.Column(name: key, kind: .categorical, values: rows.map { row in row.1[key].map { .category($0) } ?? .missing })
      }
      if hasCategories {
        columns.append(.init(name: "category", kind: .multiLabel, values: rows.map { $0.2.isEmpty ? .missing : .labels($0.2) }))
      }
      let table = try FeatureTable(ids: IDVocabulary(rows.map(\.0)), columns: columns, source: "the service's \(ID.self == UserID.self ? "users" : "items")")
      return try FeatureEncoder().encode(table)
    }
    let users = try encode(try store.allUsers().map { (UserID($0.id), $0.features, [String]()) })
    let items = try encode(stored.map { (ItemID($0.id), $0.features, $0.categories) })
    return SideInformation(users: users, items: items)
  }

  /// The served model, re-bound to the catalogue when items changed since.
  func currentServed() throws -> Served {
    guard var served = current.withLock({ $0 }) else { throw ServiceError.notReady }
    let version = catalogVersion.load(ordering: .sequentiallyConsistent)
    guard served.catalogVersion != version else { return served }
    served.pipeline = try ServedPipeline(pipeline: configuration.pipeline, model: served.model, catalog: try catalog())
    served.catalogVersion = version
    let rebound = served
    current.withLock { slot in
      if let existing = slot, existing.version == rebound.version, existing.catalogVersion < version { slot = rebound }
    }
    return served
  }

  // MARK: Training

  /// Trains a new model on the stored feedback and swaps it in. Returns nil when another
  /// training is running (the caller may retry) and throws when there is no feedback yet.
  @discardableResult
  public func train() throws -> Served? {
    let started = training.withLock { busy -> Bool in
      if busy { return false }
      busy = true
      return true
    }
    guard started else { return nil }
    defer { training.withLock { $0 = false } }
    let events = try store.events(kinds: configuration.trainingKinds, after: nil, limit: nil)
    guard !events.isEmpty else { throw ServiceError.noFeedback }
    let interactions = Self.interactions(from: events)
    let data = try InteractionData(interactions, source: "the service's feedback")
    // The catalogue version before the items are read: an item written during the fit makes
    // the next request re-bind, never the other way round. One read serves features and filters.
    let catalogVersion = catalogVersion.load(ordering: .sequentiallyConsistent)
    let items = try store.allItems()
    let descriptor = try ModelCatalog.descriptor(named: configuration.model)
    let model = try descriptor.fit(data, parameters: configuration.parameters, options: FitOptions(seed: configuration.seed), features: try sideInformation(items: items))
    let now = Date()
    let version = "\(descriptor.name)-\(Int(now.timeIntervalSince1970 * 1000))-\(trainings.add(1, ordering: .relaxed).newValue)"
    let pipeline = try ServedPipeline(pipeline: configuration.pipeline, model: model, catalog: try catalog(items))
    let served = Served(
      version: version, kind: descriptor.name, model: model, pipeline: pipeline, catalogVersion: catalogVersion, trainedAt: now,
      events: events.count)
    var path = ""
    if let directory = configuration.modelDirectory {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      path = directory + "/" + version + ".affinity"
      try ModelFile.save(model, kind: descriptor.name, dataSource: "feedback in \(store.path)", to: path, metrics: ["events": Double(events.count)])
    }
    try store.register(ModelRecord(version: version, kind: descriptor.name, createdAt: now, path: path, metrics: ["events": Double(events.count)], active: true))
    current.withLock { $0 = served }
    return served
  }

  /// Serves the active model of the registry from its bundle, when it is of the configured
  /// kind and its file is intact; returns nil (and serves nothing) otherwise.
  @discardableResult
  public func restore() throws -> Served? {
    guard let record = try store.models().last(where: \.active), record.kind == configuration.model, !record.path.isEmpty,
      FileManager.default.fileExists(atPath: record.path)
    else { return nil }
    let (_, model) = try ModelFile.load(record.path)
    let served = Served(
      version: record.version, kind: record.kind, model: model,
      pipeline: try ServedPipeline(pipeline: configuration.pipeline, model: model, catalog: try catalog()),
      catalogVersion: catalogVersion.load(ordering: .sequentiallyConsistent), trainedAt: record.createdAt,
      events: Int(record.metrics["events"] ?? 0))
    current.withLock { $0 = served }
    return served
  }

  /// ``train()`` on a thread of its own, so that a long fit never holds one of the threads
  /// that answer requests; requests keep being served by the old model until the swap.
  public func trainInBackground() async throws -> Served? {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Served?, any Error>) in
      let thread = Thread { [self] in
        do { done.resume(returning: try train()) } catch { done.resume(throwing: error) }
      }
      thread.name = "affinity-training"
      thread.start()
    }
  }

  // MARK: Queries

  /// Recommendations through the pipeline for a known user, a new user (their stored history
  /// and features are folded in at request time), or an anonymous session (`user` nil, a
  /// `history` and/or `features`). Each served slate is logged with its propensities.
  public func recommend(
    user: String?, history: [String] = [], features: [String: String] = [:], count: Int, exclude: [String] = [],
    categories: [String] = []
  ) throws -> RecommendationResponse {
    let served = try currentServed()
    try Self.check(count: count)
    recommendations.add(1, ordering: .relaxed)
    var request = PipelineRequest(
      history: history.map { ItemID($0) }, count: count, excluding: Set(exclude.map { ItemID($0) }), categories: categories,
      seed: UInt64.random(in: 0...UInt64.max))
    request.features = features.map { "\($0.key)=\($0.value)" }.sorted()
    if let user {
      let id = UserID(user)
      let known = served.model.users.index(of: id) != nil
      // What happened since training: seen items to skip, negatives to filter, and for a
      // user the model has never met, the history to fold in.
      let recent = try store.history(of: user, limit: 500)
      if !known {
        guard let stored = try store.user(user) else {
          if history.isEmpty && features.isEmpty { throw ServiceError.unknown(kind: "user", id: user) }
          return try finish(served: served, request: request, user: user)
        }
        if features.isEmpty { request.features = stored.features.map { "\($0.key)=\($0.value)" }.sorted() }
      }
      request.user = known ? id : nil
      for event in recent {
        if event.kind == .negative {
          request.negatives.insert(ItemID(event.item))
        } else if configuration.trainingKinds.contains(event.kind) {
          if known { request.excluding.insert(ItemID(event.item)) } else { request.history.append(ItemID(event.item)) }
        }
      }
    }
    return try finish(served: served, request: request, user: user)
  }

  func finish(served: Served, request: PipelineRequest, user: String?) throws -> RecommendationResponse {
    let slate = try served.pipeline.run(request)
    let response = RecommendationResponse(
      requestID: UUID().uuidString, user: user, modelVersion: served.version,
      items: slate.items.map { RecommendationResponse.Item(item: $0.item.rawValue, score: Double($0.score), propensity: $0.propensity, source: $0.source.rawValue) })
    decisionLog.append(ServedDecision(
      requestID: response.requestID, user: user ?? "anonymous", servedAt: request.now,
      policy: "pipeline/\(configuration.pipeline.exploration.method.rawValue)", modelVersion: served.version,
      slate: response.items.map { ServedItem(item: $0.item, score: $0.score, propensity: $0.propensity) }))
    return response
  }

  /// How many items a request may ask for.
  static func check(count: Int) throws(ServiceError) {
    guard (1...1_000).contains(count) else {
      throw ServiceError.invalidParameter(field: "n", value: "\(count)", fix: "ask for 1 to 1000 items")
    }
  }

  public func similar(to item: String, count: Int) throws -> [RecommendationResponse.Item] {
    let served = try currentServed()
    try Self.check(count: count)
    guard let provider = served.model as? any SimilarItemsProviding else {
      throw ServiceError.unsupported("the served model (\(served.kind)) does not rank similar items; serve als, item-knn or ease")
    }
    guard served.model.items.index(of: ItemID(item)) != nil else { throw ServiceError.unknown(kind: "item", id: item) }
    do {
      return try provider.similarItems(to: ItemID(item), count: count).map {
        RecommendationResponse.Item(item: $0.item.rawValue, score: Double($0.score), propensity: 1, source: "similar")
      }
    } catch {
      throw ServiceError.query("\(error)")
    }
  }

  /// Why `item` scores as it does for `user`: the model's contributions (history items,
  /// neighbours or features).
  public func explain(user: String, item: String) throws -> Explanation {
    let served = try currentServed()
    guard let model = served.model as? any Explainable else {
      throw ServiceError.unsupported("the served model (\(served.kind)) does not explain its scores; serve als, item-knn or ease")
    }
    guard served.model.items.index(of: ItemID(item)) != nil else { throw ServiceError.unknown(kind: "item", id: item) }
    var query = RecommendationQuery(user: UserID(user))
    if served.model.users.index(of: UserID(user)) == nil {
      let history = try store.history(of: user, limit: 500).filter { configuration.trainingKinds.contains($0.kind) }.map { ItemID($0.item) }
      guard !history.isEmpty else { throw ServiceError.unknown(kind: "user", id: user) }
      query = RecommendationQuery(history: history)
    }
    do {
      return try model.explanation(of: ItemID(item), for: query)
    } catch {
      throw ServiceError.query("\(error)")
    }
  }

  /// Served decisions, the pending ones written first.
  public func decisions(after: Date?, limit: Int) throws -> [ServedDecision] {
    try decisionLog.flush()
    return try store.decisions(after: after, limit: limit)
  }

  /// Writes the decisions still in memory; call before shutting down.
  public func flush() throws { try decisionLog.flush() }
}

/// Served decisions wait in memory and a thread of their own writes them, one transaction
/// per batch, every 50 ms or as soon as 512 are waiting. A request never waits for the disk,
/// and the fsync never occupies one of the few threads that run request handlers. A crash
/// loses at most the last batch of *decisions*; feedback is on disk before it is acknowledged.
final class DecisionLog: WakeableWorker {
  let store: any RecommenderStore
  let pending = Mutex<[ServedDecision]>([])
  let flushing = Mutex<Void>(())
  let wake = DispatchSemaphore(value: 0)

  init(store: any RecommenderStore) {
    self.store = store
    startWorker(named: "affinity-decision-log", for: self, every: .milliseconds(50)) { try? $0.flush() }
  }

  func append(_ decision: ServedDecision) {
    let count = pending.withLock { list -> Int in
      list.append(decision)
      return list.count
    }
    if count == 512 { wake.signal() }
  }

  func flush() throws {
    try flushing.withLock { _ in
      let batch = pending.withLock { list -> [ServedDecision] in
        defer { list.removeAll(keepingCapacity: true) }
        return list
      }
      try store.log(batch)
    }
  }
}

/// An owner whose work a thread of its own does when woken.
protocol WakeableWorker: AnyObject, Sendable {
  var wake: DispatchSemaphore { get }
}

/// Runs `step` on a thread of its own each time the owner's `wake` is signalled or `interval`
/// passes, for as long as the owner lives: the thread holds it weakly between steps.
func startWorker<Owner: WakeableWorker>(
  named name: String, for owner: Owner, every interval: DispatchTimeInterval, _ step: @escaping @Sendable (Owner) -> Void
) {
  let thread = Thread { [weak owner] in
    while let owner {
      _ = owner.wake.wait(timeout: .now() + interval)
      step(owner)
    }
  }
  thread.name = name
  thread.start()
}

/// The one writer of feedback: a thread of its own takes every batch waiting and commits them
/// in one transaction, then answers each. Handlers wait for the answer without holding a thread.
final class FeedbackWriter: WakeableWorker {
  typealias Waiting = (events: [FeedbackEvent], done: CheckedContinuation<IngestResult, any Error>)
  let store: any RecommenderStore
  let waiting = Mutex<[Waiting]>([])
  let wake = DispatchSemaphore(value: 0)

  init(store: any RecommenderStore) {
    self.store = store
    // Nothing can be waiting when this goes: a waiting handler holds the service, which holds it.
    startWorker(named: "affinity-feedback-writer", for: self, every: .milliseconds(200)) { $0.commit() }
  }

  func write(_ events: [FeedbackEvent]) async throws -> IngestResult {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<IngestResult, any Error>) in
      waiting.withLock { $0.append((events, done)) }
      wake.signal()
    }
  }

  func commit() {
    let group = waiting.withLock { list -> [Waiting] in
      defer { list.removeAll(keepingCapacity: true) }
      return list
    }
    guard !group.isEmpty else { return }
    do {
      let results = try store.ingest(batches: group.map(\.events))
      for (entry, result) in zip(group, results) { entry.done.resume(returning: result) }
    } catch {
      for entry in group { entry.done.resume(throwing: error) }
    }
  }
}

/// What `recommend` returns.
public struct RecommendationResponse: Sendable, Codable, Equatable {
  public struct Item: Sendable, Codable, Equatable {
    public var item: String
    public var score: Double
    /// The probability that the pipeline showed this item in this slot.
    public var propensity: Double
    /// The candidate source: model, similar-to-history, popular, recent (or similar).
    public var source: String
  }
  public var requestID: String
  public var user: String?
  public var modelVersion: String
  public var items: [Item]
}

/// A request the service cannot serve, with the HTTP status it maps to.
public enum ServiceError: Error, Equatable, CustomStringConvertible {
  case notReady
  case noFeedback
  case unknown(kind: String, id: String)
  case invalidParameter(field: String, value: String, fix: String)
  case unsupported(String)
  case query(String)

  public var description: String {
    switch self {
    case .notReady: "no model is trained yet; send feedback and POST /train"
    case .noFeedback: "there is no feedback to train on yet; POST /feedback first"
    case .unknown(let kind, let id): "unknown \(kind) '\(id)'"
    case .invalidParameter(let field, let value, let fix): "\(field) = '\(value)' is invalid; \(fix)"
    case .unsupported(let message): message
    case .query(let message): message
    }
  }
}

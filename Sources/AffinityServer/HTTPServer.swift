public import AffinityStore
public import Hummingbird
import AffinityCore
import Foundation
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// How the HTTP server listens and who may write.
public struct ServerConfiguration: Sendable {
  /// Loopback by default: the service is reachable from this machine only.
  public var host: String
  public var port: Int
  /// The key writes need (`Authorization: Bearer <key>` or `X-API-Key: <key>`). Only its
  /// SHA-256 digest is kept.
  public var apiKeyDigest: [UInt8]
  /// Reads need the key too.
  public var readsNeedKey: Bool

  public init(host: String = "127.0.0.1", port: Int = 8080, apiKey: String, readsNeedKey: Bool = false) {
    self.host = host
    self.port = port
    apiKeyDigest = ServerConfiguration.digest(apiKey)
    self.readsNeedKey = readsNeedKey
  }

  static func digest(_ key: String) -> [UInt8] {
    var hash = SHA256()
    hash.update(Array(key.utf8))
    return hash.finalize()
  }
}

/// An error answer: `{"error": {"code": …, "message": …, "field": …}}` with a 4xx status for
/// anything the client can fix.
public struct APIError: HTTPResponseError {
  public var status: HTTPResponse.Status
  public var code: String
  public var message: String
  public var field: String?
  /// Extra headers, such as `Allow` on a 405.
  public var headers: HTTPFields = [:]

  public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
    self.status = status
    self.code = code
    self.message = message
    self.field = field
  }

  struct Body: Encodable {
    struct Detail: Encodable {
      var code: String
      var message: String
      var field: String?
    }
    var error: Detail
  }

  public func response(from request: Request, context: some RequestContext) throws -> Response {
    let data = try JSONEncoder().encode(Body(error: .init(code: code, message: message, field: field)))
    var fields = headers
    fields[.contentType] = "application/json"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }

  /// The answer for any error a handler throws.
  static func from(_ error: any Error) -> any Error {
    switch error {
    case let error as APIError: return error
    case let error as ServiceError:
      switch error {
      case .notReady: return APIError(.serviceUnavailable, code: "not_ready", message: error.description)
      case .noFeedback: return APIError(.conflict, code: "no_feedback", message: error.description)
      case .unknown(let kind, _): return APIError(.notFound, code: "unknown_\(kind)", message: error.description, field: kind)
      case .invalidParameter(let field, _, _): return APIError(.badRequest, code: "invalid_parameter", message: error.description, field: field)
      case .unsupported: return APIError(.unprocessableContent, code: "unsupported", message: error.description)
      case .query: return APIError(.badRequest, code: "invalid_query", message: error.description)
      }
    case let error as StoreError:
      switch error {
      case .invalidField(_, let field, _, _): return APIError(.badRequest, code: "invalid_field", message: error.description, field: field)
      case .unknownUser: return APIError(.notFound, code: "unknown_user", message: error.description, field: "user")
      case .unknownItem: return APIError(.notFound, code: "unknown_item", message: error.description, field: "item")
      case .database, .newerSchema: return APIError(.internalServerError, code: "database", message: error.description)
      }
    case let error as QueryError:
      return APIError(.badRequest, code: "invalid_query", message: error.description)
    case let error as ConfigurationError:
      return APIError(.badRequest, code: "invalid_configuration", message: error.description, field: error.parameter)
    case let error as FitError:
      return APIError(.unprocessableContent, code: "training_failed", message: error.description)
    case let error as DataError:
      return APIError(.unprocessableContent, code: "invalid_data", message: error.description)
    case let error as BundleError:
      return APIError(.internalServerError, code: "model_file", message: error.description)
    case let error as DecodingError:
      let (field, detail) = error.location
      return APIError(.badRequest, code: "invalid_json", message: "the body is not valid: \(field.isEmpty ? "" : field + ": ")\(detail)", field: field.isEmpty ? nil : field)
    case let error as any HTTPResponseError:
      return error
    default:
      return APIError(.internalServerError, code: "internal", message: "\(error)")
    }
  }
}

/// Writes (and, when configured, reads) need the API key: none gives 401, a wrong one 403.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
  let digest: [UInt8]
  let readsNeedKey: Bool
  static var keyHeader: HTTPField.Name? { HTTPField.Name("X-API-Key") }

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    // POST /recommend only reads (it carries a history or features in its body).
    let isRead = request.method == .get || request.method == .head || (request.method == .post && request.uri.path == "/recommend")
    // Probes, the page itself and the API document carry no data: always open (the page then
    // asks for the key when the data needs it).
    let open = ["/health", "/ready", "/metrics", "/", "/openapi.json"].contains(request.uri.path)
    if (!isRead || readsNeedKey) && !open {
      var given = Self.keyHeader.flatMap { request.headers[$0] }
      if given == nil, let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") {
        given = String(authorization.dropFirst(7))
      }
      guard let given else {
        throw APIError(.unauthorized, code: "missing_api_key", message: "this request needs the API key: send Authorization: Bearer <key> or X-API-Key: <key>")
      }
      // Compare digests in constant time.
      let candidate = ServerConfiguration.digest(given)
      var difference: UInt8 = 0
      for (a, b) in zip(candidate, digest) { difference |= a ^ b }
      guard difference == 0 else { throw APIError(.forbidden, code: "wrong_api_key", message: "the API key is not valid for this server") }
    }
    return try await next(request, context)
  }
}

/// Maps every thrown error to its typed answer; a known path asked with a method it does not
/// have gets 405 with `Allow`, an unknown path 404, both with the JSON error body.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let error as HTTPError where error.status == .notFound {
      if let methods = APIPaths.methods(for: request.uri.path) {
        var answer = APIError(
          .methodNotAllowed, code: "method_not_allowed",
          message: "\(request.method) is not allowed on \(request.uri.path) (allowed: \(methods)); see /openapi.json")
        answer.headers[.allow] = methods
        throw answer
      }
      throw APIError(.notFound, code: "not_found", message: "no route \(request.uri.path); see /openapi.json")
    } catch {
      throw APIError.from(error)
    }
  }
}

/// The paths of the API (`*` standing for one segment) and their methods.
enum APIPaths {
  static let all: [(pattern: [Substring], methods: String)] = [
    ("/", "GET"), ("/health", "GET"), ("/ready", "GET"), ("/metrics", "GET"), ("/stats", "GET"), ("/stats/timeline", "GET"),
    ("/models", "GET"), ("/openapi.json", "GET"), ("/users/*", "GET, PUT, DELETE"), ("/users/*/history", "GET"),
    ("/items/*", "GET, PUT, DELETE"), ("/items/*/similar", "GET"), ("/feedback", "POST"), ("/recommend", "GET, POST"),
    ("/explain", "GET"), ("/decisions", "GET"), ("/train", "POST"),
  ].map { ($0.0.split(separator: "/"), $0.1) }

  /// The methods of the route `path` matches, or nil for no route.
  static func methods(for path: String) -> String? {
    let segments = path.split(separator: "/")
    return all.first { entry in
      entry.pattern.count == segments.count && zip(entry.pattern, segments).allSatisfy { $0 == "*" || $0 == $1 }
    }?.methods
  }
}

extension RecommendationResponse: ResponseEncodable {}
extension StoredUser: ResponseEncodable {}
extension StoredItem: ResponseEncodable {}
extension IngestResult: ResponseEncodable {}
extension StoreCounts: ResponseEncodable {}
extension Explanation: ResponseEncodable {}
extension FeedbackTimeline: ResponseEncodable {}

/// The HTTP API over a ``RecommenderService``.
public enum AffinityHTTP {
  struct Status: ResponseEncodable {
    var status: String
    var modelVersion: String?
    var events: Int?
  }

  /// A time in a request body: Unix seconds or an ISO 8601 string.
  /// A time in a request body: Unix seconds, or an RFC 3339 / ISO 8601 date-time with `Z` or
  /// an offset, years 0001 to 9999 (what an ISO 8601 answer can carry back).
  struct Time: Decodable {
    static let range = -62_135_596_800.0...253_402_300_799.0
    var date: Date
    init(from decoder: any Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let seconds = try? container.decode(Double.self) {
        guard Self.range.contains(seconds) else {
          throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "\(seconds) is outside the years 0001–9999 in Unix seconds")
        }
        date = Date(timeIntervalSince1970: seconds)
      } else {
        let text = try container.decode(String.self)
        guard let parsed = Self.parse(text), Self.range.contains(parsed.timeIntervalSince1970) else {
          throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "'\(text)' is neither Unix seconds nor an RFC 3339 time such as 2026-11-27T10:00:00Z")
        }
        date = parsed
      }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    static func parse(_ text: String) -> Date? {
      let pattern = #/^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/#
      guard let m = text.wholeMatch(of: pattern) else { return nil }
      var components = DateComponents()
      components.year = Int(m.1)
      components.month = Int(m.2)
      components.day = Int(m.3)
      components.hour = Int(m.4)
      components.minute = Int(m.5)
      components.second = Int(m.6)
      var calendar = Calendar(identifier: .gregorian)
      calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
      guard let month = components.month, (1...12).contains(month), let day = components.day, (1...31).contains(day),
        let hour = components.hour, hour < 24, let minute = components.minute, minute < 60,
        let second = components.second, second < 61, calendar.date(from: components).map({ calendar.component(.day, from: $0) == day }) == true,
        let base = calendar.date(from: components)
      else { return nil }
      var offset = 0.0
      let zone = String(m.8)
      if zone != "Z" && zone != "z" {
        let sign: Double = zone.hasPrefix("-") ? -1 : 1
        let parts = zone.dropFirst().split(separator: ":").compactMap { Double($0) }
        guard parts.count == 2, parts[1] < 60 else { return nil }
        offset = sign * (parts[0] * 3_600 + parts[1] * 60)
      }
      let fraction = m.7.flatMap { Double("0" + $0) } ?? 0
      return base.addingTimeInterval(fraction - offset)
    }
  }

  struct UserBody: Decodable { var features: [String: String]? }
  struct ItemBody: Decodable {
    var features: [String: String]?
    var categories: [String]?
    var hidden: Bool?
    var expiresAt: Time?
  }
  struct EventBody: Decodable {
    var eventId: String
    var user: String
    var item: String
    var kind: FeedbackKind?
    var value: Double?
    /// Now when absent.
    var timestamp: Time?
  }
  struct FeedbackBody: Decodable { var events: [EventBody] }
  struct RecommendBody: Decodable {
    var user: String?
    var history: [String]?
    /// Features of a user the model has not met (`{"gender": "F"}`), folded in at request time.
    var features: [String: String]?
    var n: Int?
    var exclude: [String]?
    var categories: [String]?
  }
  struct Items: ResponseEncodable { var items: [RecommendationResponse.Item] }
  struct Decisions: ResponseEncodable { var decisions: [ServedDecision] }
  struct Models: ResponseEncodable { var models: [ModelRecord] }
  struct History: ResponseEncodable {
    struct Event: Encodable {
      var eventId: String
      var user: String
      var item: String
      var kind: FeedbackKind
      var value: Double
      var timestamp: Date
      init(_ event: FeedbackEvent) {
        eventId = event.eventID
        user = event.user
        item = event.item
        kind = event.kind
        value = event.value
        timestamp = event.timestamp
      }
    }
    var events: [Event]
  }
  struct Trained: ResponseEncodable {
    var modelVersion: String
    var kind: String
    var events: Int
  }

  /// The largest request body accepted (a feedback batch of ~50,000 events).
  static let maximumBodyBytes = 8 << 20

  /// Decodes a JSON body; a body over ``maximumBodyBytes`` gets 413, bad JSON 400 naming the field.
  static func body<T: Decodable>(_ request: Request, as type: T.Type) async throws -> T {
    var request = request
    let buffer: ByteBuffer
    do {
      buffer = try await request.collectBody(upTo: maximumBodyBytes)
    } catch {
      throw APIError(.contentTooLarge, code: "body_too_large", message: "the body is over \(maximumBodyBytes >> 20) MiB; send feedback in smaller batches")
    }
    guard buffer.readableBytes > 0 else {
      throw APIError(.badRequest, code: "invalid_json", message: "the body is empty; send a JSON object")
    }
    do {
      return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch {
      throw APIError.from(error)
    }
  }

  /// The `{id}` of the path, percent-decoded.
  static func id(_ context: some RequestContext) throws -> String {
    let raw = try context.parameters.require("id")
    guard let id = raw.removingPercentEncoding, RecordID.isValid(id) else {
      throw APIError(
        .badRequest, code: "invalid_parameter", message: "the id '\(raw.prefix(40))' is invalid; use 1 to 256 characters without line breaks",
        field: "id")
    }
    return id
  }

  static func integer(_ request: Request, _ name: String, default fallback: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
    guard let text = request.uri.queryParameters[name[...]] else { return fallback }
    guard let value = Int(String(text)) else {
      throw APIError(.badRequest, code: "invalid_parameter", message: "\(name) must be an integer; got '\(text)'", field: name)
    }
    if let range, !range.contains(value) {
      throw APIError(
        .badRequest, code: "invalid_parameter", message: "\(name) must be \(range.lowerBound)…\(range.upperBound); got \(value)", field: name)
    }
    return value
  }

  /// The router with every route; `requests` counts answered requests for /metrics.
  public static func router(service: RecommenderService, configuration: ServerConfiguration) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: APIKeyMiddleware(digest: configuration.apiKeyDigest, readsNeedKey: configuration.readsNeedKey))
    let store = service.store

    router.get("health") { _, _ in Status(status: "ok") }
    router.get("ready") { _, _ -> Status in
      guard let served = service.served else { throw ServiceError.notReady }
      return Status(status: "ready", modelVersion: served.version, events: served.events)
    }
    router.get("metrics") { _, _ -> String in
      let counts = try store.counts()
      let served = service.served
      return """
        # TYPE affinity_users gauge
        affinity_users \(counts.users)
        # TYPE affinity_items gauge
        affinity_items \(counts.items)
        # TYPE affinity_feedback_events gauge
        affinity_feedback_events \(counts.events)
        # TYPE affinity_decisions gauge
        affinity_decisions \(counts.decisions)
        # TYPE affinity_model_trained_at_seconds gauge
        affinity_model_trained_at_seconds \(served.map { Int($0.trainedAt.timeIntervalSince1970) } ?? 0)
        # TYPE affinity_recommend_requests_total counter
        affinity_recommend_requests_total \(service.recommendationCount)

        """
    }
    router.get("stats") { _, _ in try store.counts() }
    router.get("stats/timeline") { _, _ in try store.timeline() }
    router.get("models") { _, _ in Models(models: try store.models()) }
    router.get("openapi.json") { _, _ in
      Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: Assets.openAPI)))
    }
    router.get("/") { _, _ in
      Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Assets.webPage)))
    }
    router.get("users/:id/history") { request, context -> History in
      let limit = try integer(request, "limit", default: 100, in: 1...10_000)
      let user = try id(context)
      guard try store.user(user) != nil else { throw ServiceError.unknown(kind: "user", id: user) }
      return History(events: try store.history(of: user, limit: limit).map(History.Event.init))
    }

    router.put("users/:id") { request, context -> StoredUser in
      let body = try await body(request, as: UserBody.self)
      let user = StoredUser(id: try id(context), features: body.features ?? [:])
      try store.upsert(users: [user])
      return user
    }
    router.get("users/:id") { _, context -> StoredUser in
      let id = try id(context)
      guard let user = try store.user(id) else { throw ServiceError.unknown(kind: "user", id: id) }
      return user
    }
    router.delete("users/:id") { _, context -> HTTPResponse.Status in
      let id = try id(context)
      guard try store.deleteUser(id) else { throw ServiceError.unknown(kind: "user", id: id) }
      return .noContent
    }
    router.put("items/:id") { request, context -> StoredItem in
      let body = try await body(request, as: ItemBody.self)
      let item = StoredItem(
        id: try id(context), features: body.features ?? [:], categories: body.categories ?? [], hidden: body.hidden ?? false,
        expiresAt: body.expiresAt?.date)
      try service.upsert(items: [item])
      return item
    }
    router.get("items/:id") { _, context -> StoredItem in
      let id = try id(context)
      guard let item = try store.item(id) else { throw ServiceError.unknown(kind: "item", id: id) }
      return item
    }
    router.delete("items/:id") { _, context -> HTTPResponse.Status in
      let id = try id(context)
      guard try service.deleteItem(id) else { throw ServiceError.unknown(kind: "item", id: id) }
      return .noContent
    }
    router.get("items/:id/similar") { request, context -> Items in
      Items(items: try service.similar(to: try id(context), count: try integer(request, "n", default: 10)))
    }

    router.post("feedback") { request, context -> IngestResult in
      let body = try await body(request, as: FeedbackBody.self)
      let now = Date()
      let events = body.events.map { event in
        return FeedbackEvent(
          eventID: event.eventId, user: event.user, item: event.item, kind: event.kind ?? .positive, value: event.value ?? 1,
          timestamp: event.timestamp?.date ?? now)
      }
      return try await service.ingest(events)
    }

    router.get("recommend") { request, _ -> RecommendationResponse in
      guard let user = request.uri.queryParameters["user"].map(String.init) else {
        throw APIError(.badRequest, code: "invalid_parameter", message: "give ?user=<id>, or POST /recommend with a history", field: "user")
      }
      let exclude = request.uri.queryParameters["exclude"].map { $0.split(separator: ",").map(String.init) } ?? []
      let categories = request.uri.queryParameters["category"].map { $0.split(separator: ",").map(String.init) } ?? []
      return try service.recommend(user: user, count: try integer(request, "n", default: 10), exclude: exclude, categories: categories)
    }
    router.post("recommend") { request, context -> RecommendationResponse in
      let body = try await body(request, as: RecommendBody.self)
      guard body.user != nil || !(body.history ?? []).isEmpty || !(body.features ?? [:]).isEmpty else {
        throw APIError(.badRequest, code: "invalid_parameter", message: "give a user, a history of item ids or user features", field: "user")
      }
      return try service.recommend(
        user: body.user, history: body.history ?? [], features: body.features ?? [:], count: body.n ?? 10,
        exclude: body.exclude ?? [], categories: body.categories ?? [])
    }
    router.get("explain") { request, _ -> Explanation in
      guard let user = request.uri.queryParameters["user"].map(String.init) else {
        throw APIError(.badRequest, code: "invalid_parameter", message: "give ?user=<id>&item=<id>", field: "user")
      }
      guard let item = request.uri.queryParameters["item"].map(String.init) else {
        throw APIError(.badRequest, code: "invalid_parameter", message: "give ?user=<id>&item=<id>", field: "item")
      }
      return try service.explain(user: user, item: item)
    }

    router.get("decisions") { request, _ -> Decisions in
      let after = request.uri.queryParameters["after"].flatMap { Double(String($0)) }.map { Date(timeIntervalSince1970: $0) }
      let limit = try integer(request, "limit", default: 1_000, in: 1...100_000)
      if let text = request.uri.queryParameters["after"], !(Double(String(text)).map { abs($0) <= 99_999_999_999 } ?? false) {
        throw APIError(.badRequest, code: "invalid_parameter", message: "after must be Unix seconds; got '\(text)'", field: "after")
      }
      return Decisions(decisions: try service.decisions(after: after, limit: limit))
    }
    router.post("train") { _, _ -> Trained in
      guard let served = try await service.trainInBackground() else {
        throw APIError(.conflict, code: "training", message: "a training is already running; try again when it ends")
      }
      return Trained(modelVersion: served.version, kind: served.kind, events: served.events)
    }
    return router
  }

  /// The application, listening where `configuration` says; `onRunning` gets the bound port
  /// (useful with port 0, which asks the system for a free one).
  public static func application(
    service: RecommenderService, configuration: ServerConfiguration, onRunning: @escaping @Sendable (Int) -> Void = { _ in }
  ) -> some ApplicationProtocol {
    Application(
      router: router(service: service, configuration: configuration),
      configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "affinity"),
      onServerRunning: { channel in onRunning(channel.localAddress?.port ?? configuration.port) },
      logger: {
        var logger = Logger(label: "affinity")
        logger.logLevel = .warning
        return logger
      }())
  }

  /// Serves until the process gets SIGINT or SIGTERM, then finishes the requests in flight and
  /// writes the decisions still in memory.
  public static func run(
    service: RecommenderService, configuration: ServerConfiguration, onRunning: @escaping @Sendable (Int) -> Void = { _ in }
  ) async throws {
    try await application(service: service, configuration: configuration, onRunning: onRunning).runService()
    try service.flush()
  }
}

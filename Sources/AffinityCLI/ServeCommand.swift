import AffinityCatalog
import AffinityCore
import AffinityPipeline
import AffinityServer
import AffinityStore
import ArgumentParser
import Foundation

/// `affinity serve`: the recommender service over HTTP, on an embedded SQLite store.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run the recommender service: HTTP API over an embedded SQLite store.",
    discussion: """
      Listens on 127.0.0.1 unless --host says otherwise. Writes (PUT, POST, DELETE) need the API
      key: --api-key, else the AFFINITY_API_KEY environment variable, else a random key printed
      once at start. Only its SHA-256 digest is kept. With --demo an empty database is first
      filled with the built-in synthetic world (1,000 users, 1,700 films, 100,000 ratings).
      Routes: GET /health /ready /metrics /stats; PUT|GET|DELETE /users/{id} and /items/{id};
      GET /items/{id}/similar?n=; POST /feedback {"events": [{"eventId", "user", "item", "kind",
      "value", "timestamp"}]}; GET /recommend?user=&n=&exclude=&category=; POST /recommend
      {"user"?, "history"?, "n"?, "exclude"?, "category"?}; GET /decisions; POST /train.
      Example: affinity serve --demo   (then: curl 'http://127.0.0.1:8080/recommend?user=u1')
      """)

  @Option(help: "Address to listen on (127.0.0.1: this machine only).") var host: String = "127.0.0.1"
  @Option(help: "Port (0: any free port; the one chosen is printed).") var port: Int = 8080
  @Option(help: "The SQLite database (its folder is created when missing).") var db: String = "affinity-data/affinity.sqlite"
  @Option(help: "Model trained on the stored feedback; `affinity models` lists them.") var model: String = "als"
  @Option(name: .customLong("param"), help: "Model parameter key=value (repeatable).") var parameters: [String] = []
  @Option(help: "The API key writes need (default: $AFFINITY_API_KEY, else a random key printed at start).") var apiKey: String?
  @Flag(help: "Reads need the API key too.") var readsNeedKey = false
  @Flag(help: "Fill an empty database with the built-in synthetic world first.") var demo = false
  @Flag(help: "Train at start even when the active model's bundle could be served (after changing --model or --param).")
  var retrain = false
  @Option(help: "The served pipeline as JSON: sources, filters, rules, exploration (docs/pipeline.md).") var pipeline: String?
  @Option(help: "Retrain on the stored feedback every this many seconds (0: only on POST /train).") var retrainEvery: Int = 0

  func validate() throws {
    guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535; got \(port)") }
    guard retrainEvery >= 0 else { throw ValidationError("--retrain-every must be ≥ 0; got \(retrainEvery)") }
    _ = try CLIErrors.mapped { try ModelCatalog.descriptor(named: model) }
    _ = try CLIErrors.mapped { try ModelCatalog.parseParameters(parameters) }
  }

  /// The synthetic world as users, items and rating events.
  static func seedDemo(_ store: SQLiteStore) throws {
    let world = try SyntheticWorld()
    try store.upsert(users: world.users.map {
      StoredUser(id: $0.id.rawValue, features: ["age": String($0.age), "gender": $0.gender, "occupation": $0.occupation])
    })
    try store.upsert(items: world.items.map {
      StoredItem(id: $0.id.rawValue, features: ["title": $0.title, "year": String($0.year), "genres": $0.genres.joined(separator: "|")],
        categories: $0.genres)
    })
    let ratings = world.ratings
    let events = (0..<ratings.count).map { k in
      FeedbackEvent(
        eventID: "demo:\(k + 1)", user: ratings.users[Int(ratings.userIndices[k])].rawValue,
        item: ratings.items[Int(ratings.itemIndices[k])].rawValue, kind: .positive, value: Double(ratings.values[k]),
        timestamp: Date(timeIntervalSince1970: Double(ratings.timestamps[k])))
    }
    _ = try store.ingest(events)
  }

  func run() async throws {
    let folder = URL(fileURLWithPath: db).deletingLastPathComponent().path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let store = try CLIErrors.mapped { try SQLiteStore(path: db) }
    if demo, try store.counts().events == 0 {
      FileHandle.standardError.write(Data("filling \(db) with the synthetic world…\n".utf8))
      try CLIErrors.mapped { try Self.seedDemo(store) }
    }
    let chosen = try CLIErrors.mapped { try pipeline.map { try Pipeline.load(contentsOf: $0) } ?? Pipeline() }
    let service = try CLIErrors.mapped {
      try RecommenderService(
        store: store,
        configuration: .init(
          model: model, parameters: try ModelCatalog.parseParameters(parameters), pipeline: chosen, modelDirectory: folder + "/models"))
    }
    let counts = try store.counts()
    if !retrain, let restored = try? service.restore() {
      FileHandle.standardError.write(Data("serving \(restored.version) from its bundle (POST /train to retrain)\n".utf8))
    } else if counts.events > 0, let served = try CLIErrors.mapped({ try service.train() }) {
      FileHandle.standardError.write(Data("trained \(served.version) on \(served.events) events\n".utf8))
    }
    var key = apiKey ?? ProcessInfo.processInfo.environment["AFFINITY_API_KEY"]
    if key == nil {
      let generated = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
      print("API key for writes (shown once): \(generated)")
      key = generated
    }
    let configuration = ServerConfiguration(host: host, port: port, apiKey: key ?? "", readsNeedKey: readsNeedKey)
    if retrainEvery > 0 {
      let interval = retrainEvery
      Task.detached {
        while !Task.isCancelled {
          try? await Task.sleep(for: .seconds(interval))
          // Only when feedback arrived since the model in service was trained.
          guard let events = try? store.counts().events, events != service.served?.events else { continue }
          _ = try? await service.trainInBackground()
        }
      }
    }
    let summary = "\(counts.users) users, \(counts.items) items, \(counts.events) events in \(db)"
    let host = host
    try await AffinityHTTP.run(service: service, configuration: configuration) { port in
      FileHandle.standardOutput.write(Data("affinity: \(summary); serving http://\(host):\(port) (web page at /, API at /openapi.json)\n".utf8))
    }
  }
}

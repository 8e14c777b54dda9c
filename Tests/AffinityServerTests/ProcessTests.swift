import AffinityStore
import AffinityTestSupport
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The `affinity serve` process as a user runs it: killed with SIGKILL while it ingests
/// feedback, and its web page opened in headless Chromium.
@Suite("affinity serve as a process", .serialized)
struct ProcessTests {
  /// The `affinity` executable next to the test bundle (SwiftPM builds it with the tests).
  static let executable: URL? = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
      let candidate = directory.appendingPathComponent("affinity")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      directory.deleteLastPathComponent()
    }
    return nil
  }()

  /// Starts the server on a free port and returns the process and its base URL.
  static func start(executable: URL, database: String, extra: [String] = []) async throws -> (Process, URL) {
    let process = Process()
    process.executableURL = executable
    process.arguments = ["serve", "--db", database, "--port", "0", "--api-key", "crash-key", "--model", "popular"] + extra
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    // The first line names the port: "... serving http://127.0.0.1:PORT (...)".
    var text = ""
    let deadline = Date().addingTimeInterval(60)
    while !text.contains("serving http://"), Date() < deadline, process.isRunning {
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
      text += String(decoding: chunk, as: UTF8.self)
    }
    guard let range = text.range(of: #"http://127\.0\.0\.1:\d+"#, options: .regularExpression), let url = URL(string: String(text[range])) else {
      process.terminate()
      throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the server did not start: \(text)"])
    }
    return (process, url)
  }

  static func post(_ url: URL, _ body: String, method: String = "POST") async throws -> Int {
    var request = URLRequest(url: url)
    request.httpMethod = method
    request.httpBody = Data(body.utf8)
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    request.setValue("Bearer crash-key", forHTTPHeaderField: "Authorization")
    let (_, response) = try await URLSession.shared.data(for: request)
    return (response as? HTTPURLResponse)?.statusCode ?? 0
  }

  @Test func killMinusNineDuringIngestLosesNoAcknowledgedEvent() async throws {
    guard let executable = Self.executable else {
      if TestEnvironment.isCI { Issue.record("the affinity executable was not built next to the tests") }
      return
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-crash-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let database = folder + "/affinity.sqlite"
    let (server, base) = try await Self.start(executable: executable, database: database)

    // Batches of 50 events go in one after another until the server is killed.
    let acknowledged = Mutex<[String]>([])
    let ingest = Task {
      for batch in 0..<100_000 {
        let ids = (0..<50).map { "b\(batch)-e\($0)" }
        let events = ids.enumerated().map { k, id in #"{"eventId": "\#(id)", "user": "u\#(k % 7)", "item": "i\#(batch % 13)"}"# }
        guard let status = try? await Self.post(base.appendingPathComponent("feedback"), #"{"events": [\#(events.joined(separator: ","))]}"#) else { return }
        if status == 200 { acknowledged.withLock { $0 += ids } }
      }
    }
    // Kill it mid-stream: once a few batches are in (a loaded machine may take a while), plus a little.
    let deadline = Date().addingTimeInterval(60)
    while acknowledged.withLock({ $0.count }) < 150, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
    try await Task.sleep(for: .milliseconds(200))
    kill(server.processIdentifier, SIGKILL)
    server.waitUntilExit()
    await ingest.value
    let acked = acknowledged.withLock { $0 }
    #expect(acked.count >= 50, "some batches were acknowledged before the kill")

    // Every acknowledged event is in the database; the store opens cleanly after the crash.
    let store = try SQLiteStore(path: database)
    let stored = Set(try store.events(kinds: nil, after: nil, limit: nil).map(\.eventID))
    let lost = acked.filter { !stored.contains($0) }
    #expect(lost.isEmpty, "\(lost.count) acknowledged events lost, e.g. \(lost.prefix(3))")

    // Restarting recovers: the server comes back on the same database and keeps counting.
    let (again, base2) = try await Self.start(executable: executable, database: database)
    defer { again.terminate() }
    let (data, _) = try await URLSession.shared.data(from: base2.appendingPathComponent("stats"))
    let events = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["events"] as? Int ?? -1
    #expect(events >= acked.count)
    #expect(try await Self.post(base2.appendingPathComponent("feedback"), #"{"events": [{"eventId": "after", "user": "u1", "item": "i1"}]}"#) == 200)
  }

  /// Chromium from Debian (`apt-get install chromium`).
  static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

  /// The page's DOM after its scripts ran (and, with `screenshot`, a PNG of it).
  static func render(_ url: URL, chromium: String, screenshot: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: chromium)
    var arguments = [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
      "--virtual-time-budget=8000",
    ]
    arguments += screenshot.map { ["--screenshot=\($0)"] } ?? ["--dump-dom"]
    process.arguments = arguments + [url.absoluteString]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }

  @Test func theWebPageShowsCountsRecommendationsAndSimilarItemsInChromium() async throws {
    guard let executable = Self.executable, let chromium = Self.chromium else {
      if TestEnvironment.isCI { Issue.record("needs the affinity executable and chromium (apt-get install chromium); .ci/run installs it") }
      return
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-web-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (server, base) = try await Self.start(executable: executable, database: folder + "/affinity.sqlite")
    defer { server.terminate() }
    // Twelve users, eight items: item i<k> is clicked by the first 12 − k users.
    var events: [String] = []
    for k in 0..<8 {
      for u in 0..<(12 - k) { events.append(#"{"eventId": "e\#(k)-\#(u)", "user": "u\#(u)", "item": "i\#(k)"}"#) }
    }
    #expect(try await Self.post(base.appendingPathComponent("feedback"), #"{"events": [\#(events.joined(separator: ","))]}"#) == 200)
    #expect(try await Self.post(base.appendingPathComponent("items/i7"), #"{"features": {"title": "Seventh Seal"}, "categories": ["drama"]}"#, method: "PUT") == 200)
    #expect(try await Self.post(base.appendingPathComponent("train"), "") == 200)

    var page = URLComponents(url: base, resolvingAgainstBaseURL: false)
    page?.queryItems = [URLQueryItem(name: "user", value: "u11"), URLQueryItem(name: "item", value: "i7")]
    let url = try #require(page?.url)
    let dom = try Self.render(url, chromium: chromium)
    #expect(dom.contains("feedback events"), "the overview cards rendered")
    #expect(dom.contains("serving popular-"), "the header names the served model")
    #expect(dom.contains("<svg"), "the timeline chart rendered")
    // u11 has seen i0 only: the most popular unseen items follow, with their propensities.
    let table = try #require(dom.range(of: #"<table id="recommendations">"#), "the user's recommendations rendered")
    let recommendations = String(dom[table.lowerBound...])
    #expect(recommendations.contains("i1") && !recommendations.prefix(600).contains(">i0<"))
    #expect(recommendations.contains("1.00"), "propensities are shown")
    #expect(dom.contains("Seventh Seal") && dom.contains("drama"), "the item panel shows features and categories")
    #expect(dom.contains("does not rank similar items"), "popular has no similar items, and the page says so")
    if let shot = ProcessInfo.processInfo.environment["AFFINITY_SCREENSHOT"] {
      _ = try Self.render(url, chromium: chromium, screenshot: shot)
    }
  }

  @Test func retrainEveryTrainsOnTheNewFeedbackOnItsOwnAndReadsCanNeedTheKey() async throws {
    guard let executable = Self.executable else {
      if TestEnvironment.isCI { Issue.record("the affinity executable was not built next to the tests") }
      return
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-retrain-\(UUID())").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let (server, base) = try await Self.start(
      executable: executable, database: folder + "/affinity.sqlite", extra: ["--retrain-every", "1", "--reads-need-key"])
    defer { server.terminate() }
    #expect(try await Self.post(base.appendingPathComponent("feedback"), #"{"events": [{"eventId": "1", "user": "a", "item": "x"}]}"#) == 200)
    // No POST /train: the schedule trains within a second or two.
    var models = 0
    let deadline = Date().addingTimeInterval(30)
    while models < 1, Date() < deadline {
      try await Task.sleep(for: .milliseconds(250))
      var request = URLRequest(url: base.appendingPathComponent("models"))
      request.setValue("crash-key", forHTTPHeaderField: "X-API-Key")
      let (data, _) = try await URLSession.shared.data(for: request)
      models = ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["models"] as? [Any])?.count ?? 0
    }
    #expect(models >= 1, "a model was trained on schedule")
    let (_, open) = try await URLSession.shared.data(from: base.appendingPathComponent("models"))
    #expect((open as? HTTPURLResponse)?.statusCode == 401, "with --reads-need-key a read without the key is refused")
    let (_, page) = try await URLSession.shared.data(from: base)
    #expect((page as? HTTPURLResponse)?.statusCode == 200, "the web page itself loads, and asks for the key")
    if let chromium = Self.chromium {
      let dom = try Self.render(base, chromium: chromium)
      #expect(dom.contains(#"<form id="key-form">"#), "the key form is shown (no longer hidden)")
    }
  }
}

import AffinityCatalog
import AffinityCore
import AffinityLinalg
import AffinityTestSupport
import Foundation
import Testing

@Suite("Saving and loading models")
struct ModelFileTests {
  func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("affinity-test-\(UUID().uuidString)-\(name)").path
  }

  @Test(arguments: ["svd", "als", "knn-baseline", "blend"], [".json", ".affinity"])
  func roundTripsThroughAFile(model name: String, extension: String) throws {
    let world = try Fixtures.smallWorld()
    let quick: [String: [(String, String)]] = [
      "blend": [("models", "baseline+knn-means")], "svd": [("epochs", "3")], "als": [("epochs", "2")],
    ]
    let parameters = quick[name] ?? []
    let model = try ModelCatalog.descriptor(named: name).fit(world.ratings, parameters: parameters, options: FitOptions(seed: 3))
    let path = temporaryPath("\(name)\(`extension`)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ModelFile.save(model, kind: name, dataSource: "synthetic", to: path)
    let first = try #require(FileManager.default.contents(atPath: path)?.first)
    #expect((first == UInt8(ascii: "{")) == (`extension` == ".json"), "a bundle starts with its header length")
    let (kind, loaded) = try ModelFile.load(path)
    #expect(kind == name)
    let query = RecommendationQuery(user: world.ratings.users[3], count: 5)
    #expect(try loaded.scores(for: query) == model.scores(for: query))
  }

  @Test func refusesTruncatedNewerAndUnknownJSONFiles() throws {
    let world = try Fixtures.smallWorld()
    let model = try ModelCatalog.descriptor(named: "baseline").fit(world.ratings, options: FitOptions())
    let path = temporaryPath("baseline.json")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ModelFile.save(model, kind: "baseline", dataSource: "synthetic", to: path)
    let text = try String(contentsOfFile: path, encoding: .utf8)

    try String(text.prefix(text.count / 2)).write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: BundleError.corrupted(file: path, reason: "not an Affinity model file or truncated")) {
      _ = try ModelFile.load(path)
    }
    try text.replacingOccurrences(of: "\"formatVersion\":1", with: "\"formatVersion\":7").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: BundleError.unsupportedFormatVersion(found: 7, supported: 1...2, file: path)) { _ = try ModelFile.load(path) }
    try text.replacingOccurrences(of: "\"kind\":\"baseline\"", with: "\"kind\":\"quantum\"").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: BundleError.unknownKind("quantum", known: ModelCatalog.names, file: path)) { _ = try ModelFile.load(path) }
    #expect(throws: BundleError.unreadable(file: path + ".missing", reason: "no such file")) { _ = try ModelFile.load(path + ".missing") }
  }

  /// A saved ALS bundle, its bytes and its tensors in file order.
  func savedBundle() throws -> (path: String, bytes: [UInt8], layout: SafetensorsFile) {
    let world = try Fixtures.smallWorld()
    let model = try ModelCatalog.descriptor(named: "als").fit(
      world.ratings, parameters: [("epochs", "1"), ("embeddingSize", "4")], options: FitOptions())
    let path = temporaryPath("als.affinity")
    try ModelFile.save(model, kind: "als", dataSource: "synthetic", to: path)
    let bytes = try #require(FileManager.default.contents(atPath: path).map(Array.init))
    return (path, bytes, try SafetensorsFile(reading: bytes, file: path))
  }

  func load(_ bytes: [UInt8], at path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    _ = try ModelFile.load(path)
  }

  @Test func refusesATruncatedBundle() throws {
    let (path, bytes, layout) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let last = try #require(layout.tensors.last)
    let dataCount = layout.tensors.reduce(0) { $0 + $1.bytes.count }
    let reason = "tensor '\(last.name)' ends at byte \(dataCount) of the data but only \(dataCount - 5) bytes follow the header"
    let error = BundleError.truncated(file: path, reason: reason)
    #expect(throws: error) { try load(Array(bytes.dropLast(5)), at: path) }
    #expect(error.description == "model bundle '\(path)' is truncated (\(reason)); copy it again or retrain")
  }

  @Test func refusesAHeaderLengthPastTheEnd() throws {
    let (path, bytes, _) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
    #expect(throws: BundleError.truncated(file: path, reason: "the header claims \(length) bytes but only 100 follow")) {
      try load(Array(bytes.prefix(108)), at: path)
    }
    #expect(throws: BundleError.truncated(file: path, reason: "it has 3 bytes, fewer than the 8-byte header length")) {
      try load(Array(bytes.prefix(3)), at: path)
    }
  }

  @Test func refusesAFlippedByteInATensor() throws {
    let (path, bytes, layout) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    var flipped = bytes
    flipped[bytes.count - 1] ^= 0x40
    let last = try #require(layout.tensors.last)
    let error = BundleError.checksumMismatch(file: path, tensor: last.name)
    #expect(throws: error) { try load(flipped, at: path) }
    #expect(
      error.description
        == "model bundle '\(path)' is corrupted: tensor '\(last.name)' does not match its SHA-256 in the manifest; copy it again or retrain"
    )
  }

  @Test func refusesABrokenHeader() throws {
    let (path, bytes, _) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    var broken = bytes
    broken[8] = UInt8(ascii: "x")
    #expect(throws: BundleError.corrupted(file: path, reason: "the safetensors header is not valid JSON")) {
      try load(broken, at: path)
    }
  }

  /// The bundle with its manifest text edited by `edit`.
  func edited(_ layout: SafetensorsFile, _ edit: (String) -> String) throws -> [UInt8] {
    var layout = layout
    layout.metadata["affinity"] = edit(layout.metadata["affinity"] ?? "")
    return try layout.encoded()
  }

  @Test func refusesANewerFormatAndAnUnknownKind() throws {
    let (path, _, layout) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let newer = try edited(layout) { $0.replacingOccurrences(of: "\"formatVersion\":2", with: "\"formatVersion\":3") }
    let error = BundleError.unsupportedFormatVersion(found: 3, supported: 1...2, file: path)
    #expect(throws: error) { try load(newer, at: path) }
    #expect(
      error.description
        == "'\(path)' was written by a newer Affinity (format 3); this build reads formats 1...2 — upgrade affinity")

    let unknown = try edited(layout) { $0.replacingOccurrences(of: "\"kind\":\"als\"", with: "\"kind\":\"quantum\"") }
    #expect(throws: BundleError.unknownKind("quantum", known: ModelCatalog.names, file: path)) { try load(unknown, at: path) }
  }

  @Test func aFailedWriteLeavesTheOldFile() throws {
    let (path, bytes, _) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(throws: BundleError.self) {
      try ModelFile.save(
        try ModelCatalog.descriptor(named: "popular").fit(Fixtures.smallWorld().ratings, options: FitOptions()),
        kind: "popular", dataSource: "x", to: "/nonexistent-directory/model.affinity")
    }
    // Block the temporary file's name with a directory, so the write fails after the model
    // was encoded; the bundle already at `path` must be untouched.
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: temporary) }
    let other = try ModelCatalog.descriptor(named: "popular").fit(Fixtures.smallWorld().ratings, options: FitOptions())
    #expect(throws: BundleError.self) { try ModelFile.save(other, kind: "popular", dataSource: "x", to: path) }
    #expect(FileManager.default.contents(atPath: path).map(Array.init) == bytes)
    #expect(try ModelFile.load(path).kind == "als")
  }

  @Test func readsEnsembleMembersStoredAsBase64JSON() throws {
    let world = try Fixtures.smallWorld()
    let descriptor = try ModelCatalog.descriptor(named: "rank-blend")
    let model = try descriptor.fit(world.ratings, parameters: [("models", "item-knn+popular"), ("weightStep", "0.5")], options: FitOptions())
    // Rewrite the members into the older form: {"kind": …, "model": "<base64 of its JSON>"}.
    var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(model)) as? [String: Any])
    let members = try #require(object["members"] as? [[String: Any]])
    object["members"] = try members.map { member -> [String: Any] in
      let inner = try JSONSerialization.data(withJSONObject: member["model"] ?? [:])
      return ["kind": member["kind"] ?? "", "model": inner.base64EncodedString()]
    }
    let old = try descriptor.decode(JSONSerialization.data(withJSONObject: object))
    let query = RecommendationQuery(user: world.ratings.users[2], count: 5)
    #expect(try old.recommend(query).map(\.item) == model.recommend(query).map(\.item))
  }

  @Test func inspectDescribesABundle() throws {
    let (path, _, layout) = try savedBundle()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let summary = try ModelFile.inspect(path)
    #expect(summary.kind == "als" && summary.layout == "bundle" && summary.formatVersion == 2)
    #expect(summary.vocabularies == ["users": 120, "items": summary.items])
    #expect(summary.tensors.map(\.name) == layout.tensors.map(\.name))
    let factors = try #require(summary.tensors.first { $0.name == "userFactors" })
    #expect(factors.dtype == "F32" && factors.shape == [120, 4] && factors.bytes == 120 * 4 * 4)
    #expect(summary.configuration["embeddingSize"] == "4")
  }
}

/// Files written by earlier builds, kept in `Tests/AffinityModelTests/Bundles/`; each must still
/// load and give the scores recorded next to it when it was written.
@Suite("Committed model files still load")
struct CompatibilityTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Bundles")

  /// The tiny synthetic world the fixtures were trained on (no real data).
  static func world() throws -> SyntheticWorld {
    try SyntheticWorld(configuration: .init(userCount: 16, itemCount: 12, ratingCount: 80), seed: 11)
  }

  static let fixtures: [(file: String, model: String, parameters: [(String, String)])] = [
    ("v1/baseline.json", "baseline", []),
    ("v2/als.affinity", "als", [("epochs", "2"), ("embeddingSize", "4")]),
  ]

  struct Expected: Codable {
    var user: String
    var scores: [Float]
  }

  @Test(arguments: fixtures.indices)
  func loadsAndScoresAsWhenWritten(index: Int) throws {
    let (file, model, _) = Self.fixtures[index]
    let path = Self.directory.appendingPathComponent(file).path
    let (kind, loaded) = try ModelFile.load(path)
    #expect(kind == model)
    let expected = try JSONDecoder().decode(
      Expected.self, from: Data(contentsOf: URL(fileURLWithPath: path + ".expected.json")))
    #expect(try loaded.scores(for: RecommendationQuery(user: UserID(expected.user))) == expected.scores)
  }

  /// `AFFINITY_WRITE_FIXTURES=1 swift test --filter CompatibilityTests` rewrites the files;
  /// do that only for a new format version, in a new folder.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["AFFINITY_WRITE_FIXTURES"] == "1"))
  func writeFixtures() throws {
    let world = try Self.world()
    for (file, name, parameters) in Self.fixtures {
      let model = try ModelCatalog.descriptor(named: name).fit(world.ratings, parameters: parameters, options: FitOptions(seed: 1))
      let path = Self.directory.appendingPathComponent(file).path
      try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try ModelFile.save(model, kind: name, dataSource: "SyntheticWorld(16 users, 12 items, 80 ratings, seed 11)", to: path)
      let user = world.ratings.users[0]
      let expected = Expected(user: user.rawValue, scores: try model.scores(for: RecommendationQuery(user: user)))
      try JSONEncoder().encode(expected).write(to: URL(fileURLWithPath: path + ".expected.json"))
    }
  }
}

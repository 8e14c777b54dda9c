import AffinityCatalog
import AffinityCore
import AffinityTestSupport
import Foundation
import Testing

@Suite("Saving and loading models")
struct ModelFileTests {
  func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("affinity-test-\(UUID().uuidString)-\(name)").path
  }

  @Test(arguments: ["svd", "als", "knn-baseline", "blend"])
  func roundTripsThroughAFile(model name: String) throws {
    let world = try Fixtures.smallWorld()
    let quick: [String: [(String, String)]] = [
      "blend": [("models", "baseline+knn-means")], "svd": [("epochs", "3")], "als": [("epochs", "2")],
    ]
    let parameters = quick[name] ?? []
    let model = try ModelCatalog.descriptor(named: name).fit(world.ratings, parameters: parameters, options: FitOptions(seed: 3))
    let path = temporaryPath("\(name).json")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ModelFile.save(model, kind: name, dataSource: "synthetic", to: path)
    let (kind, loaded) = try ModelFile.load(path)
    #expect(kind == name)
    let query = RecommendationQuery(user: world.ratings.users[3], count: 5)
    #expect(try loaded.scores(for: query) == model.scores(for: query))
  }

  @Test func refusesTruncatedNewerAndUnknownFiles() throws {
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
    #expect(throws: BundleError.unsupportedFormatVersion(found: 7, supported: 1...1)) { _ = try ModelFile.load(path) }
    try text.replacingOccurrences(of: "\"kind\":\"baseline\"", with: "\"kind\":\"quantum\"").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: BundleError.unknownKind("quantum", known: ModelCatalog.names)) { _ = try ModelFile.load(path) }
    #expect(throws: BundleError.unreadable(file: path + ".missing", reason: "no such file")) { _ = try ModelFile.load(path + ".missing") }
  }

  @Test func aFailedWriteLeavesTheOldFile() throws {
    let world = try Fixtures.smallWorld()
    let model = try ModelCatalog.descriptor(named: "baseline").fit(world.ratings, options: FitOptions())
    #expect(throws: BundleError.self) {
      try ModelFile.save(model, kind: "baseline", dataSource: "x", to: "/nonexistent-directory/model.json")
    }
  }
}

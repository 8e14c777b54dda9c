import AffinityCLI
import AffinityCatalog
import AffinityCore
import AffinityStore
import ArgumentParser
import Foundation
import Testing

@Suite("affinity command line")
struct CommandTests {
  @Test func evaluateNeedsTrainAndTestOrData() {
    #expect(throws: (any Error).self) { _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd"]) }
    let message = AffinityCommand.message(for: ValidationError("x"))
    #expect(message == "x")
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--train", "a.tsv"])
      Issue.record("--train without --test must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error) == "--train and --test go together; add the missing one")
    }
  }

  @Test func evaluateRejectsAnUnknownModelBeforeReadingData() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd3", "--data", "x.tsv"])
      Issue.record("unknown model must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error).hasPrefix("no model named 'svd3'; run `affinity models` to list them"))
    }
  }

  @Test func evaluateRejectsAMalformedParameter() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--data", "x.tsv", "--param", "epochs"])
      Issue.record("malformed --param must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error) == "--param must look like key=value; got 'epochs'")
    }
  }

  @Test func evaluateTakesFeatureFilesAndCandidates() throws {
    let parsed = try AffinityCommand.parseAsRoot([
      "evaluate", "--model", "inductive", "--train", "a.tsv", "--test", "b.tsv", "--user-features", "u.user",
      "--item-features", "u.item", "--candidates", "test-items",
    ])
    #expect(String(describing: type(of: parsed)) == "EvaluateCommand")
    #expect(throws: (any Error).self) {
      _ = try AffinityCommand.parseAsRoot([
        "evaluate", "--model", "inductive", "--train", "a.tsv", "--test", "b.tsv", "--candidates", "some",
      ])
    }
  }

  @Test func splitNamesAreChecked() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--data", "x.tsv", "--split", "sideways"])
      Issue.record("unknown split must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error).hasPrefix("--split must be one of random, user-temporal"))
    }
  }

  /// The first message a user sees for a bad command line.
  static func message(_ arguments: [String]) -> String? {
    do {
      var command = try AffinityCommand.parseAsRoot(arguments)
      try command.validate()
      return nil
    } catch {
      return AffinityCommand.message(for: error)
    }
  }

  @Test func newCommandsCheckTheirArgumentsBeforeReadingData() {
    #expect(Self.message(["ctr", "--train", "a", "--test", "b", "--model", "svd"])?.contains("lr, poly2, fm") == true)
    #expect(Self.message(["ope", "--log", "x.csv", "--evaluation-policy", "uniform", "--resamples", "10"])
      == "--resamples needs --truth to compute relative errors")
    #expect(Self.message(["ope", "--log", "x.csv", "--evaluation-policy", "uniform", "--folds", "0"]) == "--folds must be ≥ 1; got 0")
    #expect(Self.message(["simulate", "--data", "x", "--policy", "ucb1", "--environment", "casino"])
      == "--environment must be movielens or synthetic; got 'casino'")
    #expect(Self.message(["simulate", "--data", "x", "--policy", "ucb1", "--rounds", "0"]) == "--rounds, --seeds and --arms must be ≥ 1")
  }

  @Test func benchBanditsReadsALogAndWritesItsDecisions() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-bench-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    func write(_ values: [Double], _ name: String) throws {
      var data = Data()
      for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
      try data.write(to: URL(fileURLWithPath: directory + "/" + name))
    }
    // 300 logged events with 3 features: arm 1 pays when x0 > 0, arm 0 otherwise.
    var generator = SeededGenerator(seed: 8)
    var log: [Double] = []
    var contexts: [Double] = []
    for _ in 0..<300 {
      let x = [generator.nextGaussian(), generator.nextGaussian(), 1]
      let arm = generator.nextInt(below: 2)
      log += [Double(arm), (x[0] > 0) == (arm == 1) ? 1 : 0] + x
      contexts += x
    }
    try write(log, "log.f64")
    try write(contexts, "contexts.f64")
    var command = try AffinityCommand.parseAsRoot([
      "bench-bandits", "--arms", "2", "--features", "3", "--online", "50", "--log", directory + "/log.f64",
      "--contexts", directory + "/contexts.f64", "--decisions-out", directory + "/arms.i32", "--format", "json",
    ])
    try command.run()
    let arms = try Data(contentsOf: URL(fileURLWithPath: directory + "/arms.i32"))
    #expect(arms.count == 300 * 4)
    let chosen = (0..<300).map { n in arms.withUnsafeBytes { Int(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: n * 4, as: Int32.self))) } }
    let right = (0..<300).filter { chosen[$0] == (contexts[$0 * 3] > 0 ? 1 : 0) }.count
    #expect(right > 270, "the fitted policy picks the paying arm: \(right) of 300")
    #expect(Self.message(["bench-bandits", "--features", "0"]) == "--decisions, --arms and --features must be ≥ 1, --online ≥ 0")
    var wrong = try AffinityCommand.parseAsRoot(["bench-bandits", "--features", "4", "--log", directory + "/log.f64", "--online", "0"])
    #expect(throws: (any Error).self) { try wrong.run() }
  }

  @Test func importStoresEventsOnceAndFeaturesByColumn() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-import-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try "1\t10\t5\t100\n1\t11\t3\t101\n2\t10\t4\t102\n".write(toFile: directory + "/u.data", atomically: true, encoding: .utf8)
    try "user_id,gender,age\n1,F,24\n2,M,51\n".write(toFile: directory + "/users.csv", atomically: true, encoding: .utf8)
    let database = directory + "/db/affinity.sqlite"
    for _ in 0..<2 {
      var command = try AffinityCommand.parseAsRoot([
        "import", "--db", database, "--data", directory + "/u.data", "--user-features", directory + "/users.csv",
      ])
      try command.run()
    }
    let store = try SQLiteStore(path: database)
    #expect(try store.counts() == StoreCounts(users: 2, items: 2, events: 3, decisions: 0, models: 0), "the second import adds nothing")
    #expect(try store.user("2")?.features == ["gender": "M", "age": "51"])
    #expect(try store.history(of: "1", limit: 5).map(\.value) == [3, 5])
    #expect(Self.message(["import", "--db", database]) == "nothing to import: give --data, --user-features or --item-features")
    #expect(Self.message(["import", "--data", "x", "--kind", "click"])?.hasPrefix("--kind must be one of") == true)
  }

  @Test func trainWritesABundleThatInspectAndRecommendRead() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-bundle-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let rows = (0..<40).map { n in "u\(n % 8)\ti\((n * 7) % 11)\t\(1 + n % 5)\t\(n)" }
    try (rows.joined(separator: "\n") + "\n").write(toFile: directory + "/r.tsv", atomically: true, encoding: .utf8)
    for out in ["model.affinity", "model.json"] {
      var train = try AffinityCommand.parseAsRoot([
        "train", "--data", directory + "/r.tsv", "--model", "als", "--param", "epochs=2", "--param", "embeddingSize=4",
        "--out", directory + "/" + out,
      ])
      try train.run()
      var inspect = try AffinityCommand.parseAsRoot(["inspect", directory + "/" + out, "--format", "json"])
      try inspect.run()
      var recommend = try AffinityCommand.parseAsRoot([
        "recommend", "--model-file", directory + "/" + out, "--user", "u1", "--count", "3",
      ])
      try recommend.run()
    }
    let summary = try ModelFile.inspect(directory + "/model.affinity")
    #expect(summary.layout == "bundle" && summary.kind == "als")
    #expect(summary.dataFingerprint == "sha256:" + SHA256.hex(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/r.tsv")))))
    #expect(summary.vocabularies == ["users": 8, "items": 11])
    #expect(try ModelFile.inspect(directory + "/model.json").layout == "json")
    var broken = try AffinityCommand.parseAsRoot(["inspect", directory + "/r.tsv"])
    #expect(throws: (any Error).self) { try broken.run() }
  }
}

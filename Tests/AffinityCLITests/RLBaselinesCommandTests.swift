import AffinityCLI
import ArgumentParser
import Foundation
import Testing

@Suite("affinity rl baselines")
struct RLBaselinesCommandTests {
  static func message(_ arguments: [String]) -> String? {
    do {
      _ = try RLBaselinesCommand.parse(arguments)
      return nil
    } catch {
      return RLBaselinesCommand.message(for: error)
    }
  }

  @Test func explainsBadSeedsAndFractions() {
    #expect(
      Self.message(["--data", "r.tsv", "--seeds", "1,x"]) == "--seeds must be comma-separated non-negative integers; got '1,x'")
    #expect(Self.message(["--data", "r.tsv", "--test-fraction", "1"]) == "--test-fraction must be in (0, 1); got 1.0")
    #expect(Self.message(["--data", "r.tsv", "--seeds", "1,2"]) == nil)
  }

  @Test func runsOnASmallFile() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rl-baselines-\(UUID().uuidString).tsv").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    var lines: [String] = []
    for u in 0..<30 {
      for i in 0..<25 where (u * 7 + i * 3) % 4 != 0 {
        lines.append("\(u)\t\(i)\t\(1 + (u + 2 * i) % 5)\t\(1_000 + u * 100 + i)")
      }
    }
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let command = try RLBaselinesCommand.parse(["--data", path, "--seeds", "1", "--factors", "4", "--epochs", "3"])
    try command.run()
  }
}

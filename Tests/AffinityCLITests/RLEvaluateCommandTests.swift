@testable import AffinityCLI
import AffinityCore
import AffinityFactorization
import AffinityLinalg
import AffinityReinforcement
import Foundation
import Testing

@Suite("affinity rl evaluate")
struct RLEvaluateCommandTests {
  /// Seeds train concurrently, one per core, and report exactly what a serial run reports, in
  /// the order the seeds were given.
  @Test func concurrentSeedsGiveTheFiguresOfASerialRun() throws {
    var rows: [Interaction] = []
    for u in 0..<40 {
      for i in 0..<30 where (u * 7 + i * 3) % 4 != 0 {
        rows.append(
          Interaction(
            user: UserID("\(u)"), item: ItemID("\(i)"), value: Float(1 + (u + 2 * i) % 5), timestamp: Int64(u * 100 + i)))
      }
    }
    let data = try InteractionData(rows)
    let configuration = DRRExperiment.Configuration(
      drr: DRR.Configuration(
        historyLength: 3, hidden: [16, 16], replayCapacity: 500, batchSize: 8, episodes: 12, episodeLength: 4,
        selectionInterval: 4, selectionUsers: 10),
      ratingModel: .init(embeddingSize: 8, epochs: 5, learningRate: 0.02, regularization: 0.05, usesBiases: false))
    let seeds: [UInt64] = [3, 1, 2]
    func figures(_ results: [DRRExperiment.Result]) throws -> String {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      let timeless = results.map { result -> DRRExperiment.Result in
        var copy = result
        copy.trainingSeconds = 0
        return copy
      }
      return String(decoding: try encoder.encode(timeless), as: UTF8.self)
    }
    let bar = ProgressBar(enabled: false)
    let concurrent = try RLEvaluateCommand.runSeeds(
      seeds, data: data, validation: false, configuration: configuration, bar: bar)
    let serial = try Parallel.$isSerial.withValue(true) {
      try RLEvaluateCommand.runSeeds(seeds, data: data, validation: false, configuration: configuration, bar: bar)
    }
    #expect(concurrent.map(\.seed) == seeds)
    #expect(try figures(concurrent) == figures(serial))
  }
}

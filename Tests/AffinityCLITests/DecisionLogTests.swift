@testable import AffinityCLI
import AffinityCore
import AffinityOffPolicy
import AffinityPipeline
import AffinityBandits
import AffinityStore
import ArgumentParser
import Foundation
import Testing

@Suite("ope --from-db")
struct DecisionLogTests {
  /// Items a…e; before t0 a is the most popular. Then 100 new visitors each see one item,
  /// a uniformly logged choice (round robin, propensity 1/5), and click only a.
  static func store(in directory: String) throws -> SQLiteStore {
    let store = try SQLiteStore(path: directory + "/affinity.sqlite")
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)
    let items = ["a", "b", "c", "d", "e"]
    var events: [FeedbackEvent] = []
    for (rank, item) in items.enumerated() {
      for u in 0..<(5 - rank) {
        events.append(FeedbackEvent(eventID: "past-\(item)-\(u)", user: "old\(u)", item: item, kind: .positive, value: 1, timestamp: t0.addingTimeInterval(-1_000)))
      }
    }
    var decisions: [ServedDecision] = []
    for v in 0..<100 {
      let shown = items[v % 5]
      let servedAt = t0.addingTimeInterval(Double(v))
      decisions.append(ServedDecision(
        requestID: "r\(v)", user: "v\(v)", servedAt: servedAt, policy: "uniform", modelVersion: "m0",
        slate: [ServedItem(item: shown, score: 0, propensity: 0.2)]))
      if shown == "a" {
        events.append(FeedbackEvent(eventID: "click-\(v)", user: "v\(v)", item: "a", kind: .positive, value: 1, timestamp: servedAt.addingTimeInterval(30)))
      }
    }
    // A click two days later is outside the reward window.
    events.append(FeedbackEvent(eventID: "late", user: "v1", item: "b", kind: .positive, value: 1, timestamp: t0.addingTimeInterval(2 * 86_400)))
    _ = try store.ingest(events)
    try store.log(decisions)
    return store
  }

  @Test func ipsOfACandidateThatAlwaysShowsTheClickedItemIsOne() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-ope-db-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try Self.store(in: directory)
    // The candidate: popular items for visitors it has never met, so a for everyone.
    let evaluation = DecisionLogEvaluation(
      model: "popular", parameters: [], pipeline: Pipeline(sources: [.model, .popular]), rewardWindow: 86_400, seed: 1)
    let built = try evaluation.build(store: store)
    #expect(built.decisions == 100 && built.log.rounds == 100)
    #expect(built.trainingEvents == 15, "only the feedback from before the first decision trains the candidate")
    #expect(abs(built.log.meanReward - 0.2) < 1e-12, "the logged uniform policy earns 0.2")
    let results = OffPolicyEvaluation.evaluate(
      log: built.log, policy: built.policy, model: built.model, estimators: [.ips, .snips, .dm, .dr], bootstrapSamples: 50)
    #expect(abs((results[.ips]?.value ?? 0) - 1) < 1e-9, "20 clicked rounds × weight 5 / 100 rounds")
    #expect(abs((results[.snips]?.value ?? 0) - 1) < 1e-9)
    // The reward model: a at slot 0 clicked 20 of 20 times, shrunk by 10 shows toward the slot's 0.2.
    let dm = try #require(results[.dm]?.value)
    #expect(abs(dm - (20 + 10 * 0.2) / 30) < 1e-9)
    // DR corrects DM with the weighted residuals: exactly 1 here as well.
    #expect(abs((results[.dr]?.value ?? 0) - 1) < 1e-9)
    // A candidate that buries a never shows it: its value is 0.
    let bury = DecisionLogEvaluation(
      model: "popular", parameters: [],
      pipeline: Pipeline(sources: [.model, .popular], rules: [.init(action: .bury, match: .init(items: ["a"]))]), rewardWindow: 86_400, seed: 1)
    let buried = try bury.build(store: store)
    let value = OffPolicyEvaluation.evaluate(log: buried.log, policy: buried.policy, model: nil, estimators: [.ips], bootstrapSamples: 10)[.ips]?.value
    #expect(value == 0)
  }

  @Test func theCommandSaysWhatIsMissing() throws {
    #expect(CommandTests.message(["ope"]) == "give --log FILE (an Open Bandit Dataset log) or --from-db DATABASE (the service's decisions)")
    #expect(CommandTests.message(["ope", "--log", "x.csv"]) == "--log needs --evaluation-policy (uniform or a Float64 file)")
    #expect(CommandTests.message(["ope", "--from-db", "x.sqlite", "--reward-window", "0"]) == "--reward-window must be > 0 seconds; got 0.0")
    var command = try AffinityCommand.parseAsRoot(["ope", "--from-db", "/nonexistent/affinity.sqlite"])
    #expect(throws: (any Error).self) { try command.run() }
  }
}

@Suite("simulate --pipeline")
struct PipelineSimulationTests {
  @Test func aServedPipelineFillsTheSlateSimulatorsSlatesReproducibly() throws {
    let world = try SyntheticWorld(configuration: .init(userCount: 120, itemCount: 150, ratingCount: 3_000), seed: 7)
    let environment = try SlateEnvironment(world: world, configuration: .init(poolSize: 20, slateSize: 4))
    var pipeline = Pipeline(sources: [.model, .popular])
    pipeline.exploration = .init(method: .epsilonGreedy, epsilon: 0.2, samples: 8)
    var agent = try PipelineAgent(pipeline: pipeline, model: "popular", parameters: [], world: world, environment: environment, seed: 1)
    var generator = SeededGenerator(seed: 3)
    var session = SlateSession(environment: environment, seed: 3)
    for _ in 0..<50 {
      let observation = session.observe()
      let slate = try agent.slate(for: observation, generator: &generator)
      #expect(slate.count == 4 && Set(slate).count == 4 && slate.allSatisfy { (0..<20).contains($0) })
      _ = try session.respond(slate: slate)
    }
    let run = { () throws -> Double in
      try SlateSimulation.run({ agent }, on: environment, rounds: 300, seeds: [1, 2]).meanReward
    }
    let first = try run()
    #expect(first > 0 && first < 1)
    #expect(try run() == first, "the same seeds give the same clicks")
  }
}

import AffinityCore
import AffinityOffPolicy
import AffinityTestSupport
import Foundation
import Testing

@Suite("Off-policy evaluation")
struct OffPolicyTests {
  /// Four rounds, two actions, one position; the logging policy chose uniformly.
  static func tinyLog() -> LoggedFeedback {
    LoggedFeedback(
      rounds: 4, actionCount: 2, positionCount: 1, actions: [0, 1, 0, 1], positions: [0, 0, 0, 0],
      rewards: [1, 0, 0, 1], propensities: [0.5, 0.5, 0.5, 0.5], contexts: [Double](repeating: 0, count: 4),
      contextWidth: 1, actionFeatures: [0, 0], actionFeatureWidth: 1, source: "tiny")
  }

  static let openBandit = RealData.root + "/open-bandit/random/all.csv"

  @Test func estimatorsMatchTheirDefinitionsByHand() throws {
    let log = Self.tinyLog()
    // The evaluation policy always plays action 0: w = [2, 0, 2, 0].
    let policy = RoundActionTable(rounds: 4, actions: 2, positions: 1, values: [1, 0, 1, 0, 1, 0, 1, 0])
    // q̂ = 0.25 for action 0 and 0.75 for action 1 in every round.
    let model = RoundActionTable(rounds: 4, actions: 2, positions: 1, values: [0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75])
    func value(_ e: OffPolicyEstimator) throws -> Double { try #require(e.estimate(log: log, policy: policy, model: model)) }
    let expectedIPS: Double = 2.0 / 4.0  // (2·1 + 0·0 + 2·0 + 0·1) / 4
    #expect(try value(.ips) == expectedIPS)
    #expect(try value(.snips) == 0.5, "Σ w r / Σ w = 2 / 4")
    #expect(try value(.dm) == 0.25)
    // DR = DM + mean(w (r − q̂(a_i))) = 0.25 + (2·0.75 + 0 + 2·(−0.25) + 0) / 4
    #expect(abs(try value(.dr) - 0.5) < 1e-15)
    // Switch-DR below every weight drops the correction: DM.
    #expect(try #require(OffPolicyEstimator.switchDR.estimate(log: log, policy: policy, model: model, switchThreshold: 1)) == 0.25)
    #expect(OffPolicyEstimator.dm.estimate(log: log, policy: policy, model: nil) == nil, "DM needs a reward model")
    let results = OffPolicyEvaluation.evaluate(log: log, policy: policy, model: model, truth: 0.5, bootstrapSamples: 200)
    let ips = try #require(results[.ips])
    #expect(ips.ciLow <= ips.value && ips.value <= ips.ciHigh)
    #expect(ips.relativeError == 0)
    #expect(abs(ips.effectiveSampleSize - 2) < 1e-12, "(Σw)²/Σw² = 16/8")
    let again = OffPolicyEvaluation.evaluate(log: log, policy: policy, model: model, truth: 0.5, bootstrapSamples: 200)
    #expect(again == results, "seeded bootstrap")
  }

  @Test func uniformPolicyOnAUniformLogIsTheMeanReward() {
    let log = Self.tinyLog()
    let uniform = RoundActionTable.uniform(for: log)
    #expect(OffPolicyEstimator.ips.estimate(log: log, policy: uniform, model: nil) == log.meanReward)
    #expect(OffPolicyEstimator.snips.estimate(log: log, policy: uniform, model: nil) == log.meanReward)
  }

  @Test func rewardModelLearnsWhichActionPays() throws {
    // Action 1 always pays, action 0 never: the cross-fitted model must rank them so.
    let n = 60
    let log = LoggedFeedback(
      rounds: n, actionCount: 2, positionCount: 1, actions: (0..<n).map { Int32($0 % 2) },
      positions: [Int32](repeating: 0, count: n), rewards: (0..<n).map { Double($0 % 2) },
      propensities: [Double](repeating: 0.5, count: n), contexts: [Double](repeating: 0, count: n), contextWidth: 1,
      actionFeatures: [1, 0, 0, 1], actionFeatureWidth: 2, source: "paying")
    let model = try LogisticRewardModel.crossFitted(log, configuration: .init(regularization: 0.1, folds: 3))
    for i in 0..<n { #expect(model[i, 1, 0] > 0.8 && model[i, 0, 0] < 0.2) }
  }

  @Test(RealData.required(openBandit))
  func openBanditLogReadsAndTheRandomLogValuesItself() throws {
    let directory = RealData.root + "/open-bandit/random"
    let log = try OpenBanditLog.read(log: directory + "/all.csv", itemContext: directory + "/item_context.csv")
    #expect(log.rounds == 10_000 && log.actionCount == 80 && log.positionCount == 3)
    // The uniform policy evaluated on the uniform log: every weight is 1, IPS is the click rate.
    let value = try #require(OffPolicyEstimator.ips.estimate(log: log, policy: .uniform(for: log), model: nil))
    #expect(abs(value - log.meanReward) < 1e-12)
    #expect(abs(log.meanReward - 0.0038) < 1e-12)
  }

  @Test func badLogsGetTypedErrors() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("affinity-obd-\(UUID().uuidString).csv").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ",timestamp,item_id,position,click,propensity_score\n0,t,3,1,0,0\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: DataError.self) { try OpenBanditLog.read(log: path, itemContext: nil) }
    try ",timestamp,item_id,position,click\n0,t,3,1,0\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: DataError.missingColumn(file: path, column: "propensity_score", available: ["", "timestamp", "item_id", "position", "click"])) {
      try OpenBanditLog.read(log: path, itemContext: nil)
    }
  }
}

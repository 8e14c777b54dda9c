import AffinityBandits
import AffinityCore
import AffinityNeural
import AffinityReinforcement
import Testing

@Suite("DQN and REINFORCE in the slate world")
struct SlateDQNTests {
  /// Arm 1 pays 1 with probability 0.8, arm 0 with 0.2; one step per episode (γ = 0).
  @Test func dqnLearnsATwoArmProblem() throws {
    var learner = try SlateDQN(
      SlateDQN.Configuration(
        hidden: [8], learningRate: 0.01, gamma: 0, batchSize: 16, replayCapacity: 500, targetUpdate: .hard(period: 20),
        loss: .squared, initialEpsilon: 1, finalEpsilon: 0.1, epsilonDecaySteps: 200),
      stateWidth: 1, actionCount: 2, seed: 5)
    var generator = SeededGenerator(seed: 6)
    var pulls = [0, 0]
    for _ in 0..<600 {
      let arm = learner.slate([1], count: 1, generator: &generator)[0]
      pulls[arm] += 1
      let reward: Float = generator.nextUniform() < (arm == 1 ? 0.8 : 0.2) ? 1 : 0
      learner.remember(state: [1], actions: [arm], rewards: [reward], nextState: [1], done: true)
    }
    let q = learner.values([1])
    #expect(q[1] > q[0] + 0.3, "Q = \(q)")
    #expect(abs(q[1] - 0.8) < 0.15, "Q = \(q)")
    #expect(pulls[1] > pulls[0])
  }

  @Test func dqnRejectsAReplaySmallerThanABatch() {
    #expect(throws: ConfigurationError.self) {
      try SlateDQN.Configuration(batchSize: 64, replayCapacity: 10).validate()
    }
  }

  static func smallExperiment(rounds: Int) -> RLSlateExperiment.Configuration {
    RLSlateExperiment.Configuration(
      rounds: rounds, seeds: [1], loggedRounds: 3_000,
      reinforce: TopKReinforce.Configuration(hidden: [32], learningRate: 0.005, epochs: 20),
      dqn: SlateDQN.Configuration(hidden: [32], batchSize: 16, epsilonDecaySteps: 600, updatePeriod: 2),
      checkpoints: 10)
  }

  @Test func reinforceAndDQNBeatRandomForAFixedSeed() throws {
    let environment = try smallSlateWorld()
    let outcome = try RLSlateExperiment.run(
      [.reinforce, .dqn, .random], environment: environment, configuration: Self.smallExperiment(rounds: 2_000))
    let rate = Dictionary(uniqueKeysWithValues: outcome.results.map { ($0.policy, $0.meanReward) })
    let random = try #require(rate["random"])
    #expect(try #require(rate["reinforce"]) > random + 0.02, "\(rate)")
    #expect(try #require(rate["dqn"]) > random + 0.02, "\(rate)")
  }

  @Test func experimentIsReproducibleForASeed() throws {
    let environment = try smallSlateWorld()
    var configuration = Self.smallExperiment(rounds: 300)
    configuration.loggedRounds = 500
    configuration.reinforce.epochs = 3
    let first = try RLSlateExperiment.run([.reinforce, .dqn], environment: environment, configuration: configuration)
    let second = try RLSlateExperiment.run([.reinforce, .dqn], environment: environment, configuration: configuration)
    #expect(first.results.map(\.meanReward) == second.results.map(\.meanReward))
    #expect(first.results.map(\.curve) == second.results.map(\.curve))
    #expect(first.reinforceLosses == second.reinforceLosses)
  }
}

import AffinityBandits
import AffinityCore
import AffinityTestSupport
import Foundation
import Testing

@Suite("Bandit policies and simulation")
struct BanditTests {
  /// Three arms with success rates 0.1, 0.5, 0.8; the context is a constant.
  struct Coins: BanditEnvironment {
    let name = "coins"
    let rates = [0.1, 0.5, 0.8]
    var armCount: Int { rates.count }
    let contextDimension = 1
    func draw(_ generator: inout SeededGenerator) -> (user: Int, context: [Double]) {
      (Int(generator.nextUniform() * 1_000_000), [1])
    }
    func reward(user: Int, arm: Int) -> Double {
      // The user's draw decides the coin, so every policy sees the same luck for a seed.
      Double(user % 1000) / 1000 < rates[arm] ? 1 : 0
    }
    var bestFixedArmValue: Double { 0.8 }
  }

  @Test func learningPoliciesFindTheBestArm() {
    let world = Coins()
    let random = BanditSimulation.run({ RandomPolicy(arms: 3) }, on: world, rounds: 3_000, seeds: [1, 2])
    #expect(abs(random.meanReward - (0.1 + 0.5 + 0.8) / 3) < 0.04)
    let policies: [() -> any BanditPolicy] = [
      { EpsilonGreedy(arms: 3, epsilon: 0.1) }, { UCB1(arms: 3) }, { ThompsonSampling(arms: 3) },
      { LinUCB(arms: 3, dimension: 1, alpha: 0.5) }, { KLUCB(arms: 3) }, { Softmax(arms: 3, temperature: 0.1) },
      { LinearThompsonSampling(arms: 3, dimension: 1) },
    ]
    for make in policies {
      let result = BanditSimulation.run(make, on: world, rounds: 3_000, seeds: [1, 2])
      #expect(result.meanReward > 0.7, "\(result.policy): \(result.meanReward)")
      #expect(result.ciLow <= result.meanReward && result.meanReward <= result.ciHigh)
      #expect(result.regret < random.regret)
      let again = BanditSimulation.run(make, on: world, rounds: 3_000, seeds: [1, 2])
      #expect(again.meanReward == result.meanReward, "\(result.policy) is reproducible for a seed")
    }
  }

  @Test func propensitiesAreProbabilities() {
    var generator = SeededGenerator(seed: 3)
    var greedy = EpsilonGreedy(arms: 4, epsilon: 0.2)
    greedy.update(arm: 2, context: [], reward: 1)
    let choice = greedy.decide(context: [], generator: &generator)
    // Arm 2 is the only greedy arm: 0.8 + 0.2/4; any other arm 0.2/4.
    #expect(abs(choice.propensity - (choice.arm == 2 ? 0.85 : 0.05)) < 1e-12)
    let thompson = ThompsonSampling(arms: 2, propensitySamples: 2_000)
    let draw = thompson.decide(context: [], generator: &generator)
    #expect(abs(draw.propensity - 0.5) < 0.05, "two identical priors: each arm about half the time")
    var softmax = Softmax(arms: 2, temperature: 0.5)
    softmax.update(arm: 1, context: [], reward: 1)
    let soft = softmax.decide(context: [], generator: &generator)
    let expected = soft.arm == 1 ? 1 / (1 + Foundation.exp(-2.0)) : 1 / (1 + Foundation.exp(2.0))
    #expect(abs(soft.propensity - expected) < 1e-12, "exp(mean/τ) normalised")
  }

  @Test func linUCBUsesTheContext() {
    // Arm 0 pays for context [1, 0], arm 1 for [0, 1].
    var policy = LinUCB(arms: 2, dimension: 2, alpha: 0.1)
    for _ in 0..<50 {
      policy.update(arm: 0, context: [1, 0], reward: 1)
      policy.update(arm: 1, context: [1, 0], reward: 0)
      policy.update(arm: 0, context: [0, 1], reward: 0)
      policy.update(arm: 1, context: [0, 1], reward: 1)
    }
    var generator = SeededGenerator(seed: 1)
    #expect(policy.decide(context: [1, 0], generator: &generator).arm == 0)
    #expect(policy.decide(context: [0, 1], generator: &generator).arm == 1)
  }

  @Test func chartIsAnSVGWithOneLinePerPolicy() {
    let results = [RandomPolicy(arms: 3) as any BanditPolicy, UCB1(arms: 3)].map { policy in
      BanditSimulation.run({ policy }, on: Coins(), rounds: 500, seeds: [1])
    }
    let svg = BanditSimulation.svg(results, title: "coins <test>")
    #expect(svg.hasPrefix("<svg"))
    #expect(svg.components(separatedBy: "<polyline").count == 3)
    #expect(svg.contains("coins &lt;test&gt;"))
  }
}

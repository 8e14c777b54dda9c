import AffinityBandits
import AffinityCore
import AffinityNeural
import AffinityReinforcement
import Foundation
import Testing

/// A small slate world: 120 users, 200 items, slates of 3 from the 20 most-rated.
func smallSlateWorld() throws -> SlateEnvironment {
  let world = try SyntheticWorld(
    configuration: SyntheticWorld.Configuration(userCount: 120, itemCount: 200, ratingCount: 4_000), seed: 42)
  return try SlateEnvironment(world: world, configuration: SlateEnvironment.Configuration(poolSize: 20, slateSize: 3))
}

@Suite("REINFORCE with the top-K off-policy correction")
struct ReinforceTests {
  @Test func lambdaIsKTimesOneMinusPiToTheKMinusOne() {
    #expect(TopKReinforce.lambda(probability: 0.2, slateSize: 1) == 1)
    #expect(abs(TopKReinforce.lambda(probability: 0.2, slateSize: 3) - 3 * 0.8 * 0.8) < 1e-6)
    #expect(abs(TopKReinforce.lambda(probability: 0.5, slateSize: 4) - 4 * 0.125) < 1e-6)
    #expect(TopKReinforce.lambda(probability: 1, slateSize: 5) == 0)
    // Small π: λ → K, the K-fold boost of an arm the slate would rarely show.
    #expect(abs(TopKReinforce.lambda(probability: 1e-6, slateSize: 5) - 5) < 1e-4)
  }

  @Test func importanceWeightIsCapped() {
    #expect(TopKReinforce.importanceWeight(probability: 0.2, propensity: 0.4, cap: 10) == 0.5)
    #expect(TopKReinforce.importanceWeight(probability: 0.5, propensity: 0.01, cap: 10) == 10)
    #expect(TopKReinforce.importanceWeight(probability: 0.5, propensity: 0.01, cap: 3) == 3)
    #expect(TopKReinforce.importanceWeight(probability: 0.5, propensity: 0, cap: 10) == 10)
  }

  @Test func rejectsAWeightCapBelowOne() {
    #expect(throws: ConfigurationError.self) { try TopKReinforce.Configuration(weightCap: 0.5).validate() }
    do {
      try TopKReinforce.Configuration(weightCap: 0.5).validate()
    } catch {
      #expect(error.description == "TopKReinforce.weightCap must be a finite number ≥ 1; got 0.5")
    }
  }

  /// The analytic gradient of the corrected loss (w and λ_K held constant, as the estimator
  /// does) against central differences of `−(1/N) Σ c_i log π(a_i|s_i)` with `c_i` fixed.
  @Test func correctedLossGradientMatchesFiniteDifferences() throws {
    let network = try Network.perceptron(input: 3, hidden: [4], output: 5, activation: .tanh, seed: 11)
    var generator = SeededGenerator(seed: 12)
    let x = Matrix(rows: 4, columns: 3, storage: (0..<12).map { _ in Float(2 * generator.nextUniform() - 1) })
    let actions = [0, 3, 1, 4]
    let rewards: [Float] = [1, 1, 0.5, 1]
    // One propensity small enough that its weight hits the cap.
    let propensities: [Float] = [0.3, 0.01, 0.2, 0.25]
    let cap: Float = 4
    let k = 3
    var trace = network.forward(x, training: false, generator: &generator)
    let corrected = TopKReinforce.loss(
      logits: trace.output, actions: actions, rewards: rewards, propensities: propensities, correction: .topK,
      weightCap: cap, slateSize: k)
    let analytic = network.backward(corrected.gradient, trace: trace).gradients

    // The constants c_i = w_i λ_i R_i at these parameters.
    let pi = trace.output.storage.chunks(of: 5).map { row -> [Float] in
      let top = row.max() ?? 0
      let e = row.map { Foundation.exp($0 - top) }
      let s = e.reduce(0, +)
      return e.map { $0 / s }
    }
    let c = (0..<4).map { r in
      rewards[r] * TopKReinforce.importanceWeight(probability: pi[r][actions[r]], propensity: propensities[r], cap: cap)
        * TopKReinforce.lambda(probability: pi[r][actions[r]], slateSize: k)
    }
    #expect(c[1] == cap * TopKReinforce.lambda(probability: pi[1][3], slateSize: k))
    func fixedLoss(_ n: Network) -> Float {
      TopKReinforce.loss(
        logits: n.forward(x), actions: actions, rewards: c, propensities: propensities, correction: .none,
        weightCap: cap, slateSize: k
      ).value
    }
    #expect(abs(fixedLoss(network) - corrected.value) < 1e-5)
    let h: Float = 1e-2
    var checked = 0
    for s in network.parameters.indices {
      for i in network.parameters[s].indices {
        var plus = network, minus = network
        plus.parameters[s][i] += h
        minus.parameters[s][i] -= h
        let numeric = (fixedLoss(plus) - fixedLoss(minus)) / (2 * h)
        let exact = analytic.tensors[s][i]
        #expect(abs(numeric - exact) < 2e-3 + 2e-2 * abs(exact), "parameter \(s)[\(i)]: \(numeric) vs \(exact)")
        checked += 1
      }
    }
    #expect(checked == network.parameterCount)
    trace = network.forward(x, training: false, generator: &generator)
    // Without correction and with λ = 1 the loss is the reward-weighted cross-entropy.
    let plain = TopKReinforce.loss(
      logits: trace.output, actions: actions, rewards: [1, 1, 1, 1], propensities: propensities, correction: .none,
      weightCap: cap, slateSize: k)
    #expect(abs(plain.value - Loss.crossEntropy(logits: trace.output, labels: actions).value) < 1e-5)
  }

  @Test func historyStateHoldsContextThenClickAndShowMemories() {
    var history = SlateUserHistory(users: 2, arms: 3, contextWidth: 2, clickMemory: 0.5, showMemory: 0.25)
    let observation = SlateObservation(user: 1, context: [0.5, 1])
    #expect(history.state(observation) == [0.5, 1, 0, 0, 0, 0, 0, 0])
    history.record(SlateFeedback(user: 1, slate: [2, 0], clickedPosition: 0, clickProbability: 0.3))
    history.record(SlateFeedback(user: 1, slate: [1], clickedPosition: nil, clickProbability: 0.2))
    // clicks: arm 2 once, then ×0.5; shows: arms 2, 0 once (×0.25), arm 1 once.
    #expect(history.state(observation) == [0.5, 1, 0, 0, 0.5, 0.25, 1, 0.25])
    #expect(history.state(SlateObservation(user: 0, context: [0, 1])) == [0, 1, 0, 0, 0, 0, 0, 0])
    let contextOnly = SlateUserHistory(users: 2, arms: 3, contextWidth: 2, usesMemories: false)
    #expect(contextOnly.stateWidth == 2)
    #expect(contextOnly.state(observation) == [0.5, 1])
  }

  @Test func loggingPolicyPropensitiesSumToOneAndStayPositive() throws {
    let policy = try PopularityLoggingPolicy(arms: 20, temperature: 1, uniformShare: 0.2)
    #expect(abs(policy.propensities.reduce(0, +) - 1) < 1e-5)
    #expect(policy.propensities.allSatisfy { $0 >= 0.2 / 20 })
    #expect(policy.propensities[0] > policy.propensities[19])
    #expect(throws: ConfigurationError.self) { try PopularityLoggingPolicy(arms: 20, uniformShare: 0) }
  }
}

extension Array {
  func chunks(of size: Int) -> [ArraySlice<Element>] {
    stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
  }
}

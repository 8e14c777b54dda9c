import AffinityCore
import AffinityFactorization
import AffinityNeural
@testable import AffinityReinforcement
import Foundation
import Testing

/// A small rating world for DRR: 40 users, 30 items; everyone loves items 0–5 and dislikes
/// 24–29, and users in the even half love items 6–11 while the odd half dislikes them.
func tasteWorld() throws -> InteractionData {
  var rows: [Interaction] = []
  var generator = SeededGenerator(seed: 5)
  for u in 0..<40 {
    var t: Int64 = 0
    for i in 0..<30 where generator.nextUniform() < 0.5 {
      let rating: Float
      switch i {
      case 0..<6: rating = 5
      case 6..<12: rating = u % 2 == 0 ? 5 : 1
      case 24..<30: rating = 1
      default: rating = 3
      }
      t += 1
      rows.append(Interaction(user: UserID("u\(u)"), item: ItemID("i\(i)"), value: rating, timestamp: t))
    }
  }
  return try InteractionData(rows, source: "taste world")
}

/// 32 transitions of the one-step problem `r = 1 − (a − x₀/2)²` with random states `[x₀, 0.3]`
/// and random actions.
func oneStepBatch(_ generator: inout SeededGenerator, done: Bool = true) -> DDPG.Batch {
  var states = Matrix(rows: 32, columns: 2)
  var actions = Matrix(rows: 32, columns: 1)
  var rewards: [Float] = []
  for r in 0..<32 {
    let x = Float(2 * generator.nextUniform() - 1)
    states[r, 0] = x
    states[r, 1] = 0.3
    let a = Float(2 * generator.nextUniform() - 1)
    actions[r, 0] = a
    rewards.append(1 - (a - x / 2) * (a - x / 2))
  }
  return DDPG.Batch(
    states: states, actions: actions, rewards: rewards, nextStates: states,
    done: [Bool](repeating: done, count: 32), weights: [Float](repeating: 1, count: 32))
}

/// The actor's mean `|a − x₀/2|` over 21 states `x₀ ∈ [−1, 1]`.
func oneStepError(_ agent: DDPG) -> Float {
  let states = Matrix(rows: 21, columns: 2, storage: (0...20).flatMap { [Float($0) / 10 - 1, 0.3] })
  let actions = agent.act(states)
  return (0..<21).map { abs(actions.storage[$0] - states[$0, 0] / 2) }.reduce(0, +) / 21
}

@Suite("DDPG and DRR")
struct DDPGTests {
  /// A one-step problem whose best action is known: `r = 1 − (a − x₀/2)²`. DDPG's actor must
  /// move toward `x₀/2`.
  @Test func ddpgLearnsAContinuousAction() throws {
    var agent = try DDPG(
      DDPG.Configuration(
        stateWidth: 2, actionWidth: 1, hidden: [32, 32], actorLearningRate: 0.003, criticLearningRate: 0.01, tau: 0.05),
      seed: 3)
    var generator = SeededGenerator(seed: 4)
    let before = oneStepError(agent)
    for _ in 0..<600 { _ = agent.update(oneStepBatch(&generator)) }
    let after = oneStepError(agent)
    #expect(before > 0.2 && after < 0.1, "mean |a − x/2|: \(before) → \(after)")
    #expect(throws: ConfigurationError.self) {
      try DDPG(DDPG.Configuration(stateWidth: 2, actionWidth: 1, tau: 0), seed: 1)
    }
  }

  /// TD3 learns the same one-step problem; its actor moves only on every second update, and the
  /// bootstrap target is the smaller of the two target critics.
  @Test func td3DelaysTheActorAndBootstrapsTheSmallerCritic() throws {
    let configuration = DDPG.Configuration(
      stateWidth: 2, actionWidth: 1, hidden: [32, 32], actorLearningRate: 0.003, criticLearningRate: 0.01, tau: 0.05,
      gamma: 0.9, twinCritics: true, policyDelay: 2, targetNoise: 0.1, targetNoiseClip: 0.2)
    var agent = try DDPG(configuration, seed: 3)
    var generator = SeededGenerator(seed: 4)
    func batch(done: Bool) -> DDPG.Batch {
      var b = oneStepBatch(&generator, done: done)
      b.nextActions = b.actions
      return b
    }
    // Clipped double Q: y = r + γ min(Q'₁, Q'₂) (the targets start equal to the critics).
    let probe = batch(done: false)
    let input = Matrix.concatenating(probe.nextStates, probe.actions)
    let first = agent.targetCritic.forward(input), second = try #require(agent.targetCritic2).forward(input)
    #expect(first != second, "the two critics start from different seeds")
    let current = agent.value(probe.states, probe.actions)
    let initialActor = agent.actor
    let step = agent.update(probe)
    for r in 0..<32 {
      let y = probe.rewards[r] + 0.9 * min(first.storage[r], second.storage[r])
      #expect(abs(step.tdErrors[r] - abs(current.storage[r] - y)) < 1e-4)
    }
    #expect(agent.actor == initialActor, "no actor step on the first of two updates")
    _ = agent.update(batch(done: true))
    #expect(agent.actor != initialActor)
    for _ in 0..<1_200 { _ = agent.update(batch(done: true)) }
    let error = oneStepError(agent)
    #expect(error < 0.1, "mean |a − x/2| after TD3: \(error)")
    #expect(throws: ConfigurationError.self) {
      try DDPG(DDPG.Configuration(stateWidth: 2, actionWidth: 1, policyDelay: 0), seed: 1)
    }
  }

  /// DRR trained with TD3 also learns, and a configuration written before TD3 existed (no TD3
  /// keys) still decodes, with DDPG's settings.
  @Test func drrWithTD3LearnsAndOldConfigurationsDecode() throws {
    let world = try simulator()
    let configuration = smallConfiguration().td3(targetNoise: 0.02)
    #expect(configuration.twinCritics && configuration.policyDelay == 2)
    let (model, _) = try DRR.fit(simulator: world, configuration: configuration, seed: 7)
    let (chosen, average) = try greedyAndAverageReward(model, world)
    #expect(chosen > average + 0.3, "TD3: greedy reward \(chosen), average item \(average)")
    var object = try #require(
      try JSONSerialization.jsonObject(with: JSONEncoder().encode(configuration)) as? [String: Any])
    for key in ["twinCritics", "policyDelay", "targetNoise", "targetNoiseClip"] { object[key] = nil }
    let old = try JSONDecoder().decode(DRR.Configuration.self, from: JSONSerialization.data(withJSONObject: object))
    #expect(!old.twinCritics && old.policyDelay == 1 && old.targetNoise == 0)
    #expect(old.historyLength == 3 && old.hidden == [32, 32])
  }

  /// Mean reward of the greedy top item per eligible user, and the mean over all unseen items.
  func greedyAndAverageReward(_ model: DRR, _ world: RatingRewardSimulator) throws -> (greedy: Float, average: Float) {
    var chosen: Float = 0, average: Float = 0
    for user in world.eligibleUsers {
      let history = world.positives.latest(3, of: user)
      let scores = model.scores(user: user, history: history, candidates: Array(0..<world.itemCount))
      let unseen = (0..<world.itemCount).filter { !history.contains($0) }
      let best = unseen.max { scores[$0] < scores[$1] } ?? 0
      chosen += try world.reward(user: user, item: best)
      average += try unseen.map { try world.reward(user: user, item: $0) }.reduce(0, +) / Float(unseen.count)
    }
    let n = Float(world.eligibleUsers.count)
    return (chosen / n, average / n)
  }

  func smallConfiguration(_ module: DRR.StateModule = .average, episodes: Int = 150) -> DRR.Configuration {
    DRR.Configuration(
      stateModule: module, historyLength: 3, hidden: [32, 32], actorLearningRate: 0.001, criticLearningRate: 0.003,
      tau: 0.01, replayCapacity: 2_000, batchSize: 16, episodes: episodes, episodeLength: 5)
  }

  func simulator() throws -> RatingRewardSimulator {
    let data = try tasteWorld()
    let model = try BiasedMatrixFactorization.fit(
      data, configuration: .init(embeddingSize: 8, epochs: 40, learningRate: 0.02, regularization: 0.05),
      options: FitOptions(seed: 1))
    return try RatingRewardSimulator(
      training: data, model: model, configuration: .init(historyLength: 3, episodeLength: 5))
  }

  /// Trained DRR recommends better than chance in its simulator, and training is reproducible.
  @Test(arguments: DRR.StateModule.allCases)
  func drrLearnsAndIsReproducible(module: DRR.StateModule) throws {
    let world = try simulator()
    let (model, log) = try DRR.fit(simulator: world, configuration: smallConfiguration(module), seed: 7)
    #expect(log.count == 150)
    let (chosen, average) = try greedyAndAverageReward(model, world)
    #expect(chosen > average + 0.3, "\(module): greedy reward \(chosen), average item \(average)")
    let (again, _) = try DRR.fit(simulator: world, configuration: smallConfiguration(module), seed: 7)
    #expect(again.agent.actor == model.agent.actor)
    #expect(again.poolingWeights == model.poolingWeights)
  }

  @Test func drrBundlesRoundTrip() throws {
    let world = try simulator()
    let (model, _) = try DRR.fit(simulator: world, configuration: smallConfiguration(episodes: 20), seed: 1)
    let bytes = try model.bundle().encoded()
    let read = try DRR(bundle: try NeuralBundle.decode(bytes, file: "drr.affinity"), file: "drr.affinity")
    let history = world.positives.latest(3, of: 0)
    #expect(
      read.scores(user: 0, history: history, candidates: [0, 1, 2, 99])
        == model.scores(user: 0, history: history, candidates: [0, 1, 2, 99]))
    // An item outside the table ranks last rather than crashing.
    #expect(read.scores(user: 0, history: history, candidates: [99]) == [-.infinity])
    let other = NeuralBundle(kind: "something-else", configuration: "{}", networks: [:])
    #expect(throws: BundleError.self) { try DRR(bundle: other, file: "x.affinity") }
  }

  @Test func drrRejectsBadConfiguration() throws {
    var c = smallConfiguration()
    c.replayCapacity = 4
    #expect(throws: ConfigurationError.self) { try c.validate() }
    c = smallConfiguration()
    c.epsilon = 2
    #expect(throws: ConfigurationError.self) { try c.validate() }
  }
}

/// The shape of DRR's problem without the simulator: a user vector `u`, items `e_j`, reward
/// `u · e_j` for the item the action picks. The best action points along `u`.
@Suite("DDPG on a dot-product reward")
struct DotProductRewardTests {
  func cosineAfterTraining(interactions: Bool, normalized: Bool, updates: Int) throws -> Float {
    let d = 8
    var generator = SeededGenerator(seed: 11)
    func unit(_ v: [Float]) -> [Float] {
      let n = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-6)
      return v.map { $0 / n }
    }
    let users = (0..<40).map { _ in unit((0..<d).map { _ in Float(generator.nextGaussian()) }) }
    let items = (0..<120).map { _ in unit((0..<d).map { _ in Float(generator.nextGaussian()) }) }
    var agent = try DDPG(
      DDPG.Configuration(
        stateWidth: d, actionWidth: d, hidden: [32, 32], actorLearningRate: 0.002, criticLearningRate: 0.003,
        tau: 0.01, normalizesActions: normalized, actionInteractions: interactions),
      seed: 2)
    for _ in 0..<updates {
      var states = Matrix(rows: 32, columns: d)
      var actions = Matrix(rows: 32, columns: d)
      var rewards: [Float] = []
      for r in 0..<32 {
        let u = users[generator.nextInt(below: users.count)]
        let j = generator.nextInt(below: items.count)
        for c in 0..<d {
          states[r, c] = u[c]
          actions[r, c] = items[j][c]
        }
        rewards.append(zip(u, items[j]).reduce(0) { $0 + $1.0 * $1.1 })
      }
      _ = agent.update(
        DDPG.Batch(
          states: states, actions: actions, rewards: rewards, nextStates: states,
          done: [Bool](repeating: true, count: 32), weights: [Float](repeating: 1, count: 32)))
    }
    let actions = agent.act(Matrix(stacking: users))
    var total: Float = 0
    for (r, u) in users.enumerated() {
      let a = unit(Array(actions.row(r)))
      total += zip(a, u).reduce(0) { $0 + $1.0 * $1.1 }
    }
    return total / Float(users.count)
  }

  @Test func theActorTurnsTowardTheUser() throws {
    let cosine = try cosineAfterTraining(interactions: true, normalized: true, updates: 800)
    #expect(cosine > 0.8, "mean cosine(action, user) \(cosine)")
  }
}

/// Protocol 3's contextual rival recovers a linear reward over `u ⊙ e_j` and then ranks items
/// by it.
@Suite("LinUCB over interaction contexts")
struct InteractionLinUCBTests {
  @Test func learnsTheRewardWeightsOnline() throws {
    var generator = SeededGenerator(seed: 11)
    let d = 4, userCount = 30, itemCount = 60
    let users = Matrix(rows: userCount, columns: d, storage: (0..<(userCount * d)).map { _ in Float(generator.nextGaussian()) })
    let items = Matrix(rows: itemCount, columns: d, storage: (0..<(itemCount * d)).map { _ in Float(generator.nextGaussian()) })
    let truth: [Float] = [1, -0.5, 0.25, 2]
    func reward(_ u: Int, _ j: Int) -> Float {
      (0..<d).reduce(0) { $0 + truth[$1] * users[u, $1] * items[j, $1] }
    }
    let bandit = InteractionLinUCB(users: users, items: items, alpha: 0.5, regularization: 1)
    for round in 0..<400 {
      let u = round % userCount
      let picks = DRR.topItems(3, of: bandit.scores(user: u), excluding: [])
      bandit.learn(user: u, items: picks, rewards: picks.map { reward(u, $0) + 0.05 * Float(generator.nextGaussian()) })
    }
    for k in 0..<d { #expect(abs(bandit.theta[k] - truth[k]) < 0.1, "θ \(bandit.theta) against \(truth)") }
    // With exploration off, its top item is the best item for most users.
    let greedy = InteractionLinUCB(users: users, items: items, alpha: 0, regularization: 1)
    for u in 0..<userCount { greedy.learn(user: u, items: Array(0..<itemCount), rewards: (0..<itemCount).map { reward(u, $0) }) }
    let hits = (0..<userCount).filter { u in
      let best = (0..<itemCount).max { reward(u, $0) < reward(u, $1) }
      return DRR.topItems(1, of: greedy.scores(user: u), excluding: []).first == best
    }.count
    #expect(hits == userCount)
    bandit.reset()
    #expect(bandit.theta == [0, 0, 0, 0])
  }
}

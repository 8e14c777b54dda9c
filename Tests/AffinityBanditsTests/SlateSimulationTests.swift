import AffinityBandits
import AffinityCore
import Foundation
import Testing

@Suite("Slate user simulator")
struct SlateSimulationTests {
  /// A small world: 100 users, 300 items, 5,000 ratings.
  func world() throws -> SyntheticWorld {
    try SyntheticWorld(configuration: .init(userCount: 100, itemCount: 300, ratingCount: 5_000), seed: 7)
  }

  func environment(_ configuration: SlateEnvironment.Configuration = .init()) throws -> SlateEnvironment {
    try SlateEnvironment(world: world(), configuration: configuration)
  }

  @Test func theContextIsTheUsersFeaturesAndAConstant() throws {
    let simulator = try environment()
    #expect(simulator.armCount == 50 && simulator.slateSize == 5 && simulator.userCount == 100)
    // Gender, age bucket and occupation are one-hot: three ones, then the constant.
    for context in simulator.contexts {
      #expect(context.count == simulator.contextDimension)
      #expect(context.last == 1)
      #expect(context.reduce(0, +) == 4)
    }
    #expect(Set(simulator.poolItems).count == 50)
    #expect(simulator.armFeatures.allSatisfy { $0.count == simulator.armFeatures[0].count && $0.last == 1 })
  }

  @Test func aSeedReplaysTheSameRun() throws {
    let simulator = try environment()
    func play(_ seed: UInt64) throws -> [SlateFeedback] {
      var session = SlateSession(environment: simulator, seed: seed)
      var log: [SlateFeedback] = []
      for t in 0..<300 {
        _ = session.observe()
        log.append(try session.respond(slate: (0..<5).map { (t + 7 * $0) % 50 }))
      }
      return log
    }
    #expect(try play(3) == play(3))
    #expect(try play(3) != play(4))
    var session = SlateSession(environment: simulator, seed: 3)
    let first = session.observe()
    _ = try session.respond(slate: [0, 1, 2, 3, 4])
    session.reset()
    #expect(session.observe() == first, "reset starts the same user sequence again")

    let make = { ThompsonSampling(arms: 50) as any BanditPolicy }
    let once = try SlateSimulation.run(make, on: simulator, rounds: 500, seeds: [1, 2])
    let twice = try SlateSimulation.run(make, on: simulator, rounds: 500, seeds: [1, 2])
    #expect(once.meanReward == twice.meanReward && once.curve == twice.curve && once.bestFixedArm == twice.bestFixedArm)
    #expect(once.ciLow <= once.meanReward && once.meanReward <= once.ciHigh)
    #expect(abs(once.regret - 500 * (once.bestFixedArm - once.meanReward)) < 1e-9)
  }

  @Test func clickProbabilitiesAndNoClickSumToOne() throws {
    let simulator = try environment()
    var session = SlateSession(environment: simulator, seed: 5)
    var generator = SeededGenerator(seed: 9)
    for _ in 0..<200 {
      _ = session.observe()
      var arms = Array(0..<50)
      generator.shuffle(&arms)
      let slate = Array(arms.prefix(1 + generator.nextInt(below: 5)))
      let p = try session.clickProbabilities(slate: slate)
      #expect(p.count == slate.count + 1)
      #expect(p.allSatisfy { $0 > 0 && $0 < 1 })
      #expect(abs(p.reduce(0, +) - 1) < 1e-12)
      let feedback = try session.respond(slate: slate)
      #expect(abs(feedback.clickProbability - (1 - p[slate.count])) < 1e-12)
    }
  }

  @Test func theSameItemIsClickedMoreAtTheTop() throws {
    var configuration = SlateEnvironment.Configuration().withoutDynamics
    configuration.positionBiasExponent = 1
    let simulator = try environment(configuration)
    let top = [0, 1, 2, 3, 4]
    let bottom = [4, 1, 2, 3, 0]
    var atTop = SlateSession(environment: simulator, seed: 11)
    var atBottom = SlateSession(environment: simulator, seed: 11)
    var clicks = (top: 0, bottom: 0)
    for _ in 0..<2_000 {
      _ = atTop.observe()
      _ = atBottom.observe()
      let p = try atTop.clickProbabilities(slate: top)[0]
      let q = try atBottom.clickProbabilities(slate: bottom)[4]
      #expect(p > q)
      if try atTop.respond(slate: top).clickedArm == 0 { clicks.top += 1 }
      if try atBottom.respond(slate: bottom).clickedArm == 0 { clicks.bottom += 1 }
    }
    #expect(clicks.top > clicks.bottom + 50, "\(clicks)")

    // Without position bias the logit does not care about the order.
    let flat = try environment(SlateEnvironment.Configuration().withoutDynamics)
    var session = SlateSession(environment: flat, seed: 11)
    _ = session.observe()
    #expect(abs(try session.clickProbabilities(slate: top)[0] - session.clickProbabilities(slate: bottom)[4]) < 1e-12)
  }

  /// The click probability of `slate` at each of `visits` visits of every user.
  func clickRates(_ simulator: SlateEnvironment, slate: [Int], visits: Int) throws -> [Double] {
    var session = SlateSession(environment: simulator, seed: 2)
    var rates = [Double](repeating: 0, count: visits)
    for user in 0..<simulator.userCount {
      for visit in 0..<visits {
        _ = try session.observe(user: user)
        rates[visit] += try session.respond(slate: slate).clickProbability / Double(simulator.userCount)
      }
    }
    return rates
  }

  @Test func fatigueLowersTheClickRateOfARepeatedSlate() throws {
    let slate = [0, 1, 2, 3, 4]
    // Stronger than the defaults, so that ten visits show it clearly.
    let tired = SlateEnvironment.Configuration(
      driftStandardDeviation: 0, fatiguePerShow: 0.3, fatiguePerClick: 1, fatigueDecay: 0.7)
    let rates = try clickRates(try environment(tired), slate: slate, visits: 10)
    #expect(rates[9] < rates[0] - 0.1, "\(rates)")
    #expect(rates[4] < rates[0] && rates[9] < rates[4], "fatigue builds up for a repeated slate")

    let fresh = try clickRates(try environment(SlateEnvironment.Configuration().withoutDynamics), slate: slate, visits: 10)
    #expect(fresh.allSatisfy { $0 == fresh[0] }, "\(fresh)")

    // The clicks follow: the first five of twenty visits against the last five, on five seeds
    // (about 480 against 320 clicks expected).
    let simulator = try environment(tired)
    var clicks = (early: 0.0, late: 0.0)
    for seed: UInt64 in 1...5 {
      var session = SlateSession(environment: simulator, seed: seed)
      for user in 0..<simulator.userCount {
        for visit in 0..<20 {
          _ = try session.observe(user: user)
          let reward = try session.respond(slate: slate).reward
          if visit < 5 { clicks.early += reward } else if visit >= 15 { clicks.late += reward }
        }
      }
    }
    #expect(clicks.late < clicks.early - 80, "\(clicks)")
  }

  @Test func fatigueDecaysOverTheUsersLaterVisits() throws {
    var configuration = SlateEnvironment.Configuration().withoutDynamics
    configuration.fatiguePerShow = 0.5
    configuration.fatigueDecay = 0.5
    var session = SlateSession(environment: try environment(configuration), seed: 1)
    _ = try session.observe(user: 3)
    _ = try session.respond(slate: [7])
    #expect(session.fatigue(user: 3, arm: 7) == 0.5)
    _ = try session.observe(user: 4)
    _ = try session.respond(slate: [8])
    #expect(session.fatigue(user: 3, arm: 7) == 0.5, "another user's visit leaves user 3 alone")
    _ = try session.observe(user: 3)
    #expect(session.fatigue(user: 3, arm: 7) == 0.25)
  }

  @Test func tastesDriftOnlyWhenDriftIsOn() throws {
    let world = try world()
    for sigma in [0.0, 0.05] {
      var configuration = SlateEnvironment.Configuration()
      configuration.driftStandardDeviation = sigma
      var session = SlateSession(environment: try SlateEnvironment(world: world, configuration: configuration), seed: 4)
      var visited = Set<Int>()
      for _ in 0..<40 {
        visited.insert(session.observe().user)
        _ = try session.respond(slate: [0, 1, 2, 3, 4])
      }
      for user in 0..<world.users.count {
        let moved = session.taste(of: user) != world.userTastes[user]
        #expect(moved == (sigma > 0 && visited.contains(user)), "σ = \(sigma), user \(user)")
      }
    }
  }

  @Test func learningPoliciesBeatRandomAndTheBaselineIsAFixedSlate() throws {
    let simulator = try environment(.init(poolSize: 20, slateSize: 3))
    let seeds: [UInt64] = [1, 2]
    let baseline = try SlateSimulation.bestFixedSlate(on: simulator, rounds: 4_000, seeds: seeds)
    #expect(baseline.arms.count == 3 && Set(baseline.arms).count == 3)
    let random = try SlateSimulation.run(
      { RandomPolicy(arms: 20) }, on: simulator, rounds: 4_000, seeds: seeds, baseline: baseline)
    #expect(baseline.value > random.meanReward, "a good fixed slate beats random slates")
    #expect(random.bestFixedArm == baseline.value)
    let d = simulator.contextDimension
    for make in [{ ThompsonSampling(arms: 20) as any BanditPolicy }, { LinUCB(arms: 20, dimension: d) }] {
      for rule in SlateFeedbackRule.allCases {
        let result = try SlateSimulation.run(make, on: simulator, rounds: 4_000, seeds: seeds, feedback: rule, baseline: baseline)
        #expect(result.meanReward > random.meanReward + 0.025, "\(result.policy), \(rule): \(result.meanReward) vs \(random.meanReward)")
        #expect(result.regret < random.regret)
      }
    }
  }

  @Test func cascadeFeedbackCountsTheArmsDownToTheClick() {
    let clicked = SlateFeedback(user: 0, slate: [5, 6, 7, 8], clickedPosition: 1, clickProbability: 0.5)
    #expect(clicked.events(context: [1], rule: .cascade).map(\.arm) == [5, 6])
    #expect(clicked.events(context: [1], rule: .cascade).map(\.reward) == [0, 1])
    #expect(clicked.events(context: [1], rule: .allShown).map(\.reward) == [0, 1, 0, 0])
    let none = SlateFeedback(user: 0, slate: [5, 6], clickedPosition: nil, clickProbability: 0.5)
    #expect(none.events(context: [1], rule: .cascade).map(\.reward) == [0, 0])
    #expect(none.reward == 0 && clicked.reward == 1 && clicked.clickedArm == 6)
  }

  @Test func badConfigurationsNameTheParameter() throws {
    let world = try world()
    let cases: [(SlateEnvironment.Configuration, String)] = [
      (.init(poolSize: 5, slateSize: 6), "SlateEnvironment.slateSize must be ≤ poolSize (5); got 6"),
      (.init(poolSize: 400), "SlateEnvironment.poolSize must be ≤ the world's item count (300); got 400"),
      (.init(slateSize: 0), "SlateEnvironment.slateSize must be ≥ 1; got 0"),
      (.init(fatigueDecay: 1.5), "SlateEnvironment.fatigueDecay must be in [0, 1]; got 1.5"),
      (.init(driftStandardDeviation: -0.1), "SlateEnvironment.driftStandardDeviation must be a finite number ≥ 0; got -0.1"),
      (.init(noClickUtility: .nan), "SlateEnvironment.noClickUtility must be a finite number; got nan"),
    ]
    for (configuration, message) in cases {
      let error = #expect(throws: SlateSimulationError.self) {
        try SlateEnvironment(world: world, configuration: configuration)
      }
      #expect(error?.description == message)
    }
    let simulator = try SlateEnvironment(world: world)
    #expect(throws: SlateSimulationError.invalidConfiguration(
      ConfigurationError(model: "SlateSimulation", parameter: "rounds", value: 0, requirement: "≥ 1"))) {
      try SlateSimulation.run({ RandomPolicy(arms: 50) }, on: simulator, rounds: 0, seeds: [1])
    }
  }

  @Test func badSlatesAndPoliciesGetTypedErrors() throws {
    let simulator = try environment()
    var session = SlateSession(environment: simulator, seed: 1)
    #expect(throws: SlateSimulationError.noOpenRound) { try session.respond(slate: [0]) }
    let observation = session.observe()
    #expect(session.observe() == observation, "an open round is observed again, not skipped")
    #expect(throws: SlateSimulationError.repeatedArm(arm: 2)) { try session.respond(slate: [2, 2]) }
    #expect(throws: SlateSimulationError.unknownArm(arm: 50, poolSize: 50)) { try session.respond(slate: [50]) }
    #expect(throws: SlateSimulationError.slateLength(received: 6, slateSize: 5)) {
      try session.respond(slate: [0, 1, 2, 3, 4, 5])
    }
    #expect(throws: SlateSimulationError.slateLength(received: 0, slateSize: 5)) { try session.respond(slate: []) }
    let other = (observation.user + 1) % simulator.userCount
    #expect(throws: SlateSimulationError.roundInProgress(user: observation.user)) { try session.observe(user: other) }
    #expect(throws: SlateSimulationError.unknownUser(user: 100, userCount: 100)) { try session.observe(user: 100) }
    let error = #expect(throws: SlateSimulationError.self) {
      try SlateSimulation.run({ UCB1(arms: 20) }, on: simulator, rounds: 10, seeds: [1])
    }
    #expect(error?.description == "ucb1 has 20 arms but the pool holds 50 items; build the policy with 50 arms")
    #expect(throws: SlateSimulationError.policy(.contextDimension(policy: "linucb", expected: 3, received: simulator.contextDimension))) {
      try SlateSimulation.run({ LinUCB(arms: 50, dimension: 3) }, on: simulator, rounds: 10, seeds: [1])
    }
  }
}

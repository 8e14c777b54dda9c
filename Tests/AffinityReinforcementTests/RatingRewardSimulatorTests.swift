import AffinityCore
import AffinityFactorization
import AffinityReinforcement
import Testing

@Suite("RatingRewardSimulator")
struct RatingRewardSimulatorTests {
  /// u1 rates seven items over time (positives i1, i2, i4, i5, i6), u2 has two positives,
  /// u3 three; nobody rated i8 but u2 and u3.
  static func training() throws -> InteractionData {
    let rows: [(String, String, Float)] = [
      ("u1", "i1", 5), ("u1", "i2", 4), ("u1", "i3", 2), ("u1", "i4", 4), ("u1", "i5", 5), ("u1", "i6", 4),
      ("u1", "i7", 1), ("u2", "i1", 4), ("u2", "i2", 5), ("u2", "i8", 3), ("u3", "i3", 5), ("u3", "i7", 4),
      ("u3", "i8", 4), ("u3", "i1", 2),
    ]
    return try InteractionData(
      rows.enumerated().map { n, row in
        // u1's rows arrive out of time order: i6 is rated before i5.
        let time: Int64 = row.1 == "i6" && row.0 == "u1" ? 3 : Int64(n)
        return Interaction(user: UserID(row.0), item: ItemID(row.1), value: row.2, timestamp: time)
      }, source: "simulator fixture")
  }

  static let small = BiasedMatrixFactorization.Configuration(embeddingSize: 3, epochs: 5, usesBiases: false)

  static func simulator(historyLength: Int = 2) throws -> RatingRewardSimulator {
    try RatingRewardSimulator.fit(
      training: training(), modelConfiguration: small, configuration: .init(historyLength: historyLength))
  }

  func index(_ id: String, in sim: RatingRewardSimulator) throws -> Int {
    try #require(sim.items.index(of: ItemID(id)))
  }

  @Test func rewardIsTheObservedRatingWhenKnown() throws {
    let sim = try Self.simulator()
    let u1 = try #require(sim.users.index(of: "u1"))
    #expect(try sim.reward(user: u1, item: index("i1", in: sim)) == 1)
    #expect(try sim.reward(user: u1, item: index("i3", in: sim)) == -0.5)
    #expect(try sim.reward(user: u1, item: index("i7", in: sim)) == -1)
  }

  @Test func rewardIsTheClippedPredictionOtherwise() throws {
    let data = try Self.training()
    let model = try BiasedMatrixFactorization.fit(data, configuration: Self.small, options: FitOptions(seed: 42))
    let sim = try RatingRewardSimulator(training: data, model: model)
    let u1 = try #require(sim.users.index(of: "u1"))
    let i8 = try index("i8", in: sim)
    let predicted = min(max(model.estimate(userIndex: u1, itemIndex: i8).value, 1), 5)
    #expect(try sim.rating(user: u1, item: i8) == predicted)
    #expect(try sim.reward(user: u1, item: i8) == (predicted - 3) / 2)
    // PMF after five small epochs predicts near 0, below the scale: clipped to 1, reward −1.
    #expect(try sim.reward(user: u1, item: i8) == -1)
    #expect(try sim.rewards(user: u1).count == sim.itemCount)
  }

  @Test func positivesAreInTimeOrderAndShortUsersAreSkipped() throws {
    let sim = try Self.simulator(historyLength: 3)
    let u1 = try #require(sim.users.index(of: "u1"))
    let names = sim.positives.items(of: u1).map { sim.items[$0].rawValue }
    #expect(names == ["i1", "i2", "i4", "i6", "i5"])
    // u1 has 5 positives, u3 has 3 (i3, i7, i8), u2 has 2.
    #expect(sim.eligibleUsers.map { sim.users[$0].rawValue } == ["u1", "u3"])
    #expect(sim.skippedUserCount == 1)
    var episode = sim
    let u2 = try #require(sim.users.index(of: "u2"))
    #expect(throws: SimulatorError.tooFewPositives(user: "u2", positives: 2, needed: 3)) {
      try episode.reset(user: u2)
    }
  }

  @Test func anEpisodeMovesTheStateOnPositiveRewards() throws {
    var sim = try Self.simulator()
    let u1 = try #require(sim.users.index(of: "u1"))
    let state = try sim.reset(user: u1)
    #expect(state.map { sim.items[$0].rawValue } == ["i6", "i5"])
    let step = try sim.step(items: [index("i3", in: sim), index("i1", in: sim)])
    #expect(step.rewards == [-0.5, 1])
    #expect(step.history.map { sim.items[$0].rawValue } == ["i5", "i1"])
    #expect(!step.isDone)
    #expect(sim.episode?.totalReward == 0.5)
    #expect(sim.episode?.recommended == [try index("i3", in: sim), try index("i1", in: sim)])
  }

  @Test func anItemCanBeShownOncePerEpisode() throws {
    var sim = try Self.simulator()
    let u1 = try #require(sim.users.index(of: "u1"))
    _ = try sim.reset(user: u1)
    let i1 = try index("i1", in: sim)
    _ = try sim.step(items: [i1])
    let before = sim.episode
    #expect(throws: SimulatorError.repeatedItem(item: "i1")) { try sim.step(items: [try index("i2", in: sim), i1]) }
    #expect(sim.episode == before, "a refused step changes nothing")
    let i4 = try index("i4", in: sim)
    #expect(throws: SimulatorError.repeatedItem(item: "i4")) { try sim.step(items: [i4, i4]) }
    _ = try sim.reset(user: u1)
    #expect(try sim.step(items: [i1]).rewards == [1], "a new episode starts clean")
  }

  @Test func misuseThrowsWithAMessage() throws {
    var sim = try Self.simulator()
    #expect(throws: SimulatorError.noEpisode) { try sim.step(items: [0]) }
    #expect(throws: SimulatorError.unknownUser(index: 3, userCount: 3)) { try sim.reset(user: 3) }
    _ = try sim.reset(user: 0)
    let error = #expect(throws: SimulatorError.self) { try sim.step(items: [8]) }
    #expect(error?.description == "item index 8 does not exist; items are 0..<8")
    #expect(throws: SimulatorError.emptySlate) { try sim.step(items: []) }
  }

  @Test func episodesEndAfterTheConfiguredLength() throws {
    var sim = try RatingRewardSimulator.fit(
      training: Self.training(), modelConfiguration: Self.small, configuration: .init(historyLength: 2, episodeLength: 2))
    _ = try sim.reset(user: 0)
    #expect(try !sim.step(items: [0]).isDone)
    #expect(try sim.step(items: [1]).isDone)
  }

  @Test func badConfigurationIsRefused() throws {
    let error = #expect(throws: SimulatorError.self) {
      try RatingRewardSimulator.fit(
        training: Self.training(), modelConfiguration: Self.small, configuration: .init(historyLength: 0))
    }
    #expect(error?.description == "RatingRewardSimulator.historyLength must be ≥ 1; got 0")
    let scale = #expect(throws: SimulatorError.self) {
      try RatingRewardSimulator.fit(
        training: Self.training(), modelConfiguration: Self.small, configuration: .init(ratingScale: 3...3))
    }
    #expect(
      scale?.description == "RatingRewardSimulator.ratingScale must be a finite range with lower bound < upper bound; got 3.0...3.0")
  }

  @Test func aModelFittedOnOtherDataIsRefused() throws {
    let other = try OtherData.data()
    let model = try BiasedMatrixFactorization.fit(other, configuration: Self.small, options: FitOptions())
    #expect(throws: SimulatorError.modelMismatch(what: "users", model: 2, training: 3)) {
      try RatingRewardSimulator(training: Self.training(), model: model)
    }
  }

  @Test func embeddingsAreTheModelFactorsFlat() throws {
    let data = try Self.training()
    var svd = Self.small
    svd.usesBiases = true
    let model = try BiasedMatrixFactorization.fit(data, configuration: svd, options: FitOptions())
    let sim = try RatingRewardSimulator(training: data, model: model)
    #expect(sim.embeddingSize == 3)
    #expect(sim.itemEmbeddings.count == 8 * 3 && sim.userEmbeddings.count == 3 * 3)
    // r̂_ui = μ + b_u + b_i + p_uᵀq_i, with p and q read back from the flat arrays.
    for u in 0..<3 {
      for i in 0..<8 {
        let dot = (0..<3).reduce(Float(0)) { $0 + sim.userEmbeddings[u * 3 + $1] * sim.itemEmbeddings[i * 3 + $1] }
        let expected = model.index.globalMean + model.userBiases[u] + model.itemBiases[i] + dot
        #expect(abs(model.estimate(userIndex: u, itemIndex: i).value - expected) < 1e-5)
      }
    }
    let withBias = try #require(sim.itemEmbeddingsWithBias)
    #expect(withBias.count == 8 * 4)
    #expect(Array(withBias[4..<8]) == Array(sim.itemEmbeddings[3..<6]) + [model.itemBiases[1]])
    #expect(try Self.simulator().itemEmbeddingsWithBias == nil, "PMF has no biases")
  }

  @Test func theSameInputsGiveTheSameSimulator() throws {
    let a = try Self.simulator()
    let b = try Self.simulator()
    #expect(a.itemEmbeddings == b.itemEmbeddings)
    #expect(try a.rewards(user: 0) == b.rewards(user: 0))
  }
}

/// Two users and two items: data the fixtures above were not fitted on.
enum OtherData {
  static func data() throws -> InteractionData {
    try InteractionData([
      Interaction(user: "a", item: "x", value: 5), Interaction(user: "b", item: "y", value: 1),
    ])
  }
}

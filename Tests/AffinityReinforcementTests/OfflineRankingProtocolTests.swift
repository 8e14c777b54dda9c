import AffinityCore
import AffinityReinforcement
import Testing

/// Train and test sets built by hand, so it is known which items are where.
///
/// User a rates t1…t6 and x in training (positives, in time order: t1, t2, t4, t6, x) and, later
/// in time, p1 5, p2 4, n1 1, n2 2, n3 3, the test-only item c 5 and t3 again (5) in the test set.
/// User b rates p1, p2, n1, n2, n3, u, t1, t6 in training and t2 5, t5 1, t3 4, t4 2 in test.
/// User z appears only in the test set.
enum ProtocolFixture {
  static func rows(_ user: String, _ ratings: [(String, Float)], from time: Int64) -> [Interaction] {
    ratings.enumerated().map { n, r in
      Interaction(user: UserID(user), item: ItemID(r.0), value: r.1, timestamp: time + Int64(n))
    }
  }

  static func training() throws -> InteractionData {
    try InteractionData(
      rows("a", [("t1", 5), ("t2", 4), ("t3", 2), ("t4", 5), ("t5", 1), ("t6", 4), ("x", 5)], from: 1)
        + rows("b", [("p1", 3), ("p2", 2), ("n1", 5), ("n2", 4), ("n3", 4), ("u", 4), ("t1", 4), ("t6", 3)], from: 1),
      source: "protocol fixture (train)")
  }

  static func test() throws -> InteractionData {
    try InteractionData(
      rows("a", [("p1", 5), ("p2", 4), ("n1", 1), ("n2", 2), ("n3", 3), ("c", 5), ("t3", 5)], from: 100)
        + rows("b", [("t2", 5), ("t5", 1), ("t3", 4), ("t4", 2)], from: 100)
        + rows("z", [("p1", 5)], from: 100),
      source: "protocol fixture (test)")
  }

  static func make(_ candidates: OfflineRankingProtocol.Candidates = .ratedTestItems, cutoffs: [Int] = [2, 5])
    throws -> OfflineRankingProtocol
  {
    try OfflineRankingProtocol(
      training: training(), test: test(),
      configuration: .init(candidates: candidates, cutoffs: cutoffs, historyLength: 3))
  }
}

@Suite("Offline ranking protocol")
struct OfflineRankingProtocolTests {
  func query(_ user: String, in evaluation: OfflineRankingProtocol) throws -> RankingQuery {
    let u = try #require(evaluation.users.index(of: UserID(user)))
    return try #require(evaluation.queries.first { $0.user == u })
  }

  func names(_ items: [Int], in evaluation: OfflineRankingProtocol) -> Set<String> {
    Set(items.map { evaluation.items[$0].rawValue })
  }

  @Test func theStateHoldsTheLatestTrainingPositivesOnly() throws {
    let evaluation = try ProtocolFixture.make()
    let a = try query("a", in: evaluation)
    #expect(a.history.map { evaluation.items[$0].rawValue } == ["t4", "t6", "x"])
    // p1, p2 and c are a's latest positives overall, but they are in the test set.
    #expect(names(a.history, in: evaluation).isDisjoint(with: ["p1", "p2", "c"]))
    #expect(evaluation.usersMissingFromTraining == 1)
  }

  @Test func reRankingCandidatesAreExactlyTheUsersTestItems() throws {
    let evaluation = try ProtocolFixture.make()
    let a = try query("a", in: evaluation)
    // t3 is in a's test set but a also rated it in training: never a candidate.
    #expect(names(a.candidates, in: evaluation) == ["p1", "p2", "n1", "n2", "n3", "c"])
    let c = try #require(evaluation.items.index(of: "c"))
    #expect(c >= evaluation.trainingItemCount, "an item seen only in test is indexed after the training items")
    #expect(names(try query("b", in: evaluation).candidates, in: evaluation) == ["t2", "t5", "t3", "t4"])
  }

  @Test func catalogueCandidatesExcludeEverythingRatedInTraining() throws {
    let evaluation = try ProtocolFixture.make(.unratedItems)
    let a = try query("a", in: evaluation)
    #expect(names(a.candidates, in: evaluation) == ["p1", "p2", "n1", "n2", "n3", "u"])
    #expect(a.candidates.allSatisfy { $0 < evaluation.trainingItemCount })
  }

  /// If the state leaked test positives, scoring "is it in the state?" would rank them first
  /// (shown on a hand-made leaky query); through the protocol it is no better than a constant.
  @Test func aScorerThatReadsTheStateFindsNoTestPositives() throws {
    let evaluation = try ProtocolFixture.make()
    let inState: RankingScorer = { q in q.candidates.map { q.history.contains($0) ? 1 : 0 } }
    let constant: RankingScorer = { q in q.candidates.map { _ in 0 } }
    #expect(try evaluation.evaluate("in-state", scorer: inState).cutoffs.map(\.precision)
      == evaluation.evaluate("constant", scorer: constant).cutoffs.map(\.precision))

    let a = try query("a", in: evaluation)
    let positives = try ["p1", "p2", "c"].map { try #require(evaluation.items.index(of: ItemID($0))) }
    let leaky = RankingQuery(user: a.user, history: positives, candidates: a.candidates)
    let scores = try inState(leaky)
    let top = a.candidates.indices.sorted { scores[$0] > scores[$1] }.prefix(3).map { a.candidates[$0] }
    #expect(Set(top) == Set(positives), "the probe does detect a leaky state")
  }

  @Test func candidateOrderCarriesNoInformation() throws {
    // Each user's test rows list the five positives first: an unshuffled order would give a
    // position scorer precision@5 = 1.
    var train: [Interaction] = []
    var test: [Interaction] = []
    for u in 0..<30 {
      for h in 0..<5 { train.append(Interaction(user: UserID("u\(u)"), item: ItemID("h\(h)"), value: 4)) }
      for q in 0..<10 {
        train.append(Interaction(user: UserID("other"), item: ItemID("q\(q)"), value: 3))
        test.append(Interaction(user: UserID("u\(u)"), item: ItemID("q\(q)"), value: q < 5 ? 5 : 1))
      }
    }
    let evaluation = try OfflineRankingProtocol(
      training: InteractionData(train), test: InteractionData(test), configuration: .init(cutoffs: [5]))
    let position: RankingScorer = { q in q.candidates.indices.map { -Float($0) } }
    let byPosition = try #require(try evaluation.evaluate("position", scorer: position).precision(at: 5))
    #expect(byPosition < 0.75)
    #expect(try evaluation.evaluate("oracle", scorer: evaluation.oracleScorer()).precision(at: 5) == 1)
    #expect(evaluation.expectedRandom().precision(at: 5) == 0.5)
  }

  @Test func baselinesScoreWhatCanBeWorkedOutByHand() throws {
    let evaluation = try ProtocolFixture.make()
    // a: 6 candidates, 3 relevant (p1, p2, c); b: 4 candidates, 2 relevant (t2, t3).
    let oracle = try evaluation.evaluate("oracle", scorer: evaluation.oracleScorer())
    #expect(oracle.precision(at: 2) == 1 && oracle.users(at: 2) == 2)
    #expect(oracle.precision(at: 5) == 0.6 && oracle.users(at: 5) == 1)
    let random = evaluation.expectedRandom()
    #expect(random.precision(at: 2) == 0.5 && random.precision(at: 5) == 0.5)
    // Item means: n1 5, n2 4, n3 4, c μ = 55/15, p1 3, p2 2; a's top 5 holds c and p1.
    let itemMean = try evaluation.evaluate("item mean", scorer: evaluation.itemMeanScorer())
    #expect(itemMean.precision(at: 5) == 0.4)
    let seeded = try evaluation.evaluate("random", scorer: evaluation.randomScorer(seed: 3))
    #expect(try seeded == evaluation.evaluate("random", scorer: evaluation.randomScorer(seed: 3)))
  }

  @Test func usersCountOnlyAtCutoffsTheyCanFill() throws {
    let evaluation = try ProtocolFixture.make(cutoffs: [5, 10])
    let result = evaluation.expectedRandom()
    #expect(result.users(at: 5) == 1 && result.users(at: 10) == 0)
    #expect(result.precision(at: 10) == 0)
  }

  @Test func aFullHistoryCanBeRequired() throws {
    let evaluation = try OfflineRankingProtocol(
      training: ProtocolFixture.training(), test: ProtocolFixture.test(),
      configuration: .init(historyLength: 5, requiresFullHistory: true))
    // a has 5 training positives, b 5 (n1, n2, n3, u, t1): both kept; with 6 both are skipped.
    #expect(evaluation.queries.count == 2 && evaluation.usersWithShortHistory == 0)
    let stricter = try OfflineRankingProtocol(
      training: ProtocolFixture.training(), test: ProtocolFixture.test(),
      configuration: .init(historyLength: 6, requiresFullHistory: true))
    #expect(stricter.queries.isEmpty && stricter.usersWithShortHistory == 2)
  }

  @Test func aScorerMustReturnOneScorePerCandidate() throws {
    let evaluation = try ProtocolFixture.make()
    let error = #expect(throws: RankingProtocolError.self) {
      try evaluation.evaluate("short", scorer: { _ in [1] })
    }
    #expect(
      error?.description
        == "short: returned 1 scores for user 'a' but there are 6 candidates; return one score per candidate, in candidate order")
  }

  @Test func badConfigurationIsRefused() throws {
    let error = #expect(throws: ConfigurationError.self) {
      try OfflineRankingProtocol(
        training: ProtocolFixture.training(), test: ProtocolFixture.test(), configuration: .init(cutoffs: []))
    }
    #expect(error?.description == "OfflineRankingProtocol.cutoffs must be at least one k; got []")
  }
}

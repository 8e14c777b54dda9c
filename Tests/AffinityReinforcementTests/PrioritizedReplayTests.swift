import AffinityCore
import AffinityReinforcement
import Testing

@Suite("PrioritizedReplay")
struct PrioritizedReplayTests {
  /// A buffer of widths 2 (state) and 1 (action) whose transition n has state [n, −n].
  func buffer(_ count: Int, capacity: Int = 100, alpha: Float = 1, seed: UInt64 = 42) throws -> PrioritizedReplay {
    var replay = try PrioritizedReplay(
      stateWidth: 2, actionWidth: 1, configuration: .init(capacity: capacity, alpha: alpha), seed: seed)
    for n in 0..<count {
      let x = Float(n)
      try replay.append(state: [x, -x], action: [x / 10], reward: x, nextState: [x + 1, -x - 1], isDone: n % 2 == 1)
    }
    return replay
  }

  /// Priorities 1 : 2 : 3 : 4 with α = 1 give P = 0.1, 0.2, 0.3, 0.4. 40,000 draws put each
  /// frequency within about 0.002 (one standard deviation, less with stratification) of its
  /// probability; the tolerance is 0.01, while ignoring priorities would be 0.05–0.15 off.
  @Test func samplesInProportionToPriority() throws {
    var replay = try buffer(4)
    try replay.update(priorities: [1, 2, 3, 4], at: [0, 1, 2, 3])
    var counts = [0, 0, 0, 0]
    for _ in 0..<1_250 {
      for i in try replay.sample(batchSize: 32).indices { counts[i] += 1 }
    }
    let total = Double(counts.reduce(0, +))
    for (i, expected) in [0.1, 0.2, 0.3, 0.4].enumerated() {
      #expect(abs(Double(counts[i]) / total - expected) < 0.01, "item \(i): \(counts[i]) of \(total)")
    }
  }

  @Test func alphaFlattensThePriorities() throws {
    var replay = try buffer(2, alpha: 0)
    try replay.update(priorities: [1, 100], at: [0, 1])
    var counts = [0, 0]
    for _ in 0..<500 { for i in try replay.sample(batchSize: 8).indices { counts[i] += 1 } }
    #expect(abs(Double(counts[0]) / 4_000 - 0.5) < 0.03, "α = 0 samples uniformly")
  }

  @Test func weightsAreAtMostOneAndTheLargestIsOne() throws {
    var replay = try buffer(50)
    try replay.update(priorities: (0..<50).map { Float($0) * 0.3 }, at: Array(0..<50))
    for _ in 0..<20 {
      let batch = try replay.sample(batchSize: 16)
      #expect(batch.weights.allSatisfy { $0 > 0 && $0 <= 1 })
      #expect(batch.weights.max() == 1)
      // A rarer transition gets a larger weight.
      let priorities = try batch.indices.map { try replay.priority(at: $0) }
      for r in priorities.indices {
        for s in priorities.indices where priorities[r] < priorities[s] { #expect(batch.weights[r] >= batch.weights[s]) }
      }
    }
  }

  @Test func betaAnnealsToOne() throws {
    var replay = try PrioritizedReplay(
      stateWidth: 1, actionWidth: 1, configuration: .init(initialBeta: 0.4, betaAnnealingSteps: 4))
    try replay.append(state: [0], action: [0], reward: 0, nextState: [0], isDone: false)
    let betas = try (0..<6).map { _ in try replay.sample(batchSize: 1).beta }
    #expect(betas.map { ($0 * 100).rounded() / 100 } == [0.4, 0.55, 0.7, 0.85, 1, 1])
  }

  @Test func aFullBufferOverwritesTheOldest() throws {
    let replay = try buffer(5, capacity: 3)
    #expect(replay.count == 3 && replay.appendedCount == 5)
    // Slots 0 and 1 now hold transitions 3 and 4; slot 2 still holds 2.
    let slots = try (0..<3).map { try replay.transition(at: $0) }
    #expect(slots.map(\.state) == [[3, -3], [4, -4], [2, -2]])
    #expect(slots.map(\.action) == [[0.3], [0.4], [0.2]])
    #expect(slots.map(\.reward) == [3, 4, 2])
    #expect(slots.map(\.nextState) == [[4, -4], [5, -5], [3, -3]])
    #expect(slots.map(\.isDone) == [true, false, false])
    #expect(throws: ReplayBufferError.unknownIndex(index: 3, count: 3)) { try replay.transition(at: 3) }
  }

  @Test func newTransitionsGetTheLargestPrioritySoFar() throws {
    var replay = try buffer(3, capacity: 3)
    try replay.update(priorities: [0.5, 7, 0.25], at: [0, 1, 2])
    try replay.append(state: [9, 9], action: [9], reward: 9, nextState: [9, 9], isDone: true)
    #expect(abs(try replay.priority(at: 0) - 7) < 1e-4)
  }

  @Test func aBatchIsFlatAndMatchesItsIndices() throws {
    var replay = try buffer(10)
    let batch = try replay.sample(batchSize: 4)
    #expect(batch.states.count == 8 && batch.actions.count == 4 && batch.nextStates.count == 8)
    for (r, i) in batch.indices.enumerated() {
      #expect(Array(batch.states[(2 * r)..<(2 * r + 2)]) == [Float(i), -Float(i)])
      #expect(batch.rewards[r] == Float(i) && batch.isDone[r] == (i % 2 == 1))
    }
  }

  @Test func theSameSeedGivesTheSameBatches() throws {
    var a = try buffer(20, seed: 5)
    var b = try buffer(20, seed: 5)
    var c = try buffer(20, seed: 6)
    let first = try (0..<5).map { _ in try a.sample(batchSize: 8) }
    #expect(try first == (0..<5).map { _ in try b.sample(batchSize: 8) })
    #expect(try first != (0..<5).map { _ in try c.sample(batchSize: 8) })
  }

  @Test func misuseThrowsWithAMessage() throws {
    var replay = try buffer(0)
    #expect(throws: ReplayBufferError.empty) { try replay.sample(batchSize: 1) }
    let width = #expect(throws: ReplayBufferError.self) {
      try replay.append(state: [1], action: [1], reward: 0, nextState: [1, 2], isDone: false)
    }
    #expect(width?.description == "PrioritizedReplay: state has 1 values but the buffer stores 2")
    replay = try buffer(2)
    #expect(throws: ReplayBufferError.invalidBatchSize(0)) { try replay.sample(batchSize: 0) }
    #expect(throws: ReplayBufferError.invalidPriority(index: 1, value: -1)) {
      try replay.update(priorities: [1, -1], at: [0, 1])
    }
    #expect(throws: ReplayBufferError.countMismatch(priorities: 1, indices: 2)) {
      try replay.update(priorities: [1], at: [0, 1])
    }
    let capacity = #expect(throws: ConfigurationError.self) {
      try PrioritizedReplay(stateWidth: 2, actionWidth: 1, configuration: .init(capacity: 0))
    }
    #expect(capacity?.description == "PrioritizedReplay.capacity must be ≥ 1; got 0")
  }
}

public import AffinityCore
import Foundation

/// A prioritized experience replay buffer, proportional variant.
///
/// Transition i is sampled with probability `P(i) = p_i^α / Σ_j p_j^α` and weighted by
/// `w_i = (N · P(i))^−β / max_{j∈batch} w_j` (so every weight is ≤ 1 and the batch's largest is
/// 1); β grows linearly from ``Configuration/initialBeta`` to 1 over
/// ``Configuration/betaAnnealingSteps`` calls to ``sample(batchSize:)``. A new transition gets
/// the largest priority seen so far, so it is replayed at least once soon; ``update(priorities:at:)``
/// sets `p_i = |δ_i| + ε`. A batch is stratified: the total mass is cut into `batchSize` equal
/// segments and one transition is drawn from each. When full, new transitions overwrite the
/// oldest.
///
/// States, actions and next states are stored in flat `[Float]` buffers of fixed width, rows
/// grown as transitions arrive (nothing is allocated for empty capacity). Sampling is seeded
/// and deterministic.
///
/// - Complexity: append, update and each draw are O(log capacity); memory is
///   `capacity · (2 · stateWidth + actionWidth + 2)` floats at most, plus a `2 · 2^⌈log₂ capacity⌉`
///   `Double` sum tree.
///
/// Schaul, Quan, Antonoglou, Silver. "Prioritized Experience Replay." ICLR 2016.
public struct PrioritizedReplay: Sendable {
  public struct Configuration: Codable, Hashable, Sendable {
    /// The most transitions kept.
    public var capacity: Int
    /// α: 0 samples uniformly, 1 fully by priority.
    public var alpha: Float
    /// β at the first sample.
    public var initialBeta: Float
    /// Samples over which β reaches 1.
    public var betaAnnealingSteps: Int
    /// ε, added to |δ| so no transition has priority 0.
    public var epsilon: Float

    public init(
      capacity: Int = 200_000, alpha: Float = 0.6, initialBeta: Float = 0.4, betaAnnealingSteps: Int = 100_000,
      epsilon: Float = 1e-6
    ) {
      self.capacity = capacity
      self.alpha = alpha
      self.initialBeta = initialBeta
      self.betaAnnealingSteps = betaAnnealingSteps
      self.epsilon = epsilon
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("PrioritizedReplay")
      try check.positive("capacity", capacity)
      try check.nonNegative("alpha", alpha)
      try check.nonNegative("initialBeta", initialBeta)
      if initialBeta > 1 {
        throw ConfigurationError(
          model: "PrioritizedReplay", parameter: "initialBeta", value: initialBeta, requirement: "in [0, 1]")
      }
      try check.positive("betaAnnealingSteps", betaAnnealingSteps)
      try check.positive("epsilon", epsilon)
    }
  }

  /// A sampled batch, flat: row r of `states` is `states[r·stateWidth ..< (r+1)·stateWidth]`.
  public struct Batch: Sendable, Equatable {
    /// Buffer positions, for ``PrioritizedReplay/update(priorities:at:)``.
    public var indices: [Int]
    /// Importance-sampling weights, in (0, 1].
    public var weights: [Float]
    public var states: [Float]
    public var actions: [Float]
    public var rewards: [Float]
    public var nextStates: [Float]
    public var isDone: [Bool]
    /// The β these weights used.
    public var beta: Float
  }

  public let configuration: Configuration
  public let stateWidth: Int
  public let actionWidth: Int
  /// Transitions held, at most the capacity.
  public private(set) var count = 0
  /// Transitions ever appended.
  public private(set) var appendedCount = 0
  /// Calls to ``sample(batchSize:)`` so far (drives β).
  public private(set) var sampleCount = 0
  private(set) var states: [Float] = []
  private(set) var actions: [Float] = []
  private(set) var rewards: [Float] = []
  private(set) var nextStates: [Float] = []
  private(set) var done: [Bool] = []
  /// p_i before the exponent α (the tree holds p_i^α).
  private var priorities: [Float] = []
  private var tree: SumTree
  private var maxPriority: Float = 1
  private var generator: SeededGenerator

  /// An empty buffer for transitions of the given widths.
  public init(stateWidth: Int, actionWidth: Int, configuration: Configuration = .init(), seed: UInt64 = 42)
    throws(ConfigurationError)
  {
    try configuration.validate()
    let check = ConfigurationCheck("PrioritizedReplay")
    try check.positive("stateWidth", stateWidth)
    try check.positive("actionWidth", actionWidth)
    self.configuration = configuration
    self.stateWidth = stateWidth
    self.actionWidth = actionWidth
    tree = SumTree(capacity: configuration.capacity)
    generator = SeededGenerator(seed: seed, stream: 71)
  }

  public var capacity: Int { configuration.capacity }

  /// β for the next sample.
  public var beta: Float {
    let c = configuration
    let progress = min(Float(sampleCount) / Float(c.betaAnnealingSteps), 1)
    return c.initialBeta + (1 - c.initialBeta) * progress
  }

  /// The priority `p_i` of the transition at `index` (before the exponent α).
  public func priority(at index: Int) throws(ReplayBufferError) -> Float {
    guard (0..<count).contains(index) else { throw .unknownIndex(index: index, count: count) }
    return priorities[index]
  }

  /// Stores a transition with the largest priority so far; when full, overwrites the oldest.
  public mutating func append(
    state: [Float], action: [Float], reward: Float, nextState: [Float], isDone: Bool
  ) throws(ReplayBufferError) {
    guard state.count == stateWidth else { throw .width(what: "state", expected: stateWidth, received: state.count) }
    guard action.count == actionWidth else {
      throw .width(what: "action", expected: actionWidth, received: action.count)
    }
    guard nextState.count == stateWidth else {
      throw .width(what: "next state", expected: stateWidth, received: nextState.count)
    }
    let slot = appendedCount % capacity
    if count < capacity {
      states += state
      actions += action
      rewards.append(reward)
      nextStates += nextState
      done.append(isDone)
      priorities.append(maxPriority)
      count += 1
    } else {
      states.replaceSubrange((slot * stateWidth)..<((slot + 1) * stateWidth), with: state)
      actions.replaceSubrange((slot * actionWidth)..<((slot + 1) * actionWidth), with: action)
      rewards[slot] = reward
      nextStates.replaceSubrange((slot * stateWidth)..<((slot + 1) * stateWidth), with: nextState)
      done[slot] = isDone
      priorities[slot] = maxPriority
    }
    appendedCount += 1
    tree.set(slot, to: scaled(maxPriority))
  }

  /// Draws `batchSize` transitions (with replacement), one per equal segment of the total
  /// priority mass, with their importance weights; advances β.
  public mutating func sample(batchSize: Int) throws(ReplayBufferError) -> Batch {
    guard count > 0 else { throw .empty }
    guard batchSize >= 1 else { throw .invalidBatchSize(batchSize) }
    let beta = self.beta
    let total = tree.total
    let segment = total / Double(batchSize)
    var indices: [Int] = []
    var weights: [Float] = []
    indices.reserveCapacity(batchSize)
    weights.reserveCapacity(batchSize)
    for b in 0..<batchSize {
      let mass = min((Double(b) + generator.nextUniform()) * segment, total.nextDown)
      let index = min(tree.leaf(containing: mass), count - 1)
      indices.append(index)
      let probability = tree[index] / total
      weights.append(Float(pow(Double(count) * probability, -Double(beta))))
    }
    let largest = weights.max() ?? 1
    if largest > 0 && largest.isFinite {
      for b in weights.indices { weights[b] /= largest }
    }
    sampleCount += 1
    var batch = Batch(
      indices: indices, weights: weights, states: [], actions: [], rewards: [], nextStates: [], isDone: [],
      beta: beta)
    batch.states.reserveCapacity(batchSize * stateWidth)
    batch.nextStates.reserveCapacity(batchSize * stateWidth)
    batch.actions.reserveCapacity(batchSize * actionWidth)
    for i in indices {
      batch.states += states[(i * stateWidth)..<((i + 1) * stateWidth)]
      batch.actions += actions[(i * actionWidth)..<((i + 1) * actionWidth)]
      batch.rewards.append(rewards[i])
      batch.nextStates += nextStates[(i * stateWidth)..<((i + 1) * stateWidth)]
      batch.isDone.append(done[i])
    }
    return batch
  }

  /// Sets `p_i = priorities[k] + ε` for each `i = indices[k]` (pass |δ|). Checks everything
  /// before changing anything.
  public mutating func update(priorities: [Float], at indices: [Int]) throws(ReplayBufferError) {
    guard priorities.count == indices.count else {
      throw .countMismatch(priorities: priorities.count, indices: indices.count)
    }
    for (index, priority) in zip(indices, priorities) {
      guard (0..<count).contains(index) else { throw .unknownIndex(index: index, count: count) }
      guard priority.isFinite, priority >= 0 else { throw .invalidPriority(index: index, value: priority) }
    }
    for (index, priority) in zip(indices, priorities) {
      let p = priority + configuration.epsilon
      maxPriority = max(maxPriority, p)
      self.priorities[index] = p
      tree.set(index, to: scaled(p))
    }
  }

  /// The transition at `index`: state, action, reward, next state, done.
  public func transition(at index: Int) throws(ReplayBufferError) -> (
    state: [Float], action: [Float], reward: Float, nextState: [Float], isDone: Bool
  ) {
    guard (0..<count).contains(index) else { throw .unknownIndex(index: index, count: count) }
    return (
      Array(states[(index * stateWidth)..<((index + 1) * stateWidth)]),
      Array(actions[(index * actionWidth)..<((index + 1) * actionWidth)]), rewards[index],
      Array(nextStates[(index * stateWidth)..<((index + 1) * stateWidth)]), done[index]
    )
  }

  func scaled(_ priority: Float) -> Double { pow(Double(priority), Double(configuration.alpha)) }
}

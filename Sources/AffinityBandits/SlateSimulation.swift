public import AffinityCore
import Foundation

/// The synthetic world as an interactive user simulator for slates: each round a user arrives,
/// is shown `slateSize` items from a pool, clicks at most one of them or none.
///
/// The arms are the `poolSize` most-rated items of a ``SyntheticWorld`` (ties by index). The
/// context is the user's encoded features (gender, age bucket, occupation) plus a constant 1; the
/// latent tastes stay hidden. The user's choice is a multinomial logit over the slate plus a
/// no-click option with utility `v₀`; the item at position `p` (0-based) has utility
///
///     u_p = s · x_uᵀ y_i − η · log(p + 1) − f_ui − mean_{g ∈ genres(i)} f_ug
///
/// and is clicked with probability `exp(u_p) / (exp(v₀) + Σ_q exp(u_q))`. The middle term is the
/// log of an examination probability `1/(p + 1)^η` (position bias); `f_ui` is the user's fatigue
/// with the item and `f_ug` with its genres. Each visit multiplies the visiting user's fatigue by
/// `fatigueDecay` and (with `driftStandardDeviation` σ > 0) moves the user's taste `x_u` by a
/// random-walk step `N(0, σ² I)`, before the slate is shown; showing an item adds `fatiguePerShow` to `f_ui`, a click adds
/// `fatiguePerClick` more, and `topicFatigueShare` of each increment goes to every genre of the
/// item.
///
/// The environment holds the fixed parts (pool, contexts, initial tastes); a ``SlateSession`` holds
/// the state that changes and the random streams.
public struct SlateEnvironment: Sendable {
  /// The simulator's knobs; every field has a default.
  ///
  /// On the default world (seed 42) the defaults give about 0.29 clicks per round for random
  /// slates and 0.43 for the best fixed slate (0.46 before fatigue builds up); without position
  /// bias, fatigue and drift the same slate would draw 0.62 (docs/benchmarks/slate-simulation.md).
  public struct Configuration: Sendable, Hashable, Codable {
    /// The number of arms: the most-rated items of the world.
    public var poolSize: Int
    /// Items shown per round.
    public var slateSize: Int
    /// `s`: multiplies the latent affinity `x_uᵀ y_i` (about ±0.4 in the default world).
    public var tasteScale: Double
    /// `v₀`: the utility of not clicking; higher means fewer clicks.
    public var noClickUtility: Double
    /// `η`: position `p` is examined with probability `1/(p + 1)^η`; 0 switches position bias off.
    public var positionBiasExponent: Double
    /// `σ`: the standard deviation of each coordinate of a user's taste step per visit; 0 is off.
    public var driftStandardDeviation: Double
    /// Fatigue added to an item each time it is shown to the user.
    public var fatiguePerShow: Double
    /// Fatigue added to an item, on top of `fatiguePerShow`, when the user clicks it.
    public var fatiguePerClick: Double
    /// The fraction of fatigue left after each later visit of the same user (0: forgets at once,
    /// 1: never forgets).
    public var fatigueDecay: Double
    /// The share of each fatigue increment that also goes to every genre of the item.
    public var topicFatigueShare: Double

    public init(
      poolSize: Int = 50, slateSize: Int = 5, tasteScale: Double = 3, noClickUtility: Double = 2.5,
      positionBiasExponent: Double = 1, driftStandardDeviation: Double = 0.02, fatiguePerShow: Double = 0.1,
      fatiguePerClick: Double = 0.5, fatigueDecay: Double = 0.5, topicFatigueShare: Double = 0.1
    ) {
      self.poolSize = poolSize
      self.slateSize = slateSize
      self.tasteScale = tasteScale
      self.noClickUtility = noClickUtility
      self.positionBiasExponent = positionBiasExponent
      self.driftStandardDeviation = driftStandardDeviation
      self.fatiguePerShow = fatiguePerShow
      self.fatiguePerClick = fatiguePerClick
      self.fatigueDecay = fatigueDecay
      self.topicFatigueShare = topicFatigueShare
    }

    /// The same knobs with fatigue, drift and position bias all switched off.
    public var withoutDynamics: Configuration {
      var plain = self
      plain.positionBiasExponent = 0
      plain.driftStandardDeviation = 0
      plain.fatiguePerShow = 0
      plain.fatiguePerClick = 0
      plain.topicFatigueShare = 0
      return plain
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("SlateEnvironment")
      try check.positive("poolSize", poolSize)
      try check.positive("slateSize", slateSize)
      if slateSize > poolSize {
        throw ConfigurationError(
          model: "SlateEnvironment", parameter: "slateSize", value: slateSize,
          requirement: "≤ poolSize (\(poolSize))")
      }
      func atLeastZero(_ name: String, _ value: Double) throws(ConfigurationError) {
        if !(value >= 0) || !value.isFinite {
          throw ConfigurationError(model: "SlateEnvironment", parameter: name, value: value, requirement: "a finite number ≥ 0")
        }
      }
      try atLeastZero("tasteScale", tasteScale)
      if !noClickUtility.isFinite {
        throw ConfigurationError(
          model: "SlateEnvironment", parameter: "noClickUtility", value: noClickUtility, requirement: "a finite number")
      }
      try atLeastZero("positionBiasExponent", positionBiasExponent)
      try atLeastZero("driftStandardDeviation", driftStandardDeviation)
      try atLeastZero("fatiguePerShow", fatiguePerShow)
      try atLeastZero("fatiguePerClick", fatiguePerClick)
      try atLeastZero("topicFatigueShare", topicFatigueShare)
      if !(fatigueDecay >= 0 && fatigueDecay <= 1) {
        throw ConfigurationError(
          model: "SlateEnvironment", parameter: "fatigueDecay", value: fatigueDecay, requirement: "in [0, 1]")
      }
    }
  }

  public let name: String
  public let configuration: Configuration
  /// The world item index (into ``SyntheticWorld/items``) of each arm.
  public let pool: [Int]
  public let poolItems: [ItemID]
  public let userIDs: [UserID]
  /// Each user's context: encoded features, then a constant 1.
  public let contexts: [[Double]]
  /// Each arm's genres (one-hot, weighted `1/√n` for `n` genres) plus a constant 1, for policies
  /// with a shared part such as ``HybridLinUCB``.
  public let armFeatures: [[Double]]
  let latentDimension: Int
  /// `users × d`, the tastes every session starts from.
  let initialTastes: [Double]
  /// `arms × d`.
  let traits: [Double]
  /// Each arm's genre indices.
  let armGenres: [[Int]]
  let genreCount: Int

  public var armCount: Int { pool.count }
  public var userCount: Int { userIDs.count }
  public var contextDimension: Int { contexts.first?.count ?? 1 }
  public var slateSize: Int { configuration.slateSize }

  /// The simulator over `world`.
  public init(world: SyntheticWorld, configuration: Configuration = Configuration(), name: String = "synthetic")
    throws(SlateSimulationError)
  {
    do throws(ConfigurationError) {
      try configuration.validate()
      if configuration.poolSize > world.items.count {
        throw ConfigurationError(
          model: "SlateEnvironment", parameter: "poolSize", value: configuration.poolSize,
          requirement: "≤ the world's item count (\(world.items.count))")
      }
    } catch {
      throw .invalidConfiguration(error)
    }
    self.name = name
    self.configuration = configuration
    var counts = [Int](repeating: 0, count: world.items.count)
    for i in world.ratings.itemIndices { counts[Int(i)] += 1 }
    // The rating data indexes items in its own vocabulary; map back to the world's order.
    var worldIndex: [ItemID: Int] = [:]
    for (i, item) in world.items.enumerated() { worldIndex[item.id] = i }
    var popularity = [Int](repeating: 0, count: world.items.count)
    for (k, id) in world.ratings.items.ids.enumerated() {
      if let i = worldIndex[id] { popularity[i] = counts[k] }
    }
    let top = popularity.indices.sorted { popularity[$0] > popularity[$1] || (popularity[$0] == popularity[$1] && $0 < $1) }
    pool = Array(top.prefix(configuration.poolSize))
    poolItems = pool.map { world.items[$0].id }
    userIDs = world.users.map(\.id)

    let users: EncodedFeatures<UserID>
    let genres: EncodedFeatures<ItemID>
    do throws(DataError) {
      users = try FeatureEncoder().encode(world.userFeatureTable())
      genres = try FeatureEncoder(columns: ["genres"]).encode(world.itemFeatureTable())
    } catch {
      throw .invalidData(error)
    }
    let width = users.featureCount + 1
    contexts = userIDs.map { id in
      var x = [Double](repeating: 0, count: width)
      for (f, v) in users.features(of: id) ?? [] { x[f] = Double(v) }
      x[width - 1] = 1
      return x
    }
    armFeatures = poolItems.map { id in
      var z = [Double](repeating: 0, count: genres.featureCount + 1)
      for (f, v) in genres.features(of: id) ?? [] { z[f] = Double(v) }
      z[genres.featureCount] = 1
      return z
    }
    let d = world.configuration.latentDimensions
    latentDimension = d
    initialTastes = world.userTastes.flatMap { $0 }
    traits = pool.flatMap { world.itemTraits[$0] }
    let genreIndex = Dictionary(uniqueKeysWithValues: SyntheticWorld.genreNames.enumerated().map { ($0.element, $0.offset) })
    armGenres = pool.map { world.items[$0].genres.compactMap { genreIndex[$0] } }
    genreCount = SyntheticWorld.genreNames.count
  }

  /// `s · x_uᵀ y_a` for a taste vector stored at `tastes[offset..<offset + d]`.
  func affinity(_ tastes: [Double], _ offset: Int, arm: Int) -> Double {
    let d = latentDimension
    var s = 0.0
    for f in 0..<d { s += tastes[offset + f] * traits[arm * d + f] }
    return configuration.tasteScale * s
  }

  /// `−η · log(p + 1)`: the log examination probability of position `p`.
  func positionTerm(_ p: Int) -> Double { -configuration.positionBiasExponent * Foundation.log(Double(p + 1)) }
}

/// Bad input to the slate simulator: its configuration, a slate it cannot show, a policy that
/// does not fit its pool.
public enum SlateSimulationError: Error, Equatable, CustomStringConvertible {
  case invalidConfiguration(ConfigurationError)
  case invalidData(DataError)
  case policy(BanditError)
  case unknownArm(arm: Int, poolSize: Int)
  case repeatedArm(arm: Int)
  case slateLength(received: Int, slateSize: Int)
  case unknownUser(user: Int, userCount: Int)
  case noOpenRound
  case roundInProgress(user: Int)
  case armCount(policy: String, arms: Int, poolSize: Int)

  public var description: String {
    switch self {
    case .invalidConfiguration(let error): error.description
    case .invalidData(let error): error.description
    case .policy(let error): error.description
    case .unknownArm(let arm, let poolSize):
      "the slate shows arm \(arm), but the pool's arms are 0..<\(poolSize)"
    case .repeatedArm(let arm):
      "the slate shows arm \(arm) twice; a slate holds distinct arms"
    case .slateLength(let received, let slateSize):
      "the slate has \(received) arms; show 1…\(slateSize) (the environment's slateSize)"
    case .unknownUser(let user, let userCount):
      "user \(user) does not exist; users are 0..<\(userCount)"
    case .noOpenRound:
      "no user is waiting for a slate; call observe() before respond(slate:)"
    case .roundInProgress(let user):
      "user \(user) is still waiting for a slate; call respond(slate:) before observing another user"
    case .armCount(let policy, let arms, let poolSize):
      "\(policy) has \(arms) arms but the pool holds \(poolSize) items; build the policy with \(poolSize) arms"
    }
  }
}

/// What the agent sees when a user arrives: the user's index (into ``SlateEnvironment/userIDs``)
/// and context.
public struct SlateObservation: Sendable, Equatable {
  public var user: Int
  public var context: [Double]

  public init(user: Int, context: [Double]) {
    self.user = user
    self.context = context
  }
}

/// How a bandit learns from one slate's outcome.
public enum SlateFeedbackRule: String, Sendable, Codable, CaseIterable {
  /// Every shown arm is a pull: reward 1 for the clicked arm, 0 for the others.
  case allShown
  /// The cascade model's reading: the user looked from the top down to the click, so the arms
  /// above it get reward 0, the clicked one 1, and those below are not counted. Without a click
  /// every shown arm gets 0.
  case cascade
}

/// The user's response to one slate.
public struct SlateFeedback: Sendable, Equatable {
  public var user: Int
  public var slate: [Int]
  /// The position of the clicked arm, or nil for no click.
  public var clickedPosition: Int?
  /// The probability that this slate drew a click from this user at this moment.
  public var clickProbability: Double

  public init(user: Int, slate: [Int], clickedPosition: Int?, clickProbability: Double) {
    self.user = user
    self.slate = slate
    self.clickedPosition = clickedPosition
    self.clickProbability = clickProbability
  }

  public var clickedArm: Int? { clickedPosition.map { slate[$0] } }
  /// 1 for a click, 0 otherwise.
  public var reward: Double { clickedPosition == nil ? 0 : 1 }

  /// The per-arm rewards a bandit learns from under `rule`.
  public func events(context: [Double], rule: SlateFeedbackRule) -> [BanditEvent] {
    let examined = rule == .cascade ? (clickedPosition.map { $0 + 1 } ?? slate.count) : slate.count
    return (0..<examined).map { p in BanditEvent(arm: slate[p], context: context, reward: p == clickedPosition ? 1 : 0) }
  }
}

/// One run of the slate simulator: the users' current tastes and fatigue and the random streams.
///
/// The loop an agent runs is `observe()`, choose a slate, `respond(slate:)`. Three seeded streams
/// keep runs comparable: users arrive in the same order and each round's choice draw and drift
/// step are the same whatever the agent shows, so two agents with one seed differ only through
/// what they show.
public struct SlateSession: Sendable {
  public let environment: SlateEnvironment
  public private(set) var seed: UInt64
  /// Completed rounds since the last reset.
  public private(set) var round: Int = 0
  /// The observation waiting for a slate, if any.
  public private(set) var pending: SlateObservation?
  var tastes: [Double]
  var fatigue: [Double]
  var topicFatigue: [Double]
  var userStream: SeededGenerator
  var responseStream: SeededGenerator
  var driftStream: SeededGenerator

  public init(environment: SlateEnvironment, seed: UInt64) {
    self.environment = environment
    self.seed = seed
    tastes = environment.initialTastes
    fatigue = [Double](repeating: 0, count: environment.userCount * environment.armCount)
    topicFatigue = [Double](repeating: 0, count: environment.userCount * environment.genreCount)
    userStream = SeededGenerator(seed: seed, stream: 61)
    responseStream = SeededGenerator(seed: seed, stream: 62)
    driftStream = SeededGenerator(seed: seed, stream: 63)
  }

  /// Starts over: initial tastes, no fatigue, the streams of `seed` (the current seed if nil).
  public mutating func reset(seed newSeed: UInt64? = nil) {
    self = SlateSession(environment: environment, seed: newSeed ?? seed)
  }

  /// The next user (uniformly at random) and their context. While a round is open it returns the
  /// waiting observation again.
  public mutating func observe() -> SlateObservation {
    if let pending { return pending }
    return beginVisit(userStream.nextInt(below: environment.userCount))
  }

  /// Opens a round for a chosen user instead of a random one (the user stream does not move).
  public mutating func observe(user: Int) throws(SlateSimulationError) -> SlateObservation {
    guard user >= 0 && user < environment.userCount else {
      throw .unknownUser(user: user, userCount: environment.userCount)
    }
    if let pending {
      guard pending.user == user else { throw .roundInProgress(user: pending.user) }
      return pending
    }
    return beginVisit(user)
  }

  /// The visit's drift step and fatigue decay, then the open round.
  mutating func beginVisit(_ user: Int) -> SlateObservation {
    let c = environment.configuration
    let d = environment.latentDimension
    if c.driftStandardDeviation > 0 {
      for f in 0..<d { tastes[user * d + f] += c.driftStandardDeviation * driftStream.nextGaussian() }
    }
    if c.fatigueDecay < 1 {
      let arms = environment.armCount
      for a in 0..<arms { fatigue[user * arms + a] *= c.fatigueDecay }
      let genres = environment.genreCount
      for g in 0..<genres { topicFatigue[user * genres + g] *= c.fatigueDecay }
    }
    let observation = SlateObservation(user: user, context: environment.contexts[user])
    pending = observation
    return observation
  }

  /// The waiting user's click probability for each position of `slate`, then for no click (the
  /// last entry); they sum to 1. Nothing changes.
  public func clickProbabilities(slate: [Int]) throws(SlateSimulationError) -> [Double] {
    guard let pending else { throw .noOpenRound }
    try validate(slate)
    return probabilities(user: pending.user, slate: slate)
  }

  func validate(_ slate: [Int]) throws(SlateSimulationError) {
    guard slate.count >= 1 && slate.count <= environment.slateSize else {
      throw .slateLength(received: slate.count, slateSize: environment.slateSize)
    }
    var seen = Set<Int>()
    for arm in slate {
      guard arm >= 0 && arm < environment.armCount else { throw .unknownArm(arm: arm, poolSize: environment.armCount) }
      guard seen.insert(arm).inserted else { throw .repeatedArm(arm: arm) }
    }
  }

  func probabilities(user: Int, slate: [Int]) -> [Double] {
    let c = environment.configuration
    let d = environment.latentDimension
    var utilities = slate.enumerated().map { p, arm in
      var topic = 0.0
      let genres = environment.armGenres[arm]
      for g in genres { topic += topicFatigue[user * environment.genreCount + g] }
      if !genres.isEmpty { topic /= Double(genres.count) }
      return environment.affinity(tastes, user * d, arm: arm) + environment.positionTerm(p)
        - fatigue[user * environment.armCount + arm] - topic
    }
    utilities.append(c.noClickUtility)
    let top = utilities.max() ?? 0
    let weights = utilities.map { Foundation.exp($0 - top) }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
  }

  /// Shows `slate` (arm indices, top first) to the waiting user, draws their click and closes the
  /// round: shown arms gain fatigue, the clicked one more.
  public mutating func respond(slate: [Int]) throws(SlateSimulationError) -> SlateFeedback {
    guard let open = pending else { throw .noOpenRound }
    try validate(slate)
    let p = probabilities(user: open.user, slate: slate)
    var u = responseStream.nextUniform()
    var clicked: Int?
    for position in slate.indices {
      u -= p[position]
      if u < 0 {
        clicked = position
        break
      }
    }
    let c = environment.configuration
    for (position, arm) in slate.enumerated() {
      let added = c.fatiguePerShow + (position == clicked ? c.fatiguePerClick : 0)
      fatigue[open.user * environment.armCount + arm] += added
      for g in environment.armGenres[arm] {
        topicFatigue[open.user * environment.genreCount + g] += c.topicFatigueShare * added
      }
    }
    pending = nil
    round += 1
    return SlateFeedback(user: open.user, slate: slate, clickedPosition: clicked, clickProbability: 1 - p[slate.count])
  }

  /// The user's current latent taste `x_u` (moved by drift).
  public func taste(of user: Int) -> [Double] {
    let d = environment.latentDimension
    return Array(tastes[(user * d)..<((user + 1) * d)])
  }

  /// The user's current fatigue with `arm` (without the genre part).
  public func fatigue(user: Int, arm: Int) -> Double { fatigue[user * environment.armCount + arm] }
}

/// Runs bandit policies in the slate simulator and values the best fixed slate.
public enum SlateSimulation {
  /// A slate shown to everyone every round, and its simulated clicks per round.
  public struct FixedSlate: Sendable, Equatable {
    public var arms: [Int]
    /// Expected clicks per round in a fresh world (initial tastes, no fatigue): what chose it.
    public var freshValue: Double
    /// Clicks per round when shown for `rounds` rounds on each seed, averaged over seeds.
    public var value: Double
  }

  /// The regret baseline: the fixed slate with the most expected clicks per round in a fresh world,
  /// found greedily position by position (each arm's attractiveness averaged over all users, the
  /// best arm at the top) and improved by swapping arms in and out until no single swap helps;
  /// then valued by showing it for `rounds` rounds on each seed, with the same users, choice draws,
  /// drift and fatigue as the policies meet. The search ignores fatigue, so a policy that varies
  /// its slates can beat this baseline (negative regret).
  ///
  /// - Complexity: O(passes · arms · k² · users) for the search, O(seeds · rounds · k) to value it.
  public static func bestFixedSlate(
    on environment: SlateEnvironment, rounds: Int, seeds: [UInt64]
  ) throws(SlateSimulationError) -> FixedSlate {
    try validate(rounds: rounds, seeds: seeds)
    let k = environment.slateSize
    let users = environment.userCount
    let arms = environment.armCount
    let d = environment.latentDimension
    var weights = [Double](repeating: 0, count: users * arms)
    for u in 0..<users {
      for a in 0..<arms { weights[u * arms + a] = Foundation.exp(environment.affinity(environment.initialTastes, u * d, arm: a)) }
    }
    let examination = (0..<k).map { Foundation.exp(environment.positionTerm($0)) }
    let none = Foundation.exp(environment.configuration.noClickUtility)
    func expectedClicks(_ slate: [Int]) -> Double {
      var total = 0.0
      for u in 0..<users {
        var shown = 0.0
        for (p, a) in slate.enumerated() { shown += weights[u * arms + a] * examination[p] }
        total += shown / (none + shown)
      }
      return total / Double(users)
    }
    var slate: [Int] = []
    for _ in 0..<k {
      var best = (arm: -1, value: -Double.infinity)
      for a in 0..<arms where !slate.contains(a) {
        let value = expectedClicks(slate + [a])
        if best.arm < 0 || value > best.value { best = (a, value) }
      }
      slate.append(best.arm)
    }
    var current = expectedClicks(slate)
    var improved = true
    var passes = 0
    while improved && passes < 10 {
      improved = false
      passes += 1
      for p in 0..<k {
        for a in 0..<arms where !slate.contains(a) {
          var other = slate
          other[p] = a
          let value = expectedClicks(other)
          if value > current + 1e-12 {
            (slate, current, improved) = (other, value, true)
          }
        }
        for q in (p + 1)..<max(k, p + 1) {
          var other = slate
          other.swapAt(p, q)
          let value = expectedClicks(other)
          if value > current + 1e-12 {
            (slate, current, improved) = (other, value, true)
          }
        }
      }
    }
    var total = 0.0
    for seed in seeds {
      var session = SlateSession(environment: environment, seed: seed)
      var clicks = 0.0
      for _ in 0..<rounds {
        _ = session.observe()
        clicks += try session.respond(slate: slate).reward
      }
      total += clicks / Double(rounds)
    }
    return FixedSlate(arms: slate, freshValue: current, value: total / Double(seeds.count))
  }

  static func validate(rounds: Int, seeds: [UInt64]) throws(SlateSimulationError) {
    if rounds < 1 {
      throw .invalidConfiguration(
        ConfigurationError(model: "SlateSimulation", parameter: "rounds", value: rounds, requirement: "≥ 1"))
    }
    if seeds.isEmpty {
      throw .invalidConfiguration(
        ConfigurationError(model: "SlateSimulation", parameter: "seeds", value: 0, requirement: "at least one seed"))
    }
  }

  /// Runs a fresh policy from `makePolicy` for `rounds` rounds on each seed: each round the
  /// policy ranks a slate for the user's context, the user responds, and the policy learns from
  /// the shown arms under `feedback`. The mean reward is clicks per round (a 95 % t-interval over
  /// seeds); `bestFixedArm` holds the best fixed slate's value (computed here when `baseline` is
  /// nil), so `regret = rounds · (best fixed − mean)`. Within a seed every policy meets the same
  /// users, choice draws and drift steps; the policy draws from its own stream.
  public static func run(
    _ makePolicy: () -> any BanditPolicy, on environment: SlateEnvironment, rounds: Int, seeds: [UInt64],
    feedback: SlateFeedbackRule = .allShown, baseline: FixedSlate? = nil, checkpoints: Int = 100
  ) throws(SlateSimulationError) -> SimulationResult {
    var final: PolicyAgent?
    var result = try run(
      { () throws(SlateSimulationError) -> any SlateAgent in
        let policy = makePolicy()
        guard policy.armCount == environment.armCount else {
          throw .armCount(policy: policy.name, arms: policy.armCount, poolSize: environment.armCount)
        }
        return PolicyAgent(policy: policy, feedback: feedback, environment: environment)
      }, on: environment, rounds: rounds, seeds: seeds, baseline: baseline, checkpoints: checkpoints,
      finished: { final = $0 as? PolicyAgent })
    result.finalPolicy = final?.policy
    return result
  }

  /// Runs a fresh agent from `makeAgent` for `rounds` rounds on each seed: every agent sees the
  /// same users within a seed. Bandit policies and served pipelines both run through here.
  public static func run(
    _ makeAgent: () throws(SlateSimulationError) -> any SlateAgent, on environment: SlateEnvironment, rounds: Int,
    seeds: [UInt64], baseline: FixedSlate? = nil, checkpoints: Int = 100, finished: (any SlateAgent) -> Void = { _ in }
  ) throws(SlateSimulationError) -> SimulationResult {
    try validate(rounds: rounds, seeds: seeds)
    let start = Date()
    var perSeed: [Double] = []
    var curve = [Double](repeating: 0, count: checkpoints)
    var name = ""
    for seed in seeds {
      var agent = try makeAgent()
      name = agent.name
      var session = SlateSession(environment: environment, seed: seed)
      var choices = SeededGenerator(seed: seed, stream: 64)
      var total = 0.0
      var next = 0
      for t in 0..<rounds {
        let observation = session.observe()
        let slate = try agent.slate(for: observation, generator: &choices)
        let outcome = try session.respond(slate: slate)
        try agent.learn(observation, outcome)
        total += outcome.reward
        while next < checkpoints && (t + 1) * checkpoints >= (next + 1) * rounds {
          curve[next] += total / Double(t + 1) / Double(seeds.count)
          next += 1
        }
      }
      perSeed.append(total / Double(rounds))
      finished(agent)
    }
    let mean = perSeed.reduce(0, +) / Double(perSeed.count)
    let variance = perSeed.count > 1 ? perSeed.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(perSeed.count - 1) : 0
    let half = BanditSimulation.studentT975(degrees: perSeed.count - 1) * (variance / Double(perSeed.count)).squareRoot()
    var best = baseline?.value ?? 0
    if baseline == nil { best = try bestFixedSlate(on: environment, rounds: rounds, seeds: seeds).value }
    return SimulationResult(
      policy: name, rounds: rounds, seeds: seeds.count, meanReward: mean, ciLow: mean - half, ciHigh: mean + half,
      regret: Double(rounds) * (best - mean), bestFixedArm: best, curve: curve, seconds: Date().timeIntervalSince(start))
  }
}

/// Whatever fills the slate simulator's slates: a bandit policy, or a served pipeline.
public protocol SlateAgent {
  var name: String { get }
  /// The slate (pool indices, best first) for the waiting user.
  mutating func slate(for observation: SlateObservation, generator: inout SeededGenerator) throws(SlateSimulationError) -> [Int]
  /// What the user did with it.
  mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError)
}

/// A bandit policy as a slate agent: it decides from the user's context and learns from every
/// shown item (or the clicked one), as `feedback` says.
struct PolicyAgent: SlateAgent {
  var policy: any BanditPolicy
  let feedback: SlateFeedbackRule
  let environment: SlateEnvironment

  var name: String { policy.name }

  mutating func slate(for observation: SlateObservation, generator: inout SeededGenerator) throws(SlateSimulationError) -> [Int] {
    do throws(BanditError) {
      return try policy.decide(
        context: observation.context, slateSize: environment.slateSize, generator: &generator, propensitySamples: 0
      ).map(\.arm)
    } catch {
      throw .policy(error)
    }
  }

  mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {
    // One rank-one update per arm: cheaper than a batch refactorisation for five events.
    do throws(BanditError) {
      for event in outcome.events(context: observation.context, rule: feedback) {
        try policy.update(arm: event.arm, context: event.context, reward: event.reward)
      }
    } catch {
      throw .policy(error)
    }
  }
}

import AffinityCatalog
import AffinityCore
import AffinityOffPolicy
import AffinityPipeline
import AffinityServer
import AffinityStore
import Foundation

/// Values a candidate model and pipeline on the decisions the service logged, before it is
/// promoted (`affinity ope --from-db`).
///
/// Each shown slot of each logged decision is one round: the action is the item shown, the
/// position its slot, the propensity the one the serving pipeline logged, and the reward 1 when
/// the user gave positive feedback on that item within `rewardWindow` after it was served.
/// The candidate model is trained on the feedback from before the first evaluated decision, so
/// no reward leaks into it. Its probability of putting the logged item in the logged slot is
/// 1 or 0 for a pipeline without exploration, and the share of `draws` seeded slates otherwise.
/// DM and the DR family use a reward model fitted on the log: each (item, slot)'s click rate,
/// shrunk toward the slot's click rate.
struct DecisionLogEvaluation {
  var model: String
  var parameters: [(String, String)]
  var pipeline: Pipeline
  var rewardWindow: TimeInterval
  var draws: Int = 64
  var seed: UInt64
  /// Shows of prior weight in the reward model's click rates.
  var shrinkage: Double = 10

  struct Result {
    var log: LoggedFeedback
    var policy: RoundActionTable
    /// Predicted rewards for DM and the DR family.
    var model: RoundActionTable
    var decisions: Int
    var trainingEvents: Int
  }

  func build(store: any RecommenderStore) throws -> Result {
    let decisions = try store.decisions(after: nil, limit: nil)
    guard let first = decisions.first else {
      throw RuntimeError(message: "the database has no logged decisions yet; serve recommendations first")
    }
    let events = try store.events(kinds: nil, after: nil, limit: nil)
    // Train the candidate on what was known before the first decision.
    let interactions = RecommenderService.interactions(
      from: events.filter { $0.timestamp < first.servedAt && ($0.kind == .positive || $0.kind == .read) })
    guard !interactions.isEmpty else {
      throw RuntimeError(message: "no feedback precedes the first logged decision (\(first.servedAt)); the candidate has nothing to train on")
    }
    let data = try InteractionData(interactions, source: "feedback before the first logged decision")
    let candidate = try ModelCatalog.descriptor(named: model).fit(
      data, parameters: parameters, options: FitOptions(seed: seed), features: SideInformation())
    let served = try ServedPipeline(pipeline: pipeline, model: candidate)

    // Positive feedback per (user, item), in time order, to find each slot's reward.
    var positives: [String: [Date]] = [:]
    for event in events where event.kind == .positive {
      positives[event.user + "\u{1F}" + event.item, default: []].append(event.timestamp)
    }
    let positionCount = decisions.map(\.slate.count).max() ?? 0
    // Each shown slot: the logged item, its reward and propensity, and the candidate's choices there.
    struct Slot {
      var item: String
      var position: Int
      var reward: Double
      var propensity: Double
      var candidate: [String: Double]
    }
    var slots: [Slot] = []
    for (d, decision) in decisions.enumerated() {
      let shown = decision.slate.count
      guard shown > 0 else { continue }
      // The candidate's slates for this user, as it would have served them.
      let user = UserID(decision.user)
      let request = { (seed: UInt64) in
        PipelineRequest(
          user: candidate.users.index(of: user) != nil ? user : nil, count: shown, now: decision.servedAt, seed: seed)
      }
      let runs = pipeline.exploration.method == .none ? 1 : draws
      var counts = [[String: Double]](repeating: [:], count: shown)
      for r in 0..<runs {
        let slate = try served.run(request(seed &+ UInt64(d) &* 7_919 &+ UInt64(r)))
        for (slot, entry) in slate.items.enumerated() where slot < shown {
          counts[slot][entry.item.rawValue, default: 0] += 1 / Double(runs)
        }
      }
      for (slot, item) in decision.slate.enumerated() where item.propensity > 0 {
        let clicks = positives[decision.user + "\u{1F}" + item.item] ?? []
        let clicked = clicks.contains { $0 >= decision.servedAt && $0.timeIntervalSince(decision.servedAt) <= rewardWindow }
        slots.append(Slot(item: item.item, position: slot, reward: clicked ? 1 : 0, propensity: item.propensity, candidate: counts[slot]))
      }
    }
    // The reward model for DM and DR: each (item, slot)'s click rate in the log, shrunk toward
    // the slot's click rate with the weight of `shrinkage` shows.
    var slotClicks = [Double](repeating: 0, count: positionCount)
    var slotShows = [Double](repeating: 0, count: positionCount)
    var itemClicks: [String: Double] = [:]
    var itemShows: [String: Double] = [:]
    for slot in slots {
      slotClicks[slot.position] += slot.reward
      slotShows[slot.position] += 1
      itemClicks["\(slot.position)\u{1F}\(slot.item)", default: 0] += slot.reward
      itemShows["\(slot.position)\u{1F}\(slot.item)", default: 0] += 1
    }
    func predicted(_ item: String, _ position: Int) -> Double {
      let prior = slotShows[position] > 0 ? slotClicks[position] / slotShows[position] : 0
      let key = "\(position)\u{1F}\(item)"
      return (itemClicks[key, default: 0] + shrinkage * prior) / (itemShows[key, default: 0] + shrinkage)
    }
    // Two actions per round: 0 is the logged item, 1 stands for every other item the candidate
    // would put in that slot (its probability and the mean prediction over them), which is all
    // IPS, DM and DR need.
    let rounds = slots.count
    var policy = [Double](repeating: 0, count: rounds * 2 * max(positionCount, 1))
    var model = policy
    for (r, slot) in slots.enumerated() {
      let same = slot.candidate[slot.item, default: 0]
      let others = slot.candidate.filter { $0.key != slot.item }
      let otherMass = others.values.reduce(0, +)
      let otherPrediction = otherMass > 0 ? others.reduce(0) { $0 + $1.value * predicted($1.key, slot.position) } / otherMass : 0
      let base = r * 2 * positionCount + slot.position
      policy[base] = same
      policy[base + positionCount] = otherMass
      model[base] = predicted(slot.item, slot.position)
      model[base + positionCount] = otherPrediction
    }
    let log = LoggedFeedback(
      rounds: rounds, actionCount: 2, positionCount: positionCount, actions: [Int32](repeating: 0, count: rounds),
      positions: slots.map { Int32($0.position) }, rewards: slots.map(\.reward), propensities: slots.map(\.propensity),
      contexts: [], contextWidth: 0, actionFeatures: [], actionFeatureWidth: 0, source: store.path)
    return Result(
      log: log, policy: RoundActionTable(rounds: rounds, actions: 2, positions: positionCount, values: policy),
      model: RoundActionTable(rounds: rounds, actions: 2, positions: positionCount, values: model),
      decisions: decisions.count, trainingEvents: interactions.count)
  }
}

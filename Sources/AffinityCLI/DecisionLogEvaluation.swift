import AffinityCatalog
import AffinityCore
import AffinityOffPolicy
import AffinityPipeline
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
/// IPS and SNIPS need nothing else; DM and the DR family would need a reward model over the
/// whole catalogue and are not offered here.
struct DecisionLogEvaluation {
  var model: String
  var parameters: [(String, String)]
  var pipeline: Pipeline
  var rewardWindow: TimeInterval
  var draws: Int = 64
  var seed: UInt64

  struct Result {
    var log: LoggedFeedback
    var policy: RoundActionTable
    var decisions: Int
    var trainingEvents: Int
  }

  func build(store: SQLiteStore) throws -> Result {
    let decisions = try store.decisions(after: nil, limit: nil)
    guard let first = decisions.first else {
      throw RuntimeError(message: "the database has no logged decisions yet; serve recommendations first")
    }
    let events = try store.events(kinds: nil, after: nil, limit: nil)
    // Train the candidate on what was known before the first decision.
    var merged: [String: Int] = [:]
    var interactions: [Interaction] = []
    for event in events where event.timestamp < first.servedAt && (event.kind == .positive || event.kind == .read) {
      let key = event.user + "\u{1F}" + event.item
      if let k = merged[key] {
        interactions[k].value += Float(event.value)
      } else {
        merged[key] = interactions.count
        interactions.append(Interaction(
          user: UserID(event.user), item: ItemID(event.item), value: Float(event.value), timestamp: Int64(event.timestamp.timeIntervalSince1970)))
      }
    }
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
    var positions: [Int32] = []
    var rewards: [Double] = []
    var propensities: [Double] = []
    var values: [Double] = []
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
      var counts = [[String: Int]](repeating: [:], count: shown)
      for r in 0..<runs {
        let slate = try served.run(request(seed &+ UInt64(d) &* 7_919 &+ UInt64(r)))
        for (slot, entry) in slate.items.enumerated() where slot < shown { counts[slot][entry.item.rawValue, default: 0] += 1 }
      }
      for (slot, item) in decision.slate.enumerated() {
        guard item.propensity > 0 else { continue }
        let clicks = positives[decision.user + "\u{1F}" + item.item] ?? []
        let clicked = clicks.contains { $0 >= decision.servedAt && $0.timeIntervalSince(decision.servedAt) <= rewardWindow }
        positions.append(Int32(slot))
        rewards.append(clicked ? 1 : 0)
        propensities.append(item.propensity)
        // One action per round (the logged one): the table holds π_e of that action by slot.
        var row = [Double](repeating: 0, count: positionCount)
        row[slot] = Double(counts[slot][item.item, default: 0]) / Double(runs)
        values += row
      }
    }
    let rounds = rewards.count
    let log = LoggedFeedback(
      rounds: rounds, actionCount: 1, positionCount: positionCount, actions: [Int32](repeating: 0, count: rounds),
      positions: positions, rewards: rewards, propensities: propensities, contexts: [], contextWidth: 0, actionFeatures: [],
      actionFeatureWidth: 0, source: store.path)
    return Result(
      log: log, policy: RoundActionTable(rounds: rounds, actions: 1, positions: positionCount, values: values),
      decisions: decisions.count, trainingEvents: interactions.count)
  }
}

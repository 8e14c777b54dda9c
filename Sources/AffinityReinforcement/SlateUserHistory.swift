public import AffinityBandits
import AffinityCore
import AffinityNeural
import Foundation

/// The state the slate-world RL policies (``TopKReinforce``, ``SlateDQN``) see: the user's context
/// followed by two per-arm memories of what this user did on earlier visits,
///
///     s_u = [x_u, c_u, h_u],   c_u ← μ_c · c_u + e_clicked,   h_u ← μ_h · h_u + Σ_{a ∈ slate} e_a
///
/// updated once per visit of user `u` (`e_a` is the one-hot of arm `a`). `c_u` tells the policy
/// what the user liked (the context alone only gives demographics); `h_u` tracks what was
/// recently shown, which is what the simulator's fatigue punishes. `μ_c` (``clickMemory``) and
/// `μ_h` (``showMemory``) are the agent's choices: it does not know the simulator's fatigue decay.
///
/// Bandits in the same runs see only `x_u`; the history is what makes these policies stateful.
/// With ``usesMemories`` off the state is `x_u` alone (the ablation that separates the state from
/// the algorithm).
///
/// - Complexity: O(arms) per visit; `2 · users · arms` floats.
public struct SlateUserHistory: Sendable, Equatable {
  public let armCount: Int
  public let contextWidth: Int
  public let clickMemory: Float
  public let showMemory: Float
  /// Whether the state carries `c_u` and `h_u` after the context.
  public let usesMemories: Bool
  var clicks: [Float]
  var shows: [Float]

  /// Empty memories for every user of `environment`.
  public init(
    environment: SlateEnvironment, clickMemory: Float = 0.9, showMemory: Float = 0.5, usesMemories: Bool = true
  ) {
    self.init(
      users: environment.userCount, arms: environment.armCount, contextWidth: environment.contextDimension,
      clickMemory: clickMemory, showMemory: showMemory, usesMemories: usesMemories)
  }

  public init(
    users: Int, arms: Int, contextWidth: Int, clickMemory: Float = 0.9, showMemory: Float = 0.5,
    usesMemories: Bool = true
  ) {
    armCount = arms
    self.usesMemories = usesMemories
    self.contextWidth = contextWidth
    self.clickMemory = clickMemory
    self.showMemory = showMemory
    clicks = [Float](repeating: 0, count: max(users, 0) * max(arms, 0))
    shows = clicks
  }

  /// `context + 2 · arms`, or `context` without memories.
  public var stateWidth: Int { contextWidth + (usesMemories ? 2 * armCount : 0) }

  /// The state of the user waiting in `observation`.
  public func state(_ observation: SlateObservation) -> [Float] {
    var out = [Float](repeating: 0, count: stateWidth)
    write(observation, into: &out, at: 0)
    return out
  }

  /// Writes the state into `out[offset ..< offset + stateWidth]`.
  func write(_ observation: SlateObservation, into out: inout [Float], at offset: Int) {
    for (c, v) in observation.context.prefix(contextWidth).enumerated() { out[offset + c] = Float(v) }
    let base = observation.user * armCount
    guard usesMemories, observation.user >= 0, base + armCount <= clicks.count else { return }
    for a in 0..<armCount {
      out[offset + contextWidth + a] = clicks[base + a]
      out[offset + contextWidth + armCount + a] = shows[base + a]
    }
  }

  /// Folds one visit's outcome into the user's memories.
  public mutating func record(_ feedback: SlateFeedback) {
    let base = feedback.user * armCount
    guard feedback.user >= 0, base + armCount <= clicks.count else { return }
    for a in 0..<armCount {
      clicks[base + a] *= clickMemory
      shows[base + a] *= showMemory
    }
    for arm in feedback.slate where arm >= 0 && arm < armCount { shows[base + arm] += 1 }
    if let arm = feedback.clickedArm, arm >= 0, arm < armCount { clicks[base + arm] += 1 }
  }
}

/// Draws `count` distinct indices from `probabilities` one after another, each draw proportional
/// to the probabilities of the indices not yet drawn (Plackett–Luce sampling without replacement).
func sampleWithoutReplacement(
  _ probabilities: [Float], count: Int, generator: inout SeededGenerator
) -> [Int] {
  var weights = probabilities.map { max(Double($0), 0) }
  var chosen: [Int] = []
  for _ in 0..<min(count, weights.count) {
    let total = weights.reduce(0, +)
    var pick = -1
    if total > 0 {
      var u = generator.nextUniform() * total
      for (i, w) in weights.enumerated() where w > 0 {
        u -= w
        pick = i
        if u < 0 { break }
      }
    }
    if pick < 0 { pick = weights.indices.first { !chosen.contains($0) } ?? -1 }
    guard pick >= 0 else { break }
    chosen.append(pick)
    weights[pick] = 0
  }
  return chosen
}

/// The indices of the `count` largest values, largest first (ties by index).
func topIndices(_ values: [Float], count: Int) -> [Int] {
  Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(count))
}

/// Row-wise softmax of `logits` (`rows × columns`).
func softmaxRows(_ logits: Matrix) -> Matrix {
  var out = logits
  for r in 0..<logits.rows {
    let base = r * logits.columns
    var top = -Float.infinity
    for c in 0..<logits.columns { top = max(top, logits.storage[base + c]) }
    var sum: Float = 0
    for c in 0..<logits.columns {
      let e = Foundation.exp(logits.storage[base + c] - top)
      out.storage[base + c] = e
      sum += e
    }
    for c in 0..<logits.columns { out.storage[base + c] /= sum }
  }
  return out
}

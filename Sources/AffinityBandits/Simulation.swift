public import AffinityCore
import AffinityLinalg
import Foundation

/// A bandit environment: each round draws a context; an arm earns a reward.
public protocol BanditEnvironment: Sendable {
  var armCount: Int { get }
  var contextDimension: Int { get }
  var name: String { get }
  /// The round's user (an index the environment understands) and context.
  func draw(_ generator: inout SeededGenerator) -> (user: Int, context: [Double])
  func reward(user: Int, arm: Int) -> Double
  /// The best fixed arm's expected reward per round (the regret baseline).
  var bestFixedArmValue: Double { get }
}

/// The rating simulator of the MovieLens bandit literature: the arms are the `arms` most-rated
/// items; each round a user is drawn uniformly; the reward is 1 iff that user rated the arm
/// `≥ threshold` (unrated counts as 0). The context is the user's encoded features (one-hot
/// gender, age bucket, occupation, …) plus a constant 1, or just the constant without features.
public struct RatingSimulator: BanditEnvironment {
  public let name: String
  public let armItems: [ItemID]
  public let userIDs: [UserID]
  /// `users × arms`, 1 = liked.
  let liked: [UInt8]
  let contexts: [[Double]]
  public var armCount: Int { armItems.count }
  public var contextDimension: Int { contexts.first?.count ?? 1 }

  public init(
    _ data: InteractionData, arms: Int = 20, threshold: Float = 4, userFeatures: EncodedFeatures<UserID>? = nil,
    name: String = "movielens"
  ) {
    self.name = name
    var counts = [Int](repeating: 0, count: data.items.count)
    for i in data.itemIndices { counts[Int(i)] += 1 }
    let top = counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }.prefix(arms)
    armItems = top.map { data.items[$0] }
    let armOf = Dictionary(uniqueKeysWithValues: top.enumerated().map { ($0.element, $0.offset) })
    userIDs = data.users.ids
    var liked = [UInt8](repeating: 0, count: data.users.count * top.count)
    for k in 0..<data.count where data.values[k] >= threshold {
      if let arm = armOf[Int(data.itemIndices[k])] { liked[Int(data.userIndices[k]) * top.count + arm] = 1 }
    }
    self.liked = liked
    let width = (userFeatures?.featureCount ?? 0) + 1
    contexts = data.users.ids.map { id in
      var x = [Double](repeating: 0, count: width)
      for (f, v) in userFeatures?.features(of: id) ?? [] { x[f] = Double(v) }
      x[width - 1] = 1
      return x
    }
  }

  public func draw(_ generator: inout SeededGenerator) -> (user: Int, context: [Double]) {
    let u = generator.nextInt(below: userIDs.count)
    return (u, contexts[u])
  }

  public func reward(user: Int, arm: Int) -> Double { Double(liked[user * armItems.count + arm]) }

  public var bestFixedArmValue: Double {
    (0..<armCount).map { arm in
      Double((0..<userIDs.count).reduce(0) { $0 + Int(liked[$1 * armCount + arm]) }) / Double(max(userIDs.count, 1))
    }.max() ?? 0
  }
}

/// The outcome of one policy over several seeds.
public struct SimulationResult: Sendable, Codable {
  public var policy: String
  public var rounds: Int
  public var seeds: Int
  /// Cumulative reward per round, averaged over seeds.
  public var meanReward: Double
  /// 95 % t-interval of the per-seed mean rewards.
  public var ciLow: Double
  public var ciHigh: Double
  /// `rounds · (best fixed arm value − meanReward)`.
  public var regret: Double
  public var bestFixedArm: Double
  /// The running cumulative reward per round at evenly spaced checkpoints, averaged over seeds.
  public var curve: [Double]
  public var seconds: Double
  /// The policy as it was at the end of the last seed's run (not part of the JSON).
  public var finalPolicy: (any BanditPolicy)? = nil

  enum CodingKeys: String, CodingKey {
    case policy, rounds, seeds, regret, curve, seconds
    case meanReward = "mean_reward"
    case ciLow = "ci_low"
    case ciHigh = "ci_high"
    case bestFixedArm = "best_fixed_arm"
  }
}

public enum BanditSimulation {
  /// Runs a fresh policy from `makePolicy` for `rounds` rounds on each seed. Within a seed every
  /// policy sees the same sequence of users (the environment draws from its own stream).
  public static func run(
    _ makePolicy: () -> any BanditPolicy, on environment: any BanditEnvironment, rounds: Int, seeds: [UInt64],
    checkpoints: Int = 100
  ) throws(BanditError) -> SimulationResult {
    let start = Date()
    var perSeed: [Double] = []
    var curve = [Double](repeating: 0, count: checkpoints)
    var name = ""
    var final: (any BanditPolicy)?
    for seed in seeds {
      var policy = makePolicy()
      name = policy.name
      var users = SeededGenerator(seed: seed, stream: 91)
      var choices = SeededGenerator(seed: seed, stream: 92)
      var total = 0.0
      var next = 0
      for t in 0..<rounds {
        let (user, context) = environment.draw(&users)
        let choice = try policy.decide(context: context, generator: &choices)
        let reward = environment.reward(user: user, arm: choice.arm)
        try policy.update(arm: choice.arm, context: context, reward: reward)
        total += reward
        while next < checkpoints && (t + 1) * checkpoints >= (next + 1) * rounds {
          curve[next] += total / Double(t + 1) / Double(seeds.count)
          next += 1
        }
      }
      perSeed.append(total / Double(max(rounds, 1)))
      final = policy
    }
    let mean = perSeed.reduce(0, +) / Double(max(perSeed.count, 1))
    let variance = perSeed.count > 1
      ? perSeed.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(perSeed.count - 1) : 0
    let half = studentT975(degrees: perSeed.count - 1) * (variance / Double(max(perSeed.count, 1))).squareRoot()
    let best = environment.bestFixedArmValue
    return SimulationResult(
      policy: name, rounds: rounds, seeds: seeds.count, meanReward: mean, ciLow: mean - half, ciHigh: mean + half,
      regret: Double(rounds) * (best - mean), bestFixedArm: best, curve: curve, seconds: Date().timeIntervalSince(start), finalPolicy: final)
  }

  /// The 97.5 % quantile of Student's t (exact table to 30 degrees of freedom, then normal).
  static func studentT975(degrees: Int) -> Double {
    let table: [Double] = [
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
      2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ]
    guard degrees >= 1 else { return 0 }
    return degrees <= table.count ? table[degrees - 1] : 1.96
  }

  /// An SVG line chart of running mean reward over rounds, one line per result, with the
  /// baseline (`bestFixedArm`) dashed and labelled `baselineLabel`.
  public static func svg(_ results: [SimulationResult], title: String, baselineLabel: String = "best fixed arm") -> String {
    let values = results.flatMap(\.curve) + results.map(\.bestFixedArm)
    var plot = LinePlot(
      title: title, xLabel: "round", yLabel: "mean reward so far", low: max(0, (values.min() ?? 0) - 0.02),
      high: (values.max() ?? 1) + 0.02, left: 60, right: 210)
    let rounds = results.first?.rounds ?? 0
    plot.ticks { fraction in "\(Int((Double(rounds) * fraction).rounded()))" }
    if let best = results.first?.bestFixedArm {
      plot.append(
        "<line x1=\"\(plot.left)\" y1=\"\(plot.y(best))\" x2=\"\(plot.x(1))\" y2=\"\(plot.y(best))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n")
      // Inside the plot, under the line near the left: the legend on the right stays clear.
      plot.append(
        "<text x=\"\(plot.left + 6)\" y=\"\(plot.y(best) + 14)\" fill=\"#666\">\(LinePlot.escape(baselineLabel)) \(String(format: "%.3f", best))</text>\n")
    }
    // Past ten lines the colours repeat with a dashed line.
    let dashes = ["", " stroke-dasharray=\"7 3\"", " stroke-dasharray=\"2 2\""]
    func style(_ n: Int) -> (colour: String, dash: String) {
      (LinePlot.colours[n % LinePlot.colours.count], dashes[min(n / LinePlot.colours.count, dashes.count - 1)])
    }
    for (n, result) in results.enumerated() {
      let (colour, dash) = style(n)
      plot.line(
        result.curve.enumerated().map { k, v in (Double(k + 1) / Double(result.curve.count), v) }, colour: colour,
        width: 2, dash: dash)
    }
    // The legend lists the policies from the highest mean reward down, each with its line style.
    let ranked = results.indices.sorted { (results[$0].meanReward, -$0) > (results[$1].meanReward, -$1) }
    for (row, n) in ranked.enumerated() {
      let (colour, dash) = style(n)
      plot.legend(
        row: row, sampleStart: 8, colour: colour, dash: dash,
        text: "\(results[n].policy) \(String(format: "%.3f", results[n].meanReward))")
    }
    return plot.svg
  }
}


import AffinityBandits
import AffinityCore
import ArgumentParser
import Foundation

/// `affinity simulate`: run bandit policies against a user simulator.
struct SimulateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Run bandit policies against a simulated environment and compare their rewards.",
    discussion: """
      The movielens environment: the arms are the --arms most-rated movies of --data; each round a
      user is drawn uniformly and the reward is 1 iff they rated the arm ≥ --threshold (unrated = 0).
      Contexts (for linucb) are the user's features from --user-features plus a constant.
      Every policy sees the same users within a seed. Prints the mean reward per round with a 95 %
      t-interval over seeds and the regret against the best fixed arm; --plot writes an SVG.
      Policies: random, epsilon-greedy (epsilon, decay), softmax (temperature), ucb1 (alpha),
      kl-ucb (c), thompson (prior_alpha, prior_beta), gaussian-thompson (prior_mean,
      prior_variance, noise_variance); contextual: linucb (alpha, regularization), lin-ts (scale,
      regularization), lin-epsilon-greedy (epsilon, regularization), logistic-ucb and logistic-ts
      (scale, regularization), hybrid-linucb (alpha, regularization; needs --item-features: the
      arms' features are shared across arms).
      Example: affinity simulate --data ml-100k.inter --user-features ml-100k.user \\
                 --policy random,epsilon-greedy,ucb1,thompson,linucb --rounds 10000 --seeds 5 --plot ctr.svg
      """)

  @Option(help: "Comma-separated policies.") var policy: String
  @Option(name: .customLong("param"), help: "policy.key=value or key=value for every policy (repeatable).")
  var parameters: [String] = []
  @Option(help: "Environment: movielens.") var environment: String = "movielens"
  @Option(help: "Ratings for the movielens environment (u.data, RecBole .inter or CSV).") var data: String
  @Option(help: "User features for contexts (GroupLens u.user, RecBole .user or CSV).") var userFeatures: String?
  @Option(help: "Item features for the arms (GroupLens u.item, RecBole .item or CSV): hybrid-linucb's shared part.")
  var itemFeatures: String?
  @Option(help: "Item feature columns for the arms, comma-separated (for MovieLens: class, the genres).")
  var itemFeatureColumns: String?
  @Option(help: "Save each policy as it is after the last seed's run (a JSON policy file per policy) in this folder.")
  var savePolicies: String?
  @Option(help: "Number of arms (most-rated items).") var arms: Int = 20
  @Option(help: "A rating ≥ this is a reward of 1.") var threshold: Float = 4
  @Option(help: "Rounds per run.") var rounds: Int = 10_000
  @Option(help: "Number of seeds (runs).") var seeds: Int = 5
  @Option(help: "The first seed; runs use first-seed … first-seed + seeds − 1.") var firstSeed: UInt64 = 1
  @Option(help: "Write a reward-over-time chart (SVG) here.") var plot: String?
  @Option(help: "table, or json (one JSON object per policy and line).") var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  func validate() throws {
    if environment != "movielens" { throw ValidationError("--environment must be movielens; got '\(environment)'") }
    if rounds < 1 || seeds < 1 || arms < 1 { throw ValidationError("--rounds, --seeds and --arms must be ≥ 1") }
  }

  func value(_ policy: String, _ key: String, default fallback: Double) throws -> Double {
    for text in parameters {
      let pair = text.split(separator: "=", maxSplits: 1).map(String.init)
      guard pair.count == 2 else { throw ValidationError("--param needs key=value; got '\(text)'") }
      guard pair[0] == key || pair[0] == "\(policy).\(key)" else { continue }
      guard let number = Double(pair[1]), number.isFinite else {
        throw ValidationError("--param \(pair[0]) needs a number; got '\(pair[1])'")
      }
      return number
    }
    return fallback
  }

  func makePolicy(_ name: String, arms: Int, dimension: Int, armFeatures: [[Double]]?) throws -> () -> any BanditPolicy {
    switch name {
    case "random": return { RandomPolicy(arms: arms) }
    case "epsilon-greedy":
      let epsilon = try value(name, "epsilon", default: 0.1)
      let decay = try value(name, "decay", default: 0)
      return { EpsilonGreedy(arms: arms, epsilon: epsilon, decay: decay) }
    case "ucb1":
      let alpha = try value(name, "alpha", default: 1)
      return { UCB1(arms: arms, alpha: alpha) }
    case "thompson":
      let a = try value(name, "prior_alpha", default: 1)
      let b = try value(name, "prior_beta", default: 1)
      return { ThompsonSampling(arms: arms, priorAlpha: a, priorBeta: b) }
    case "linucb":
      // 0.5 was best on seeds 101–105 of the movielens environment (0.1, 0.25, 0.5, 1 tried).
      let alpha = try value(name, "alpha", default: 0.5)
      let regularization = try value(name, "regularization", default: 1)
      return { LinUCB(arms: arms, dimension: dimension, alpha: alpha, regularization: regularization) }
    case "softmax":
      let temperature = try value(name, "temperature", default: 0.1)
      return { Softmax(arms: arms, temperature: temperature) }
    case "kl-ucb":
      let c = try value(name, "c", default: 0)
      return { KLUCB(arms: arms, c: c) }
    case "lin-ts":
      // 0.1 was best of 0.1, 0.25, 0.5 on seeds 101–105 of the movielens environment.
      let scale = try value(name, "scale", default: 0.1)
      let regularization = try value(name, "regularization", default: 1)
      return { LinearThompsonSampling(arms: arms, dimension: dimension, scale: scale, regularization: regularization) }
    case "gaussian-thompson":
      let mean = try value(name, "prior_mean", default: 0)
      let variance = try value(name, "prior_variance", default: 1)
      let noise = try value(name, "noise_variance", default: 0.25)
      return { GaussianThompsonSampling(arms: arms, priorMean: mean, priorVariance: variance, noiseVariance: noise) }
    case "lin-epsilon-greedy":
      let epsilon = try value(name, "epsilon", default: 0.1)
      let regularization = try value(name, "regularization", default: 1)
      return { LinearEpsilonGreedy(arms: arms, dimension: dimension, epsilon: epsilon, regularization: regularization) }
    case "logistic-ucb", "logistic-ts":
      let scale = try value(name, "scale", default: name == "logistic-ucb" ? 0.5 : 0.25)
      let regularization = try value(name, "regularization", default: 1)
      let mode: LogisticBandit.Mode = name == "logistic-ucb" ? .ucb : .thompson
      return {
        LogisticBandit(arms: arms, dimension: dimension, mode: mode, explorationScale: scale, regularization: regularization)
      }
    case "hybrid-linucb":
      guard let armFeatures else { throw ValidationError("hybrid-linucb needs --item-features for the arms") }
      let alpha = try value(name, "alpha", default: 0.5)
      let regularization = try value(name, "regularization", default: 1)
      let policy = try HybridLinUCB(armFeatures: armFeatures, dimension: dimension, alpha: alpha, regularization: regularization)
      return { policy }
    default:
      throw ValidationError(
        "unknown policy '\(name)'; policies: random, epsilon-greedy, softmax, ucb1, kl-ucb, thompson, gaussian-thompson, linucb, lin-ts, lin-epsilon-greedy, logistic-ucb, logistic-ts, hybrid-linucb")
    }
  }

  func run() throws {
    try CLIErrors.mapped {
      let ratings = try read.read(data)
      let features = try userFeatures.map { path in
        try FeatureEncoder().encode(try FeatureReader().read(path) as FeatureTable<UserID>)
      }
      let world = RatingSimulator(ratings, arms: arms, threshold: threshold, userFeatures: features)
      let armFeatures = try itemFeatures.map { path in
        let columns = (itemFeatureColumns ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let encoded = try FeatureEncoder(columns: columns.filter { !$0.isEmpty }).encode(
          try FeatureReader().read(path) as FeatureTable<ItemID>)
        if encoded.featureCount > 200 {
          throw ValidationError(
            "--item-features gives the arms \(encoded.featureCount) features (free text is tokenised); hybrid-linucb inverts a matrix of that size at every update. Choose columns with --item-feature-columns (for MovieLens: class)")
        }
        return world.armItems.map { item in
          var x = [Double](repeating: 0, count: encoded.featureCount + 1)
          for (f, v) in encoded.features(of: item) ?? [] { x[f] = Double(v) }
          x[encoded.featureCount] = 1  // a constant: the shared part's intercept
          return x
        }
      }
      let names = policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      let factories = try names.map {
        try makePolicy($0, arms: world.armCount, dimension: world.contextDimension, armFeatures: armFeatures)
      }
      let seedList = (0..<seeds).map { firstSeed &+ UInt64($0) }
      var results: [SimulationResult] = []
      for (name, factory) in zip(names, factories) {
        if format == .table { FileHandle.standardError.write(Data("  running \(name)…\n".utf8)) }
        results.append(try BanditSimulation.run(factory, on: world, rounds: rounds, seeds: seedList))
      }
      if let savePolicies {
        for (result, name) in zip(results, names) {
          guard let final = result.finalPolicy else { continue }
          try PolicyFile.write(final, to: savePolicies + "/\(name).json")
        }
      }
      if let plot {
        let svg = BanditSimulation.svg(
          results, title: "\(world.name): \(world.armCount) arms, \(rounds) rounds, mean of \(seeds) seeds")
        try AtomicFile.write(Data(svg.utf8), to: plot)
      }
      if format == .json {
        // JSON Lines: one compact object per policy.
        for result in results { print(try Output.json(result, compact: true)) }
        return
      }
      print("\(world.name): \(world.armCount) arms, \(world.userIDs.count) users, \(rounds) rounds × \(seeds) seeds; best fixed arm \(String(format: "%.4f", world.bestFixedArmValue))")
      print(Output.table(
        ["policy", "mean reward", "95% CI", "regret", "seconds"],
        results.map {
          [$0.policy, String(format: "%.4f", $0.meanReward), String(format: "[%.4f, %.4f]", $0.ciLow, $0.ciHigh),
           String(format: "%.1f", $0.regret), String(format: "%.2f", $0.seconds)]
        }))
      if let plot { print("wrote \(plot)") }
    }
  }
}

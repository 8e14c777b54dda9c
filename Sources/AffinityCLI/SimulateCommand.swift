import AffinityBandits
import AffinityCatalog
import AffinityCore
import AffinityPipeline
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
      The synthetic environment needs no files: the built-in synthetic world (--world-seed) as a
      slate user simulator. The arms are its --pool most-rated items; each round a user is drawn,
      the policy shows --slate-size of them, and the user clicks at most one by a multinomial logit
      with a no-click option (utility --no-click), position bias 1/(p+1)^--position-bias, fatigue
      (--fatigue per showing, --click-fatigue more per click, kept at --fatigue-decay per later
      visit, --topic-fatigue of it shared with the item's genres) and taste drift (--drift per
      visit). Contexts are the user's gender, age bucket and occupation plus a constant; the
      reward is clicks per round; policies learn 1 for the clicked arm and 0 for the other shown
      ones (--feedback all-shown) or only for the arms down to the click (--feedback cascade).
      Regret is against the best fixed slate: chosen for a fresh world, valued by simulation.
      Every policy sees the same users within a seed. Prints the mean reward per round with a 95 %
      t-interval over seeds and the regret against the best fixed arm; --plot writes an SVG.
      Policies: random, epsilon-greedy (epsilon, decay), softmax (temperature), ucb1 (alpha),
      kl-ucb (c), thompson (prior_alpha, prior_beta), gaussian-thompson (prior_mean,
      prior_variance, noise_variance); contextual: linucb (alpha, regularization), lin-ts (scale,
      regularization), lin-epsilon-greedy (epsilon, regularization), logistic-ucb and logistic-ts
      (scale, regularization), hybrid-linucb (alpha, regularization; needs --item-features with
      movielens, uses the items' genres with synthetic: the arms' features are shared across arms).
      Example: affinity simulate --data ml-100k.inter --user-features ml-100k.user \\
                 --policy random,epsilon-greedy,ucb1,thompson,linucb --rounds 10000 --seeds 5 --plot ctr.svg
               affinity simulate --environment synthetic --policy random,thompson,linucb --slate-size 5
      """)

  @Option(help: "Comma-separated policies.") var policy: String = ""
  @Option(help: "Also run a served pipeline (JSON, docs/pipeline.md) on the synthetic slates, as affinity serve answers.")
  var pipeline: String?
  @Option(help: "The model the pipeline serves, trained on the synthetic world's ratings.") var pipelineModel: String = "als"
  @Option(name: .customLong("pipeline-param"), help: "A hyperparameter of the pipeline's model, key=value (repeatable).")
  var pipelineParameters: [String] = []
  @Option(name: .customLong("param"), help: "policy.key=value or key=value for every policy (repeatable).")
  var parameters: [String] = []
  @Option(help: "Environment: movielens (needs --data) or synthetic (slates over the built-in synthetic world).")
  var environment: String = "movielens"
  @Option(help: "Ratings for the movielens environment (u.data, RecBole .inter or CSV).") var data: String?
  @Option(help: "User features for contexts (GroupLens u.user, RecBole .user or CSV).") var userFeatures: String?
  @Option(help: "Item features for the arms (GroupLens u.item, RecBole .item or CSV): hybrid-linucb's shared part.")
  var itemFeatures: String?
  @Option(help: "Item feature columns for the arms, comma-separated (for MovieLens: class, the genres).")
  var itemFeatureColumns: String?
  @Option(help: "Save each policy as it is after the last seed's run (a JSON policy file per policy) in this folder.")
  var savePolicies: String?
  @Option(help: "Number of arms (most-rated items; movielens).") var arms: Int = 20
  @Option(help: "A rating ≥ this is a reward of 1 (movielens).") var threshold: Float = 4
  @Option(help: "Items shown per round (synthetic).") var slateSize: Int = Self.slateDefaults.slateSize
  @Option(help: "Number of arms: the most-rated items of the world (synthetic).") var pool: Int = Self.slateDefaults.poolSize
  @Option(help: "Seed of the synthetic world (synthetic).") var worldSeed: UInt64 = 42
  @Option(help: "Multiplier of the latent taste x_uᵀy_i in an item's utility (synthetic).")
  var tasteScale: Double = Self.slateDefaults.tasteScale
  @Option(help: "Utility of not clicking; higher means fewer clicks (synthetic).")
  var noClick: Double = Self.slateDefaults.noClickUtility
  @Option(help: "η: position p is examined with probability 1/(p+1)^η; 0 is off (synthetic).")
  var positionBias: Double = Self.slateDefaults.positionBiasExponent
  @Option(help: "Standard deviation of a user's taste step per visit; 0 is off (synthetic).")
  var drift: Double = Self.slateDefaults.driftStandardDeviation
  @Option(help: "Fatigue added to an item each time it is shown to a user; 0 is off (synthetic).")
  var fatigue: Double = Self.slateDefaults.fatiguePerShow
  @Option(help: "Fatigue added on top when the user clicks it (synthetic).")
  var clickFatigue: Double = Self.slateDefaults.fatiguePerClick
  @Option(help: "Fraction of fatigue left after each later visit of the user, 0…1 (synthetic).")
  var fatigueDecay: Double = Self.slateDefaults.fatigueDecay
  @Option(help: "Share of each fatigue increment that also goes to the item's genres (synthetic).")
  var topicFatigue: Double = Self.slateDefaults.topicFatigueShare
  @Option(help: "What policies learn from a slate: all-shown or cascade (synthetic).") var feedback: String = "all-shown"
  @Option(help: "Rounds per run.") var rounds: Int = 10_000
  @Option(help: "Number of seeds (runs).") var seeds: Int = 5
  @Option(help: "The first seed; runs use first-seed … first-seed + seeds − 1.") var firstSeed: UInt64 = 1
  @Option(help: "Write a reward-over-time chart (SVG) here.") var plot: String?
  @Option(help: "table, or json (one JSON object per policy and line).") var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  static let slateDefaults = SlateEnvironment.Configuration()

  /// The slate simulator's knobs from the options.
  var slateConfiguration: SlateEnvironment.Configuration {
    SlateEnvironment.Configuration(
      poolSize: pool, slateSize: slateSize, tasteScale: tasteScale, noClickUtility: noClick,
      positionBiasExponent: positionBias, driftStandardDeviation: drift, fatiguePerShow: fatigue,
      fatiguePerClick: clickFatigue, fatigueDecay: fatigueDecay, topicFatigueShare: topicFatigue)
  }

  var feedbackRule: SlateFeedbackRule { feedback == "cascade" ? .cascade : .allShown }

  func validate() throws {
    if rounds < 1 || seeds < 1 || arms < 1 { throw ValidationError("--rounds, --seeds and --arms must be ≥ 1") }
    if policy.isEmpty && pipeline == nil { throw ValidationError("give --policy NAME[,NAME…], or --pipeline FILE with --environment synthetic") }
    if pipeline != nil && environment != "synthetic" {
      throw ValidationError("--pipeline runs on --environment synthetic (slates); the movielens environment shows one arm per round")
    }
    switch environment {
    case "movielens":
      if data == nil {
        throw ValidationError("--environment movielens needs --data (a ratings file); --environment synthetic needs none")
      }
    case "synthetic":
      let given = [("--data", data), ("--user-features", userFeatures), ("--item-features", itemFeatures),
                   ("--item-feature-columns", itemFeatureColumns)].filter { $0.1 != nil }.map(\.0)
      if !given.isEmpty {
        throw ValidationError(
          "\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") only to --environment movielens; the synthetic environment uses its own users' and items' features")
      }
      let items = SyntheticWorld.Configuration().itemCount
      if pool > items { throw ValidationError("--pool must be ≤ \(items) (the synthetic world's items); got \(pool)") }
      if feedback != "all-shown" && feedback != "cascade" {
        throw ValidationError("--feedback must be all-shown or cascade; got '\(feedback)'")
      }
      do throws(ConfigurationError) {
        try slateConfiguration.validate()
      } catch {
        let flags = [
          "poolSize": "--pool", "slateSize": "--slate-size", "tasteScale": "--taste-scale", "noClickUtility": "--no-click",
          "positionBiasExponent": "--position-bias", "driftStandardDeviation": "--drift", "fatiguePerShow": "--fatigue",
          "fatiguePerClick": "--click-fatigue", "fatigueDecay": "--fatigue-decay", "topicFatigueShare": "--topic-fatigue",
        ]
        let requirement = error.requirement.replacingOccurrences(of: "poolSize", with: "--pool")
        throw ValidationError("\(flags[error.parameter] ?? error.parameter) must be \(requirement); got \(error.value)")
      }
    default:
      throw ValidationError("--environment must be movielens or synthetic; got '\(environment)'")
    }
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
      // noise_variance 0.25: best of 0.25, 0.5, 1 on seeds 101–105 of the movielens environment
      // (0.1 scored 0.012 higher there, within seed noise; kept at 0.25).
      let mean = try value(name, "prior_mean", default: 0)
      let variance = try value(name, "prior_variance", default: 1)
      let noise = try value(name, "noise_variance", default: 0.25)
      return { GaussianThompsonSampling(arms: arms, priorMean: mean, priorVariance: variance, noiseVariance: noise) }
    case "lin-epsilon-greedy":
      // 0.1 was best of 0.05, 0.1, 0.2 on seeds 101–105 of the movielens environment.
      let epsilon = try value(name, "epsilon", default: 0.1)
      let regularization = try value(name, "regularization", default: 1)
      return { LinearEpsilonGreedy(arms: arms, dimension: dimension, epsilon: epsilon, regularization: regularization) }
    case "logistic-ucb", "logistic-ts":
      // 0.1 for both: best of 0.1, 0.25, 0.5, 1 on seeds 101–105 of the movielens environment
      // (0.025 and 0.05 were within seed noise of it).
      let scale = try value(name, "scale", default: 0.1)
      let regularization = try value(name, "regularization", default: 1)
      let mode: LogisticBandit.Mode = name == "logistic-ucb" ? .ucb : .thompson
      return {
        LogisticBandit(arms: arms, dimension: dimension, mode: mode, explorationScale: scale, regularization: regularization)
      }
    case "hybrid-linucb":
      guard let armFeatures else { throw ValidationError("hybrid-linucb needs --item-features for the arms") }
      // 0.25 was best of 0.1, 0.25, 0.5, 1 on seeds 101–105 of the movielens environment (genres as arm features).
      let alpha = try value(name, "alpha", default: 0.25)
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
      if environment == "synthetic" { return try runSlates() }
      guard let data else { throw ValidationError("--environment movielens needs --data (a ratings file)") }
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
      let names = policyNames
      let factories = try names.map {
        try makePolicy($0, arms: world.armCount, dimension: world.contextDimension, armFeatures: armFeatures)
      }
      var results: [SimulationResult] = []
      for (name, factory) in zip(names, factories) {
        if format == .table { FileHandle.standardError.write(Data("  running \(name)…\n".utf8)) }
        results.append(try BanditSimulation.run(factory, on: world, rounds: rounds, seeds: seedList))
      }
      let svg = BanditSimulation.svg(
        results, title: "\(world.name): \(world.armCount) arms, \(rounds) rounds, mean of \(seeds) seeds")
      try report(
        results, names: names, svg: svg,
        header: "\(world.name): \(world.armCount) arms, \(world.userIDs.count) users, \(rounds) rounds × \(seeds) seeds; best fixed arm \(String(format: "%.4f", world.bestFixedArmValue))"
      )
    }
  }

  var policyNames: [String] { policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
  var seedList: [UInt64] { (0..<seeds).map { firstSeed &+ UInt64($0) } }

  /// The synthetic environment: slates over the built-in synthetic world.
  func runSlates() throws {
    let world = try SyntheticWorld(seed: worldSeed)
    let simulator = try SlateEnvironment(world: world, configuration: slateConfiguration)
    var names = policyNames
    let factories = try names.map {
      try makePolicy(
        $0, arms: simulator.armCount, dimension: simulator.contextDimension, armFeatures: simulator.armFeatures)
    }
    let baseline = try SlateSimulation.bestFixedSlate(on: simulator, rounds: rounds, seeds: seedList)
    var results: [SimulationResult] = []
    for (name, factory) in zip(names, factories) {
      if format == .table { FileHandle.standardError.write(Data("  running \(name)…\n".utf8)) }
      results.append(
        try SlateSimulation.run(
          factory, on: simulator, rounds: rounds, seeds: seedList, feedback: feedbackRule, baseline: baseline))
    }
    if let pipeline {
      let value = try Pipeline.load(contentsOf: pipeline)
      let parameters = try ModelCatalog.parseParameters(pipelineParameters)
      if format == .table { FileHandle.standardError.write(Data("  training \(pipelineModel) for the pipeline…\n".utf8)) }
      let agent = try PipelineAgent(
        pipeline: value, model: pipelineModel, parameters: parameters, world: world, environment: simulator, seed: firstSeed)
      results.append(try SlateSimulation.run({ agent }, on: simulator, rounds: rounds, seeds: seedList, baseline: baseline))
      names.append(agent.name)
    }
    let title = "synthetic slates: \(slateSize) of \(simulator.armCount) items, \(rounds) rounds, mean of \(seeds) seeds"
    // The chart's dashed line is the best fixed slate here, not a single arm.
    let svg = BanditSimulation.svg(results, title: title, baselineLabel: "best fixed slate")
    let items = baseline.arms.map { simulator.poolItems[$0].rawValue }.joined(separator: ", ")
    let setting = "\(simulator.name): slates of \(slateSize) from the \(simulator.armCount) most-rated items, "
      + "\(simulator.userCount) users, \(rounds) rounds × \(seeds) seeds; mean reward = clicks per round"
    let fixed = "best fixed slate [\(items)]: "
      + String(format: "%.4f clicks per round (%.4f expected in a fresh world)", baseline.value, baseline.freshValue)
    try report(results, names: names, svg: svg, header: setting + "\n" + fixed)
  }

  /// Saves the policies, writes the chart and prints the table or JSON lines.
  func report(_ results: [SimulationResult], names: [String], svg: String, header: String) throws {
    if let savePolicies {
      for (result, name) in zip(results, names) {
        guard let final = result.finalPolicy else { continue }
        try PolicyFile.write(final, to: savePolicies + "/\(name).json")
      }
    }
    if let plot { try AtomicFile.write(Data(svg.utf8), to: plot) }
    if format == .json {
      // JSON Lines: one compact object per policy.
      for result in results { print(try Output.json(result, compact: true)) }
      return
    }
    print(header)
    print(Output.table(
      ["policy", "mean reward", "95% CI", "regret", "seconds"],
      results.map {
        [$0.policy, String(format: "%.4f", $0.meanReward), String(format: "[%.4f, %.4f]", $0.ciLow, $0.ciHigh),
         String(format: "%.1f", $0.regret), String(format: "%.2f", $0.seconds)]
      }))
    if let plot { print("wrote \(plot)") }
  }
}

import AffinityBandits
import AffinityCore
import AffinityReinforcement
public import ArgumentParser
import Foundation

/// `affinity rl simulate`: REINFORCE (top-K off-policy correction) trained on logged slates, DQN
/// learning online, the logging policy and bandits, all measured online in the synthetic slate world.
public struct RLSimulateCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Compare REINFORCE (top-K corrected, trained on logs), DQN and bandits online in the synthetic slate world.",
    discussion: """
      The world is `affinity simulate --environment synthetic`'s with its default dynamics (position \
      bias, fatigue, drift): slates of --slate-size from the --pool most-rated items of the synthetic \
      world (--world-seed). Per seed s: a popularity-softmax logging policy writes --logged-rounds \
      slates with their propensities (session seed s + 10000); the REINFORCE variants train on them \
      and are then frozen. Every policy then runs --rounds rounds in a fresh session with seed s, \
      so within a seed all meet the same users; DQN and the bandits learn during that run. \
      The RL policies' state is the user's context plus decayed memories of their clicks and of \
      what they were shown (--state history); the bandits see the context only (--state context \
      gives the RL policies the same).
      Policies: reinforce (top-K corrected), reinforce-ips (λ = 1), reinforce-naive (no correction), \
      reinforce-learned-beta (top-K with a learned behaviour network), dqn, logging, linucb, \
      thompson, random. Prints the mean clicks per round with a 95 % t-interval over seeds.
      Example: affinity rl simulate --policy reinforce,dqn,linucb,thompson,random --seeds 3 --rounds 10000 --plot rl.svg
      """)

  @Option(help: "Comma-separated policies.")
  var policy: String = "reinforce,reinforce-ips,reinforce-naive,dqn,logging,linucb,thompson,random"
  @Option(help: "Number of seeds (runs); seeds are first-seed … first-seed + seeds − 1.") var seeds: Int = 3
  @Option(help: "The first seed.") var firstSeed: UInt64 = 1
  @Option(help: "Rounds per measured run.") var rounds: Int = 10_000
  @Option(help: "Logged rounds per seed for REINFORCE.") var loggedRounds: Int = 20_000
  @Option(help: "REINFORCE training epochs over the logged clicks.") var epochs: Int = 30
  @Option(help: "REINFORCE learning rate.") var learningRate: Float = 0.002
  @Option(help: "Cap on the importance weight π/β.") var weightCap: Float = 10
  @Option(help: "How REINFORCE fills a slate: sample (K draws from π) or greedy (top K of π).")
  var serving: String = "sample"
  @Option(help: "DQN rounds in a separate session before the measured run (0: learns only during it).")
  var dqnPretrainRounds: Int = 0
  @Option(help: "DQN discount per visit of the same user.") var gamma: Float = 0.5
  @Option(help: "DQN target update: soft (τ = 0.01 per update) or hard (copy every 250 updates).")
  var targetUpdate: String = "soft"
  @Option(help: "The RL policies' state: history (context, click and show memories) or context (the bandits' state).")
  var state: String = "history"
  @Option(help: "Items shown per round.") var slateSize: Int = SlateEnvironment.Configuration().slateSize
  @Option(help: "Number of arms: the most-rated items of the world.") var pool: Int = SlateEnvironment.Configuration().poolSize
  @Option(help: "Seed of the synthetic world.") var worldSeed: UInt64 = 42
  @Option(help: "Write the clicks-per-round curves (SVG) here.") var plot: String?
  @Option(help: "Write the results (JSON) here.") var json: String?
  @Flag(help: "No progress bar.") var quiet = false

  public init() {}

  var policyNames: [String] {
    policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  public func validate() throws {
    if rounds < 1 || seeds < 1 || loggedRounds < 1 || epochs < 1 {
      throw ValidationError("--rounds, --seeds, --logged-rounds and --epochs must be ≥ 1")
    }
    if policyNames.isEmpty { throw ValidationError("--policy needs at least one policy") }
    let known = RLSlatePolicy.allCases.map(\.rawValue)
    for name in policyNames where RLSlatePolicy(rawValue: name) == nil {
      throw ValidationError("unknown policy '\(name)'; policies: \(known.joined(separator: ", "))")
    }
    if TopKReinforce.Serving(rawValue: serving) == nil {
      throw ValidationError("--serving must be sample or greedy; got '\(serving)'")
    }
    if state != "history" && state != "context" {
      throw ValidationError("--state must be history or context; got '\(state)'")
    }
    if targetUpdate != "soft" && targetUpdate != "hard" {
      throw ValidationError("--target-update must be soft or hard; got '\(targetUpdate)'")
    }
    if dqnPretrainRounds < 0 { throw ValidationError("--dqn-pretrain-rounds must be ≥ 0; got \(dqnPretrainRounds)") }
    let items = SyntheticWorld.Configuration().itemCount
    if pool < 1 || pool > items { throw ValidationError("--pool must be in 1…\(items); got \(pool)") }
    if slateSize < 1 || slateSize > pool {
      throw ValidationError("--slate-size must be in 1…--pool (\(pool)); got \(slateSize)")
    }
    do throws(ConfigurationError) {
      try experimentConfiguration.validate()
    } catch {
      let flags = [
        "learningRate": "--learning-rate", "weightCap": "--weight-cap", "gamma": "--gamma", "epochs": "--epochs",
      ]
      throw ValidationError("\(flags[error.parameter] ?? error.parameter) must be \(error.requirement); got \(error.value)")
    }
  }

  var experimentConfiguration: RLSlateExperiment.Configuration {
    RLSlateExperiment.Configuration(
      rounds: rounds, seeds: (0..<max(seeds, 0)).map { firstSeed &+ UInt64($0) }, loggedRounds: loggedRounds,
      reinforce: TopKReinforce.Configuration(
        learningRate: learningRate, epochs: epochs, weightCap: weightCap,
        serving: TopKReinforce.Serving(rawValue: serving) ?? .sample, usesHistory: state == "history"),
      dqn: SlateDQN.Configuration(
        gamma: gamma, targetUpdate: targetUpdate == "hard" ? .hard(period: 250) : .soft(tau: 0.01),
        usesHistory: state == "history"),
      dqnPretrainRounds: dqnPretrainRounds)
  }

  struct Report: Encodable {
    var setting: String
    var bestFixedSlate: Double
    var loggedClickRates: [Double]
    var trainingSeconds: [String: Double]
    var results: [SimulationResult]
    var reinforceFinalLoss: [String: [Float]]

    enum CodingKeys: String, CodingKey {
      case setting, results
      case bestFixedSlate = "best_fixed_slate"
      case loggedClickRates = "logged_click_rates"
      case trainingSeconds = "training_seconds"
      case reinforceFinalLoss = "reinforce_final_loss"
    }
  }

  public func run() throws {
    try CLIErrors.mapped {
      let world = try SyntheticWorld(seed: worldSeed)
      let environment = try SlateEnvironment(
        world: world, configuration: SlateEnvironment.Configuration(poolSize: pool, slateSize: slateSize))
      let policies = policyNames.compactMap(RLSlatePolicy.init(rawValue:))
      let bar = ProgressBar(enabled: !quiet)
      var current = ""
      let outcome = try RLSlateExperiment.run(
        policies, environment: environment, configuration: experimentConfiguration
      ) { label, fraction in
        if label != current {
          if !current.isEmpty { bar.finish("") }
          current = label
          bar.begin(label)
        }
        bar.update(fraction: fraction, detail: "")
      }
      if !current.isEmpty { bar.finish("") }
      let setting =
        "synthetic slates (world seed \(worldSeed)): \(slateSize) of \(environment.armCount) items, "
        + "\(environment.userCount) users, \(rounds) rounds × \(seeds) seeds, \(loggedRounds) logged rounds per seed, "
        + "RL state: \(state)"
      if let plot {
        let svg = BanditSimulation.svg(
          outcome.results, title: "\(slateSize) of \(environment.armCount) items, \(rounds) rounds, mean of \(seeds) seeds",
          baselineLabel: "best fixed slate")
        try AtomicFile.write(Data(svg.utf8), to: plot)
      }
      if let json {
        let report = Report(
          setting: setting, bestFixedSlate: outcome.baseline.value, loggedClickRates: outcome.loggedClickRates,
          trainingSeconds: outcome.trainingSeconds, results: outcome.results,
          reinforceFinalLoss: outcome.reinforceLosses.mapValues { $0.compactMap(\.last) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(report), to: json)
      }
      print(setting)
      let logged = outcome.loggedClickRates.map { String(format: "%.4f", $0) }.joined(separator: ", ")
      print(
        String(format: "best fixed slate: %.4f clicks per round", outcome.baseline.value)
          + (logged.isEmpty ? "" : "; logging policy while writing the logs: \(logged)"))
      print(
        Output.table(
          ["policy", "clicks/round", "95% CI", "train s", "run s"],
          outcome.results.map {
            [
              $0.policy, String(format: "%.4f", $0.meanReward), String(format: "[%.4f, %.4f]", $0.ciLow, $0.ciHigh),
              outcome.trainingSeconds[$0.policy].map { String(format: "%.1f", $0) } ?? "—",
              String(format: "%.1f", $0.seconds),
            ]
          }))
      if let plot { print("wrote \(plot)") }
      if let json { print("wrote \(json)") }
    }
  }
}

import AffinityCore
import AffinityEvaluation
import AffinityFactorization
import AffinityLinalg
import AffinityNeural
import AffinityReinforcement
import ArgumentParser
import Foundation

/// `affinity rl …`: deep reinforcement-learning recommenders.
struct RLCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rl",
    abstract: "Deep RL recommenders: DRR (DDPG actor-critic) on MovieLens, REINFORCE and DQN in the synthetic world; time one update.",
    subcommands: [
      RLTrainCommand.self, RLEvaluateCommand.self, RLBaselinesCommand.self, RLBenchCommand.self, RLSimulateCommand.self,
    ])
}

/// `affinity rl bench`: the time of one DDPG update on random data (the shape of DRR's defaults).
struct RLBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time one DDPG update (critic step, actor step, soft target updates) on random data.",
    discussion: """
      The networks are DRR's: actor 3d → hidden → hidden → d (tanh), critic 4d → hidden → hidden → 1.
      scripts/compare_ddpg_speed.py runs this beside PyTorch in one run.
      """)

  @Option(help: "Embedding width d (state 3d, action d).") var embedding: Int = 100
  @Option(help: "Minibatch size.") var batch: Int = 64
  @Option(help: "Hidden width of both networks (two layers).") var hidden: Int = 256
  @Option(help: "Timed updates per trial (after 50 warm-up updates).") var updates: Int = 2_000
  @Option(help: "Trials; the best is reported.") var trials: Int = 3
  @Option(help: "Threads (the update runs on one; accepted for the comparison script).") var threads: Int = 1
  @Flag(help: "Print one JSON object.") var json = false
  @Flag(help: "Also time the layer kernels (GFLOP/s) of the update's matrix shapes.") var kernels = false

  struct Result: Encodable {
    var seconds_per_update: Double
    var updates: Int
    var threads: Int
    var batch: Int
    var embedding: Int
    var hidden: Int
    var trials: Int
    var dtype = "float32"
    var phases: [String: Double]
  }

  func validate() throws {
    guard embedding >= 1, batch >= 1, hidden >= 1, updates >= 1, trials >= 1 else {
      throw ValidationError("--embedding, --batch, --hidden, --updates and --trials must be ≥ 1")
    }
    guard threads == 1 else { throw ValidationError("--threads: one DDPG update runs on 1 thread; got \(threads)") }
  }

  func run() throws {
    let d = embedding
    var agent = try DDPG(
      DDPG.Configuration(stateWidth: 3 * d, actionWidth: d, hidden: [hidden, hidden]), seed: 1)
    var generator = SeededGenerator(seed: 2)
    func random(_ rows: Int, _ columns: Int) -> Matrix {
      Matrix(rows: rows, columns: columns, storage: (0..<(rows * columns)).map { _ in Float(2 * generator.nextUniform() - 1) })
    }
    let sample = DDPG.Batch(
      states: random(batch, 3 * d), actions: random(batch, d), rewards: (0..<batch).map { _ in Float(generator.nextUniform()) },
      nextStates: random(batch, 3 * d), done: (0..<batch).map { $0 % 10 == 0 },
      weights: (0..<batch).map { _ in Float(generator.nextUniform()) })
    var checksum: Float = 0
    for _ in 0..<50 { checksum += agent.update(sample).criticLoss }
    var best = Double.infinity
    for _ in 0..<trials {
      let start = DispatchTime.now().uptimeNanoseconds
      for _ in 0..<updates { checksum += agent.update(sample).criticLoss }
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      best = min(best, elapsed / Double(updates))
    }
    // One more, instrumented run splits an update into its phases.
    var phases = DDPG.PhaseTimes()
    let profiled = max(updates / 4, 1)
    for _ in 0..<profiled { checksum += agent.update(sample, phases: &phases).criticLoss }
    let result = Result(
      seconds_per_update: best, updates: updates, threads: threads, batch: batch, embedding: d, hidden: hidden,
      trials: trials,
      phases: [
        "target": phases.target / Double(profiled), "critic": phases.critic / Double(profiled),
        "actor": phases.actor / Double(profiled), "soft_update": phases.softUpdate / Double(profiled),
      ])
    if kernels {
      for (m, n, k) in [(batch, hidden, 3 * d), (batch, hidden, hidden), (batch, d, hidden), (batch, hidden, 4 * d)] {
        let a = random(m, k), b = random(k, n), bt = random(n, k), at = random(k, m)
        var c = Matrix(rows: m, columns: n)
        let reps = 400
        func time(_ body: () -> Void) -> Double {
          let start = DispatchTime.now().uptimeNanoseconds
          for _ in 0..<reps { body() }
          return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(reps)
        }
        let flops = 2.0 * Double(m * n * k)
        let nn = time { Gemm.multiply(a, b, into: &c, transposeA: false, accumulate: false) }
        let tn = time { Gemm.multiply(at, b, into: &c, transposeA: true, accumulate: false) }
        var cn = Matrix(rows: m, columns: n)
        let nt = time { Gemm.multiplyTransposed(a, bt, into: &cn) }
        let nt2 = time { Gemm.multiplyByTransposing(a, bt, into: &cn) }
        print(String(format: "m %d n %d k %d: a·b %.1f  aᵀ·b %.1f  a·bᵀ %.1f (by transposing %.1f) GFLOP/s", m, n, k,
          flops / nn / 1e9, flops / tn / 1e9, flops / nt / 1e9, flops / nt2 / 1e9))
      }
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      print(String(decoding: try encoder.encode(result), as: UTF8.self))
    } else {
      print(String(format: "one DDPG update (batch %d, d %d, hidden %d): %.1f µs (best of %d × %d; checksum %.3g)",
        batch, d, hidden, best * 1e6, trials, updates, Double(checksum)))
    }
  }
}

/// DRR's knobs shared by `rl train` and `rl evaluate`.
struct DRROptions: ParsableArguments {
  @Option(help: "State representation: drr-ave, drr-u or drr-p.") var stateModule: String = "drr-ave"
  @Option(help: "Training episodes (10 steps each by default).") var episodes: Int = 3_000
  @Option(help: "Steps per episode.") var episodeLength: Int = 10
  @Option(help: "Items in a state (N).") var history: Int = 5
  @Option(help: "Embedding width: the rating model's factors.") var embedding: Int = 100
  @Option(help: "Hidden widths of actor and critic, comma-separated.") var hidden: String = "256,256"
  @Option(help: "Actor learning rate.") var actorLearningRate: Float = 0.0005
  @Option(help: "Critic learning rate.") var criticLearningRate: Float = 0.001
  @Option(help: "Soft target update rate τ.") var tau: Float = 0.001
  @Option(help: "Discount γ.") var gamma: Float = 0.9
  @Option(help: "Replay capacity.") var replay: Int = 200_000
  @Option(help: "Minibatch size.") var batch: Int = 64
  @Option(help: "Initial Gaussian action noise σ (decays to --final-noise).") var noise: Float = 0.03
  @Option(help: "Final action noise σ.") var finalNoise: Float = 0.01
  @Option(help: "Initial ε of ε-greedy item choice (decays to 0).") var epsilon: Float = 0.1
  @Flag(help: "Layer norm in actor and critic.") var layerNorm = false
  @Flag(help: "Uniform replay instead of prioritised.") var uniformReplay = false
  @Flag(help: "Do not append the item bias to the item embeddings.") var noItemBias = false
  @Flag(help: "Actions in the tanh box, as in the paper, instead of on the unit sphere.") var tanhActions = false
  @Option(help: "Action stored in replay: item (the recommended item's embedding) or actor (the noisy actor output, as in the paper).")
  var replayAction: String = "item"
  @Flag(help: "Critic input [s, a] only, as in the paper (default adds a ⊙ user).") var plainCritic = false
  @Flag(help: "Let training episodes re-recommend items the user rated in training (observed rewards).")
  var includeRatedItems = false
  @Option(help: "Score the greedy policy in the simulator every N episodes and keep the best (0: keep the last).")
  var selectionInterval: Int = 50
  @Option(help: "Training users (a seeded sample) that checkpoint selection scores.") var selectionUsers: Int = 200
  @Option(help: "Gradient-norm clip of actor and critic.") var clipNorm: Float?
  @Option(help: "Learning algorithm: ddpg (the paper's) or td3 (twin critics, delayed actor, target-action noise).")
  var algorithm: String = "ddpg"
  @Option(help: "TD3's target-action noise σ per coordinate of the unit action (clipped to ±2.5σ).")
  var targetNoise: Float = 0.01
  @Option(help: "Rating model: pmf (the DRR paper's simulator) or svd (biased MF).") var ratingModel: String = "pmf"
  @Option(help: "Rating model epochs.") var ratingEpochs: Int = 100
  @Option(help: "Rating model regularisation.") var ratingRegularization: Float = 0.1

  func experiment() throws -> DRRExperiment.Configuration {
    guard let module = DRR.StateModule(rawValue: stateModule) else {
      throw ValidationError("--state-module must be one of \(DRR.StateModule.allCases.map(\.rawValue).joined(separator: ", ")); got '\(stateModule)'")
    }
    let widths = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !widths.isEmpty, widths.allSatisfy({ ($0 ?? 0) > 0 }) else {
      throw ValidationError("--hidden must be positive widths separated by commas, such as 256,256; got '\(hidden)'")
    }
    guard ["pmf", "svd"].contains(ratingModel) else {
      throw ValidationError("--rating-model must be pmf or svd; got '\(ratingModel)'")
    }
    guard ["ddpg", "td3"].contains(algorithm) else {
      throw ValidationError("--algorithm must be ddpg or td3; got '\(algorithm)'")
    }
    guard let stored = DRR.Configuration.ReplayAction(rawValue: replayAction) else {
      throw ValidationError("--replay-action must be item or actor; got '\(replayAction)'")
    }
    var drr = DRR.Configuration(
      stateModule: module, historyLength: history, hidden: widths.compactMap { $0 }, actorLearningRate: actorLearningRate,
      criticLearningRate: criticLearningRate, tau: tau, gamma: gamma, replayCapacity: replay, batchSize: batch,
      episodes: episodes, episodeLength: episodeLength, explorationNoise: noise, finalNoise: finalNoise,
      epsilon: epsilon, usesItemBias: !noItemBias, layerNorm: layerNorm, clipNorm: clipNorm,
      prioritized: !uniformReplay, normalizesActions: !tanhActions, replayAction: stored,
      criticInteractions: !plainCritic, excludesRatedItems: !includeRatedItems,
      selectionInterval: selectionInterval, selectionUsers: selectionUsers)
    if algorithm == "td3" { drr = drr.td3(targetNoise: targetNoise) }
    try drr.validate()
    var rating = DRRExperiment.defaultRatingModel
    rating.embeddingSize = embedding
    rating.epochs = ratingEpochs
    rating.regularization = ratingRegularization
    rating.usesBiases = ratingModel == "svd"
    try rating.validate()
    return DRRExperiment.Configuration(drr: drr, ratingModel: rating)
  }
}

/// `affinity rl evaluate`: train DRR on seeded splits and report all three protocols together.
struct RLEvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Train DRR per seed and report the paper's re-ranking protocol, full-catalogue ranking and online reward.",
    discussion: """
      Each seed splits the ratings at random 80/20, fits the rating model (the simulator and the
      item embeddings) on the training part, trains DRR against the simulator, and evaluates:
        1. re-rank each test user's rated test items (the DRR paper's protocol), precision@5/@10;
        2. rank every item the user did not rate in training, precision@5/@10;
        3. mean reward of top-5 slates over 10-step episodes in the simulator.
      Seeds train concurrently, one per core; each seed's figures are those of a serial run.
      Example: affinity rl evaluate --data ml-100k.inter --seeds 1,2,3 --plot drr-curve.svg
      """)

  @Option(help: "Ratings file (headerless u.data, RecBole .inter or CSV).") var data: String
  @Option(help: "Seeds, comma-separated: each splits the data and trains (one per core at a time).")
  var seeds: String = "1,2,3"
  @Option(help: "Evaluate this trained agent (from `rl train`) on its seed's split instead of training; protocols 1 and 2.")
  var model: String?
  @OptionGroup var drr: DRROptions
  @OptionGroup var read: ReadOptions
  @Option(help: "Write the learning curves (SVG) here.") var plot: String?
  @Option(help: "Write every figure (JSON) here.") var json: String?
  @Flag(help: "Tune without the test set: split each seed's training part again (80/20, seed + 1000) and report on that validation part.")
  var validation = false
  @Flag(help: "No progress bar.") var quiet = false

  func run() throws {
    let seedList = seeds.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    guard !seedList.isEmpty else { throw ValidationError("--seeds must list integers, such as 1,2,3; got '\(seeds)'") }
    let data = try read.read(self.data)
    if let model {
      let bundle = try NeuralBundle.read(from: model)
      let agent = try DRR(bundle: bundle, file: model)
      // The agent's own split only: another seed's test set overlaps the training data it saw.
      if let trained = bundle.provenance["seed"], seedList != [UInt64(trained) ?? 0] {
        throw ValidationError("\(model) was trained on the split of seed \(trained); evaluate it with --seeds \(trained) (another seed's test ratings were in its training data)")
      }
      for seed in seedList {
        let split = try SplitMethod.random(testFraction: 0.2).split(data, seed: seed)
        guard agent.itemCount == split.train.items.count else {
          throw ValidationError("\(model) knows \(agent.itemCount) items but the seed-\(seed) training split has \(split.train.items.count): train and evaluate with the same --data and seed")
        }
        let (reranking, catalogue) = try DRRExperiment.rankings(
          drr: agent, ratingModel: nil, training: split.train, test: split.test, seed: seed)
        for (title, rows) in [("re-rank rated test items", reranking), ("full catalogue", catalogue)] {
          for row in rows {
            print("seed \(seed)  \(title):  " + row.cutoffs.map { String(format: "precision@%d %.4f (%d users)", $0.k, $0.precision, $0.users) }.joined(separator: "  "))
          }
        }
      }
      return
    }
    let configuration = try drr.experiment()
    let bar = ProgressBar(enabled: !quiet)
    let results = try Self.runSeeds(seedList, data: data, validation: validation, configuration: configuration, bar: bar)
    if validation { print("VALIDATION split (80/20 of each seed's training part, seed + 1000); the test set is not used") }
    print(Self.report(results, configuration: configuration))
    if let plot {
      try Self.writeCurves(results.map { ($0.seed, $0.learningCurve) }, module: configuration.drr.stateModule, to: plot)
    }
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(try encoder.encode(results), to: json)
    }
  }

  /// Every seed's experiment, in seed order. Seeds run concurrently, one per core: each has its
  /// own split, models and generator streams, so the figures equal a serial run's (only the
  /// timings differ). One progress bar follows all of them.
  static func runSeeds(
    _ seeds: [UInt64], data: InteractionData, validation: Bool, configuration: DRRExperiment.Configuration,
    bar: ProgressBar
  ) throws -> [DRRExperiment.Result] {
    let episodes = configuration.drr.episodes
    let board = SeedBoard(bar: bar, seeds: seeds)
    bar.begin(
      (seeds.count == 1 ? "DRR seed \(seeds[0])" : "DRR seeds \(seeds.map(String.init).joined(separator: ","))")
        + (validation ? " (validation)" : ""))
    let outcomes = Parallel.mapChunks(count: seeds.count, chunkCount: seeds.count, minimumParallelCount: 2) {
      range, _ -> Result<DRRExperiment.Result, any Error> in
      let seed = seeds[range.lowerBound]
      return Result {
        var split = try SplitMethod.random(testFraction: 0.2).split(data, seed: seed)
        if validation { split = try SplitMethod.random(testFraction: 0.2).split(split.train, seed: seed + 1000) }
        let report = Self.progress(board.updater(for: seed), episodes: episodes)
        return try DRRExperiment.run(
          training: split.train, test: split.test, configuration: configuration, seed: seed, progress: report
        ).result
      }
    }
    let results = try outcomes.map { try $0.get() }
    bar.finish(results.map { String(format: "seed %d %.0f s", $0.seed, $0.trainingSeconds) }.joined(separator: ", "))
    return results
  }

  /// The shared bar's state while seeds train concurrently: the fraction done per seed, and the
  /// latest detail line of each.
  final class SeedBoard: @unchecked Sendable {
    private let lock = NSLock()
    private let bar: ProgressBar
    private let seeds: [UInt64]
    private var done: [UInt64: Double] = [:]
    private var details: [UInt64: String] = [:]

    init(bar: ProgressBar, seeds: [UInt64]) {
      self.bar = bar
      self.seeds = seeds
    }

    /// What ``RLEvaluateCommand/progress(_:episodes:)`` reports for `seed`.
    func updater(for seed: UInt64) -> (Double, String) -> Void {
      { [self] fraction, detail in
        let (overall, line) = lock.withLock { () -> (Double, String) in
          done[seed] = fraction
          details[seed] = detail
          let overall = done.values.reduce(0, +) / Double(seeds.count)
          let running = seeds.filter { (done[$0] ?? 0) > 0 && (done[$0] ?? 0) < 1 }
          let line =
            running.count == 1 || seeds.count == 1
            ? (details[running.first ?? seed] ?? "")
            : running.map { "seed \($0): \(Int((done[$0] ?? 0) * 100))%" }.joined(separator: "  ")
          return (overall, line)
        }
        bar.update(fraction: overall, detail: line)
      }
    }
  }

  /// A training-progress callback for `bar`: episode, reward over the last 100 episodes, critic
  /// loss, mean Q, and the checkpoint score when one was taken.
  static func progress(_ bar: ProgressBar, episodes total: Int) -> (DRR.EpisodeLog) -> Void {
    progress({ bar.update(fraction: $0, detail: $1) }, episodes: total)
  }

  /// The same, reported to `update(fraction, detail)`.
  static func progress(_ update: @escaping (Double, String) -> Void, episodes total: Int) -> (DRR.EpisodeLog) -> Void {
    var recent: [Float] = []
    var selection = ""
    return { entry in
      recent.append(entry.meanReward)
      if recent.count > 100 { recent.removeFirst() }
      if let score = entry.selectionScore { selection = String(format: "  checkpoint %.3f", score) }
      guard entry.episode % 20 == 0 || entry.episode == total - 1 else { return }
      update(
        Double(entry.episode + 1) / Double(total),
        String(format: "episode %d/%d  reward %.3f  critic %.4f  Q %.3f", entry.episode + 1, total,
          recent.reduce(0, +) / Float(recent.count), entry.criticLoss, entry.meanQ) + selection)
    }
  }

  /// The training reward per step of each seed (moving average of 100 episodes) as an SVG chart.
  static func writeCurves(_ logs: [(seed: UInt64, log: [DRR.EpisodeLog])], module: DRR.StateModule, to path: String) throws {
    let series = logs.map { ("seed \($0.seed)", movingAverage($0.log.map { Double($0.meanReward) }, window: 100)) }
    let svg = LineChart.svg(
      series: series, title: "DRR (\(module.rawValue)) learning curve", xLabel: "episode",
      yLabel: "mean reward per step (moving average of 100)")
    try AtomicFile.write(Data(svg.utf8), to: path)
  }

  static func movingAverage(_ values: [Double], window: Int) -> [Double] {
    var out: [Double] = []
    var sum = 0.0
    for (i, v) in values.enumerated() {
      sum += v
      if i >= window { sum -= values[i - window] }
      out.append(sum / Double(min(i + 1, window)))
    }
    return out
  }

  /// Mean ± standard deviation over seeds of every scorer, per protocol.
  static func report(_ results: [DRRExperiment.Result], configuration: DRRExperiment.Configuration) -> String {
    func stats(_ values: [Double]) -> String {
      let mean = values.reduce(0, +) / Double(max(values.count, 1))
      let variance = values.count > 1
        ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1) : 0
      return String(format: "%.4f ± %.4f", mean, variance.squareRoot())
    }
    var lines: [String] = []
    lines.append("DRR \(configuration.drr.stateModule.rawValue), \(configuration.drr.episodes) episodes, seeds \(results.map { String($0.seed) }.joined(separator: ","))")
    for (title, pick) in [
      ("1. re-rank each user's rated test items (DRR paper protocol)", { (r: DRRExperiment.Result) in r.reranking }),
      ("2. full catalogue (every item unrated in training)", { (r: DRRExperiment.Result) in r.catalogue }),
    ] {
      lines.append("")
      lines.append(title)
      lines.append("  scorer                precision@5          precision@10         users@5/@10")
      guard let first = results.first else { continue }
      for (row, entry) in pick(first).enumerated() {
        let p5 = results.map { pick($0)[row].cutoffs.first { $0.k == 5 }?.precision ?? 0 }
        let p10 = results.map { pick($0)[row].cutoffs.first { $0.k == 10 }?.precision ?? 0 }
        let users = entry.cutoffs.map { String($0.users) }.joined(separator: "/")
        lines.append("  " + entry.name.padding(toLength: 22, withPad: " ", startingAt: 0) + stats(p5) + "    " + stats(p10) + "    " + users)
      }
    }
    lines.append("")
    lines.append("3. online: mean reward per shown item, top-\(configuration.onlineSlate) slates × \(configuration.onlineSteps) steps per user, in the simulator")
    for name in ["drr", "rating model", "linucb", "popularity", "ucb1", "epsilon-greedy", "random"] {
      lines.append("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + stats(results.map { $0.online[name] ?? 0 }))
    }
    // A seed "learns" when the agent kept by checkpoint selection scores clearly more in the
    // simulator than the untrained one (training data only), and beats random online.
    let learned = results.filter { r in
      r.selectionBest > r.selectionInitial + 0.1 && (r.online["drr"] ?? 0) > (r.online["random"] ?? 0) + 0.1
    }.count
    lines.append("")
    lines.append("mean cosine of DRR's action with the user's rating-model vector: " + stats(results.map(\.actionAlignment)))
    lines.append("checkpoint selection (greedy top-5 reward of up to \(configuration.drr.selectionUsers) training users in the simulator): before training "
      + stats(results.map(\.selectionInitial)) + ", kept " + stats(results.map(\.selectionBest))
      + ", kept after episode " + results.map { String($0.selectedEpisode) }.joined(separator: ", "))
    lines.append("seeds that learn (kept agent ≥ untrained + 0.1 in the simulator, and online ≥ random + 0.1): \(learned) of \(results.count)")
    lines.append(String(format: "training time per seed: %@ s", results.map { String(format: "%.0f", $0.trainingSeconds) }.joined(separator: ", ")))
    return lines.joined(separator: "\n")
  }
}

/// `affinity rl train`: train DRR on one seeded split and save it as a bundle.
struct RLTrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train DRR against the rating simulator of a seeded 80/20 split and save the agent.",
    discussion: """
      Example: affinity rl train --data ml-100k.inter --seed 1 --output drr.affinity --plot drr-curve.svg
      Then: affinity rl evaluate --data ml-100k.inter --model drr.affinity --seeds 1
      The same data, seed and options give the same agent.
      """)

  @Option(help: "Ratings file (headerless u.data, RecBole .inter or CSV).") var data: String
  @Option(help: "Seed of the split, the rating model and training.") var seed: UInt64 = 1
  @Option(help: "Where to write the agent (.affinity bundle).") var output: String
  @Option(help: "Write the learning curve (SVG) here.") var plot: String?
  @OptionGroup var drr: DRROptions
  @OptionGroup var read: ReadOptions
  @Flag(help: "No progress bar.") var quiet = false

  func run() throws {
    let configuration = try drr.experiment()
    let data = try read.read(self.data)
    let split = try SplitMethod.random(testFraction: 0.2).split(data, seed: seed)
    let bar = ProgressBar(enabled: !quiet)
    bar.begin("rating model (\(configuration.ratingModel.usesBiases ? "svd" : "pmf"), \(configuration.ratingModel.embeddingSize) factors)")
    let (_, simulator) = try DRRExperiment.simulator(training: split.train, configuration: configuration, seed: seed)
    bar.finish("\(simulator.eligibleUsers.count) users can start an episode, \(simulator.skippedUserCount) have < \(configuration.drr.historyLength) positives")
    bar.begin("DRR \(configuration.drr.stateModule.rawValue)")
    let started = Date()
    let total = configuration.drr.episodes
    let (model, log) = try DRR.fit(
      simulator: simulator, configuration: configuration.drr, seed: seed,
      progress: RLEvaluateCommand.progress(bar, episodes: total))
    bar.finish(String(format: "%.0f s", Date().timeIntervalSince(started)))
    var bundle = try model.bundle()
    let rating = configuration.ratingModel
    bundle.provenance = [
      "data": self.data, "split": "random 0.2", "seed": String(seed),
      "simulator": "\(rating.usesBiases ? "svd" : "pmf"), \(rating.embeddingSize) factors, \(rating.epochs) epochs, λ \(rating.regularization)",
    ]
    if let selection = model.selection {
      bundle.provenance["kept"] = String(
        format: "after episode %d (greedy simulator score %.3f; untrained %.3f)", selection.episode, selection.best,
        selection.initial)
    }
    try bundle.write(to: output)
    let curve = RLEvaluateCommand.movingAverage(log.map { Double($0.meanReward) }, window: 100)
    if let plot { try RLEvaluateCommand.writeCurves([(seed, log)], module: configuration.drr.stateModule, to: plot) }
    print(String(format: "saved %@ (%d episodes; mean reward per step, last 100 episodes: %.3f)", output, total, curve.last ?? 0))
    if let kept = bundle.provenance["kept"] { print("kept the agent \(kept)") }
  }
}

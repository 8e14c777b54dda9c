import AffinityBandits
import AffinityCore
import AffinityOffPolicy
import ArgumentParser
import Foundation

/// `affinity replay`: replay evaluation of bandit policies on a uniformly random log.
struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay evaluation (Li et al. 2011): estimate bandit policies' mean reward from a uniformly random log.",
    discussion: """
      The log is streamed in order; at each event the policy picks an arm for the logged context.
      If it is the logged arm the event is accepted: its reward counts and the policy learns from
      it; otherwise the event is skipped. The estimate is the mean reward over accepted events,
      with a 95 % interval from the log's sampling error (Wilson's, at n = accepted events; too
      narrow for learning policies, whose path depends on the log) and the spread over --seeds
      (the policy's own randomness only). About 1 event in (arms) is accepted,
      and a learning policy's estimate is that of an online run of that many rounds.
      Replay is unbiased only for uniformly random logging: the logged propensities must all be
      1/arms (within --propensity-tolerance), else the command refuses and points to
      `affinity ope`. --rejection-sampling opts into Li et al.'s generalisation for known,
      non-uniform propensities: an accepted event is kept with probability p_min / p.
      Logs: --log reads an Open Bandit Dataset folder (all.csv, item_context.csv) or its all.csv.
      OBD shows 3 positions per impression, one row each; by default every row is its own event
      (the policy's arm is compared with each position's logged item, so the estimate is the
      click rate of the policy's item at the logged mix of positions); --position P keeps the
      rows of position P only (1-based). --movielens writes the log itself: --log-rounds rounds
      of the uniformly random policy on the MovieLens rating simulator of `affinity simulate`
      (the --arms most-rated movies, reward 1 iff rated ≥ --threshold), then replays the policies
      and, for comparison, runs each online for as many rounds as it accepted, on the same seeds.
      Policies and --param are those of `affinity simulate`.
      Example: affinity replay --log open-bandit/random --policy random,epsilon-greedy,ucb1,thompson,linucb
               affinity replay --movielens ml-100k.inter --user-features ml-100k.user --log-rounds 200000 \\
                 --policy random,thompson,linucb
      """)

  @Option(help: "Open Bandit Dataset log: a folder with all.csv (and item_context.csv), or the all.csv file.")
  var log: String?
  @Option(help: "item_context.csv, for hybrid-linucb's arm features (default: the one beside --log, when present).")
  var itemContext: String?
  @Option(help: "Keep only the rows of this position (1-based, as in OBD's files); default: every row is an event.")
  var position: Int?
  @Option(help: "Ratings for a simulated uniform log on the MovieLens rating simulator (u.data, RecBole .inter or CSV).")
  var movielens: String?
  @Option(help: "User features for the simulator's contexts (GroupLens u.user, RecBole .user or CSV).")
  var userFeatures: String?
  @Option(help: "Number of arms: most-rated items (--movielens).") var arms: Int = 20
  @Option(help: "A rating ≥ this is a reward of 1 (--movielens).") var threshold: Float = 4
  @Option(help: "Rounds of the simulated uniform log (--movielens).") var logRounds: Int = 50_000
  @Option(help: "Seed of the simulated uniform log (--movielens).") var logSeed: UInt64 = 0
  @Flag(inversion: .prefixedNo, help: "Also run each policy online for as many rounds as it accepted (--movielens).")
  var online = true
  @Option(help: "Comma-separated policies (those of `affinity simulate`).") var policy: String
  @Option(name: .customLong("param"), help: "policy.key=value or key=value for every policy (repeatable).")
  var parameters: [String] = []
  @Option(help: "Number of seeds (replays of the same log).") var seeds: Int = 5
  @Option(help: "The first seed; replays use first-seed … first-seed + seeds − 1.") var firstSeed: UInt64 = 1
  @Flag(help: "Accept non-uniform logs with known propensities by rejection sampling (keeps about p_min · events).")
  var rejectionSampling = false
  @Option(help: "Relative tolerance of the uniform-propensity check.") var propensityTolerance: Double = 0.01
  @Option(help: "table, or json (one JSON object per policy and line).") var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  func validate() throws {
    switch (log, movielens) {
    case (nil, nil): throw ValidationError("give --log (an Open Bandit Dataset folder) or --movielens (a ratings file)")
    case (.some, .some): throw ValidationError("give either --log or --movielens, not both")
    case (.some, nil):
      if userFeatures != nil { throw ValidationError("--user-features applies to --movielens; OBD logs carry their own") }
    case (nil, .some):
      if position != nil { throw ValidationError("--position applies to --log (Open Bandit Dataset slates)") }
      if itemContext != nil { throw ValidationError("--item-context applies to --log") }
    }
    if let position, position < 1 { throw ValidationError("--position must be ≥ 1 (OBD counts from 1); got \(position)") }
    if seeds < 1 { throw ValidationError("--seeds must be ≥ 1; got \(seeds)") }
    if logRounds < 1 || arms < 1 { throw ValidationError("--log-rounds and --arms must be ≥ 1") }
    if !(propensityTolerance >= 0) { throw ValidationError("--propensity-tolerance must be ≥ 0; got \(propensityTolerance)") }
  }

  /// A JSON line: the replay result, its log, and the online run when there is one.
  struct Line: Encodable {
    struct Online: Encodable {
      let rounds: Int
      let meanReward: Double
      let ciLow: Double
      let ciHigh: Double

      enum CodingKeys: String, CodingKey {
        case rounds
        case meanReward = "mean_reward"
        case ciLow = "ci_low"
        case ciHigh = "ci_high"
      }
    }

    let replay: ReplayResult
    let source: String
    let online: Online?

    enum CodingKeys: String, CodingKey { case source, online }

    func encode(to encoder: any Encoder) throws {
      try replay.encode(to: encoder)
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(source, forKey: .source)
      try container.encodeIfPresent(online, forKey: .online)
    }
  }

  /// The log to replay, the arms' features (OBD item context) and the simulator it came from.
  struct Source {
    var log: ReplayLog
    var armFeatures: [[Double]]?
    var world: RatingSimulator?
    var positions: Int?
  }

  /// Reads an Open Bandit Dataset folder or all.csv into replay events.
  func openBandit(_ path: String) throws -> Source {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let file = exists && isDirectory.boolValue ? path + "/all.csv" : path
    let beside = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("item_context.csv").path
    let context = itemContext ?? (FileManager.default.fileExists(atPath: beside) ? beside : nil)
    let data = try OpenBanditLog.read(log: file, itemContext: context)
    if let position, position > data.positionCount {
      throw ValidationError("--position must be 1…\(data.positionCount) for \(file); got \(position)")
    }
    let w = data.contextWidth
    var events: [ReplayEvent] = []
    for r in 0..<data.rounds where position.map({ Int(data.positions[r]) == $0 - 1 }) ?? true {
      events.append(
        ReplayEvent(
          context: Array(data.contexts[(r * w)..<((r + 1) * w)]), action: Int(data.actions[r]), reward: data.rewards[r],
          propensity: data.propensities[r]))
    }
    let name = position.map { "\(file) (position \($0))" } ?? file
    let log = try ReplayLog(events: events, armCount: data.actionCount, source: name)
    // The item features plus a constant, as hybrid-linucb's shared part expects.
    let fw = data.actionFeatureWidth
    let armFeatures = context.map { _ in
      (0..<data.actionCount).map { a in Array(data.actionFeatures[(a * fw)..<((a + 1) * fw)]) + [1] }
    }
    return Source(log: log, armFeatures: armFeatures, world: nil, positions: data.positionCount)
  }

  /// Simulates the uniformly random policy on the MovieLens rating simulator.
  func simulatedLog(_ path: String) throws -> Source {
    let ratings = try read.read(path)
    let features = try userFeatures.map { file in
      try FeatureEncoder().encode(try FeatureReader().read(file) as FeatureTable<UserID>)
    }
    let world = RatingSimulator(ratings, arms: arms, threshold: threshold, userFeatures: features)
    let log = try ReplayLog.uniformlyLogged(
      on: world, rounds: logRounds, seed: logSeed,
      source: "\(world.name) uniform log (\(logRounds) rounds, seed \(logSeed))")
    return Source(log: log, armFeatures: nil, world: world, positions: nil)
  }

  /// The policy factories of `affinity simulate`, with the same names and --param keys.
  func factories(_ names: [String], source: Source) throws -> [() -> any BanditPolicy] {
    if source.world != nil && names.contains("hybrid-linucb") {
      throw ValidationError("hybrid-linucb needs arm features; replay it on an OBD log (item_context.csv), not --movielens")
    }
    let arguments = ["--policy=\(names.joined(separator: ","))", "--data=\(movielens ?? "unused")"]
      + parameters.map { "--param=\($0)" }
    let simulate: SimulateCommand
    do {
      simulate = try SimulateCommand.parse(arguments)
    } catch {
      throw ValidationError(SimulateCommand.message(for: error))
    }
    return try names.map {
      try simulate.makePolicy(
        $0, arms: source.log.armCount, dimension: source.log.contextWidth, armFeatures: source.armFeatures)
    }
  }

  func run() throws {
    do {
      try replay()
    } catch let error as ValidationError {
      // Found after parsing (an unknown policy, a bad --param, a position the log lacks): print
      // the message without the root command's usage line.
      throw RuntimeError(message: error.message)
    }
  }

  func replay() throws {
    try CLIErrors.mapped {
      let source: Source
      if let log { source = try openBandit(log) } else { source = try simulatedLog(movielens ?? "") }
      let names = policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      let makers = try factories(names, source: source)
      let seedList = (0..<seeds).map { firstSeed &+ UInt64($0) }
      let options = ReplayOptions(
        method: rejectionSampling ? .rejectionSampling : .uniform, propensityTolerance: propensityTolerance)
      var lines: [Line] = []
      for (name, make) in zip(names, makers) {
        if format == .table { FileHandle.standardError.write(Data("  replaying \(name)…\n".utf8)) }
        let result = try ReplayEvaluation.run(make, on: source.log, seeds: seedList, options: options)
        var online: Line.Online?
        if let world = source.world, self.online {
          let rounds = max(1, Int(result.accepted.rounded()))
          let run = try BanditSimulation.run(make, on: world, rounds: rounds, seeds: seedList)
          online = Line.Online(rounds: rounds, meanReward: run.meanReward, ciLow: run.ciLow, ciHigh: run.ciHigh)
        }
        lines.append(Line(replay: result, source: source.log.source, online: online))
      }
      if format == .json {
        for line in lines { print(try Output.json(line, compact: true)) }
        return
      }
      print(header(source))
      func number(_ x: Double) -> String { String(format: "%.4g", x) }
      var columns = ["policy", "accepted", "mean reward", "95% CI", "seeds 95% CI"]
      if source.world != nil && online { columns += ["online rounds", "online mean", "online 95% CI"] }
      columns.append("seconds")
      print(Output.table(
        columns,
        lines.map { line in
          let r = line.replay
          var row = [
            r.policy, String(format: "%.1f", r.accepted), number(r.meanReward),
            "[\(number(r.ciLow)), \(number(r.ciHigh))]", "[\(number(r.seedLow)), \(number(r.seedHigh))]",
          ]
          if let o = line.online {
            row += [String(o.rounds), number(o.meanReward), "[\(number(o.ciLow)), \(number(o.ciHigh))]"]
          }
          row.append(String(format: "%.2f", r.seconds))
          return row
        }))
    }
  }

  /// What was replayed: the log, its propensities and its own mean reward.
  func header(_ source: Source) -> String {
    let log = source.log
    func number(_ x: Double) -> String { String(format: "%.4g", x) }
    var text = "\(log.source): \(log.events.count) events, \(log.armCount) arms"
    if let positions = source.positions {
      text += position == nil ? ", \(positions) positions as separate events" : " (of \(positions) positions)"
    }
    text += "; \(seeds) seeds\n"
    switch log.propensityRange {
    case nil: text += "propensities: none recorded (uniform logging assumed)\n"
    case (let low, let high)? where low == high:
      text += "propensities: all \(number(low)) (1/\(log.armCount) = \(number(1 / Double(log.armCount))))"
      text += rejectionSampling ? "; rejection sampling keeps every matching event\n" : "\n"
    case (let low, let high)?:
      text += "propensities: \(number(low)) … \(number(high)); rejection sampling keeps a matching event with probability \(number(low))/p\n"
    }
    let (low, high) = log.meanRewardInterval
    text += "logging policy's mean reward \(number(log.meanReward)) [\(number(low)), \(number(high))]"
    return text
  }
}

import AffinityBandits
import AffinityCore
import AffinityLinalg
import ArgumentParser
import Foundation

/// `affinity bench-bandits`: LinUCB at scale — a batch fit on logged events, a batch of decisions
/// and an online decide-and-learn loop, timed on a release build.
struct BanditBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-bandits",
    abstract: "Time LinUCB: fit on a log, decide for many contexts, and learn online.",
    discussion: """
      Without files it draws its own data (seeded): Gaussian contexts, uniformly logged arms and
      Bernoulli rewards from a hidden linear model. With --log and --contexts it reads the data a
      comparison script wrote (little-endian Float64: the log is rows of arm, reward, then the
      context; the contexts are rows of the context), and --decisions-out writes the chosen arms
      (little-endian Int32), so the decisions can be checked against another library's.
      Example: affinity bench-bandits --decisions 1000000 --arms 20 --features 40
      """)

  @Option(help: "Contexts to decide for (and logged events to fit on).") var decisions: Int = 1_000_000
  @Option(help: "Arms.") var arms: Int = 20
  @Option(help: "Context features.") var features: Int = 40
  @Option(help: "LinUCB α.") var alpha: Double = 1
  @Option(help: "Ridge regularisation λ.") var regularization: Double = 1
  @Option(help: "Rounds of the online loop (one decision and one update each); 0 skips it.") var online: Int = 100_000
  @Option(help: "1 or 2 threads for the batch decisions.") var threads: Int = 2
  @Option(help: "Fitting log (Float64 rows: arm, reward, context).") var log: String?
  @Option(help: "Contexts to decide for (Float64 rows).") var contexts: String?
  @Option(help: "Write the batch decisions here (Int32 per context).") var decisionsOut: String?
  @Option(help: "table or json.") var format: OutputFormat = .table

  struct Result: Encodable {
    var decisions: Int
    var arms: Int
    var features: Int
    var threads: Int
    var fit_seconds: Double
    var decide_seconds: Double
    var online_rounds: Int
    var online_seconds: Double
    var online_mean_reward: Double
  }

  func validate() throws {
    if decisions < 1 || arms < 1 || features < 1 || online < 0 {
      throw ValidationError("--decisions, --arms and --features must be ≥ 1, --online ≥ 0")
    }
  }

  static func readDoubles(_ path: String, width: Int, flag: String) throws -> [Double] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw RuntimeError(message: "cannot read \(flag) '\(path)'")
    }
    guard data.count % (8 * width) == 0 else {
      throw RuntimeError(message: "\(flag) '\(path)' has \(data.count) bytes, not a whole number of rows of \(width) Float64 values; check --features")
    }
    return data.withUnsafeBytes { raw in
      (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
    }
  }

  func run() throws {
    try CLIErrors.mapped {
      let d = features
      var generator = SeededGenerator(seed: 1)
      let hidden = (0..<(arms * d)).map { _ in generator.nextGaussian() / Double(d).squareRoot() }
      func reward(_ arm: Int, _ x: ArraySlice<Double>, _ g: inout SeededGenerator) -> Double {
        var z = 0.0
        for (j, v) in x.enumerated() { z += hidden[arm * d + j] * v }
        return g.nextUniform() < 1 / (1 + Foundation.exp(-z)) ? 1 : 0
      }
      var loggedArms: [Int] = []
      var loggedRewards: [Double] = []
      var loggedContexts: [Double] = []
      if let log {
        let rows = try Self.readDoubles(log, width: d + 2, flag: "--log")
        for r in stride(from: 0, to: rows.count, by: d + 2) {
          loggedArms.append(Int(rows[r]))
          loggedRewards.append(rows[r + 1])
          loggedContexts += rows[(r + 2)..<(r + 2 + d)]
        }
      } else {
        loggedContexts.reserveCapacity(decisions * d)
        for _ in 0..<decisions {
          let x = (0..<d).map { _ in generator.nextGaussian() }
          let arm = generator.nextInt(below: arms)
          loggedArms.append(arm)
          loggedRewards.append(reward(arm, x[...], &generator))
          loggedContexts += x
        }
      }
      let points = try contexts.map { try Self.readDoubles($0, width: d, flag: "--contexts") }
        ?? (0..<(decisions * d)).map { _ in generator.nextGaussian() }
      let count = points.count / d

      var policy = LinUCB(arms: arms, dimension: d, alpha: alpha, regularization: regularization)
      let fitStart = Date()
      try policy.update(arms: loggedArms, rewards: loggedRewards, contexts: loggedContexts)
      let fitSeconds = Date().timeIntervalSince(fitStart)

      let decideStart = Date()
      let chosen = try Parallel.$isSerial.withValue(threads <= 1) { try policy.bestArms(contexts: points, count: count) }
      let decideSeconds = Date().timeIntervalSince(decideStart)
      if let decisionsOut {
        var data = Data(capacity: chosen.count * 4)
        for arm in chosen { withUnsafeBytes(of: Int32(arm).littleEndian) { data.append(contentsOf: $0) } }
        try AtomicFile.write(data, to: decisionsOut)
      }

      // Online: one decision and one update per round, from an empty policy.
      var learner = LinUCB(arms: arms, dimension: d, alpha: alpha, regularization: regularization)
      var choices = SeededGenerator(seed: 2)
      var total = 0.0
      let onlineStart = Date()
      for t in 0..<online {
        let x = points[((t % count) * d)..<((t % count + 1) * d)]
        let context = Array(x)
        let arm = try learner.decide(context: context, generator: &choices).arm
        let r = reward(arm, x, &choices)
        try learner.update(arm: arm, context: context, reward: r)
        total += r
      }
      let onlineSeconds = Date().timeIntervalSince(onlineStart)

      let result = Result(
        decisions: count, arms: arms, features: d, threads: threads <= 1 ? 1 : 2, fit_seconds: fitSeconds,
        decide_seconds: decideSeconds, online_rounds: online, online_seconds: onlineSeconds,
        online_mean_reward: online > 0 ? total / Double(online) : 0)
      if format == .json {
        print(try Output.json(result, compact: true))
        return
      }
      print(Output.table(
        ["work", "seconds", "per item"],
        [
          ["fit on \(loggedArms.count) logged events", String(format: "%.3f", fitSeconds), String(format: "%.2f µs", fitSeconds / Double(max(loggedArms.count, 1)) * 1e6)],
          ["decide for \(count) contexts (\(result.threads) threads)", String(format: "%.3f", decideSeconds), String(format: "%.2f µs", decideSeconds / Double(count) * 1e6)],
          ["online: \(online) decisions + updates", String(format: "%.3f", onlineSeconds), online > 0 ? String(format: "%.2f µs", onlineSeconds / Double(online) * 1e6) : "–"],
        ]))
    }
  }
}

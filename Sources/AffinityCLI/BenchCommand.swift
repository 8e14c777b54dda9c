import AffinityCatalog
import AffinityCore
import AffinityLinalg
import ArgumentParser
import Foundation

/// `affinity bench`: time training epochs and batched recommendation on one data file.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time a model's training epochs and top-k recommendation for every user.",
    discussion: """
      Every row of --data is a training interaction. Timings are wall-clock on this machine; compare
      libraries in one run on the same file (scripts/compare_implicit.py does).
      """)

  @Option(help: "Interaction file (every row is used for training).") var data: String
  @Option(help: "Model name.") var model: String
  @Option(name: .customLong("param"), help: "key=value (repeatable).") var parameters: [String] = []
  @Option(help: "Epochs (iterations) to time; the same as --param epochs=N.") var epochs: Int?
  @Option(help: "1 runs everything on one thread; 2 (or more) uses every core.") var threads: Int = 2
  @Flag(help: "Also time top-k recommendation for every user.") var recommendAll = false
  @Option(help: "k for --recommend-all.") var count: Int = 10
  @Option(help: "Seed.") var seed: UInt64 = 42
  @Option(help: "table or json.") var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  struct Result: Encodable {
    var model: String
    var threads: Int
    var users: Int
    var items: Int
    var interactions: Int
    var load_seconds: Double
    var fit_seconds: Double
    var epoch_seconds: [Double]
    var recommend_all_seconds: Double?
  }

  final class EpochClock: @unchecked Sendable {
    let lock = NSLock()
    var last = Date()
    var epochs: [Double] = []
    func tick() {
      lock.withLock {
        let now = Date()
        epochs.append(now.timeIntervalSince(last))
        last = now
      }
    }
  }

  func run() throws {
    try CLIErrors.mapped {
      let descriptor = try ModelCatalog.descriptor(named: model)
      let parsed = try ModelCatalog.parseParameters(parameters + (epochs.map { ["epochs=\($0)"] } ?? []))
      let loadStart = Date()
      let data = try read.read(self.data)
      let loadSeconds = Date().timeIntervalSince(loadStart)
      let bar = ProgressBar(enabled: format == .table)
      let clock = EpochClock()
      let progress = bar.callback
      let options = FitOptions(seed: seed, threadCount: threads) { step in
        clock.tick()
        progress(step)
      }
      bar.begin("\(descriptor.name) on \(data.count) interactions, \(threads) thread(s)")
      let serial = threads <= 1
      let fitStart = Date()
      clock.last = fitStart
      let fitted = try Parallel.$isSerial.withValue(serial) {
        try descriptor.fit(data, parameters: parsed, options: options)
      }
      let fitSeconds = Date().timeIntervalSince(fitStart)
      bar.finish(String(format: "fit %.2fs", fitSeconds))
      var recommendSeconds: Double?
      if recommendAll {
        let everyone = data.users.ids
        let start = Date()
        let lists = try Parallel.$isSerial.withValue(serial) {
          try fitted.recommend(users: everyone, count: count, excludesHistory: true)
        }
        recommendSeconds = Date().timeIntervalSince(start)
        guard lists.count == everyone.count else {
          throw RuntimeError(message: "recommend returned \(lists.count) lists for \(everyone.count) users")
        }
      }
      let result = Result(
        model: descriptor.name, threads: threads, users: data.users.count, items: data.items.count,
        interactions: data.count, load_seconds: loadSeconds, fit_seconds: fitSeconds,
        epoch_seconds: clock.epochs, recommend_all_seconds: recommendSeconds)
      switch format {
      case .json: print(try Output.json(result))
      case .table:
        print("\(result.model), \(threads) thread(s): \(result.users) users × \(result.items) items, \(result.interactions) interactions")
        print(String(format: "load %.2fs  fit %.2fs", loadSeconds, fitSeconds))
        if !clock.epochs.isEmpty {
          let sorted = clock.epochs.sorted()
          print(String(format: "per epoch: median %.3fs, min %.3fs, max %.3fs over %d", sorted[sorted.count / 2], sorted[0], sorted[sorted.count - 1], sorted.count))
        }
        if let recommendSeconds {
          print(String(format: "top-%d for all %d users: %.2fs (%.1f µs per user)", count, result.users, recommendSeconds, 1e6 * recommendSeconds / Double(max(result.users, 1))))
        }
      }
    }
  }
}

import AffinityCore
import AffinityLinalg
import AffinityNeural
import AffinityReinforcement
import ArgumentParser
import Foundation

/// `affinity rl …`: deep reinforcement-learning recommenders.
struct RLCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rl",
    abstract: "Deep RL recommenders: train and evaluate DRR (DDPG actor-critic); time one update.",
    subcommands: [RLBenchCommand.self])
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

  struct Result: Encodable {
    var seconds_per_update: Double
    var updates: Int
    var threads: Int
    var batch: Int
    var embedding: Int
    var hidden: Int
    var trials: Int
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
    let result = Result(
      seconds_per_update: best, updates: updates, threads: threads, batch: batch, embedding: d, hidden: hidden,
      trials: trials)
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

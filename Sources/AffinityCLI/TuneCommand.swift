import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import ArgumentParser
import Foundation

/// `affinity tune`: grid or random search over a validation split carved from training data.
struct TuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tune",
    abstract: "Search hyperparameters on a validation split carved from the training data.",
    discussion: """
      The test set is never touched: --train is split again (random, --validation-fraction) and
      every candidate is trained on the rest and scored on the validation part.
      Example: affinity tune --train train.tsv --model svd --grid n_epochs=20,40 --grid reg_all=0.02,0.05
      """)

  @Option(help: "Training interactions; the validation split is cut from these.")
  var train: String
  @Option(help: "Model name.")
  var model: String
  @Option(name: .customLong("grid"), help: "key=v1,v2,... (repeatable); the search runs over the product.")
  var grids: [String] = []
  @Option(help: "Sample this many random combinations instead of the full grid.")
  var samples: Int?
  @Option(help: "rating (RMSE, lower is better) or ranking (NDCG@k, higher is better).")
  var task: EvaluationTask = .rating
  @Option(help: "Ranking cut-off.") var k: Int = 10
  @Option(help: "Ranking: validation rows with a value ≥ this are positives.") var positiveThreshold: Float?
  @Option(help: "Fraction of --train held out for validation.") var validationFraction: Double = 0.2
  @Option(help: "Split used for validation: random, user-temporal, cold-users or cold-items.") var split: String = "random"
  @Option(help: "Ranking: rank every item (all) or only the validation items (test-items, for cold items).")
  var candidates: CandidateSet = .all
  @OptionGroup var featureOptions: FeatureOptions
  @Option(help: "Seed.") var seed: UInt64 = 42
  @Option(help: "table or json.") var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  func run() throws {
    try CLIErrors.mapped {
      let descriptor = try ModelCatalog.descriptor(named: model)
      var axes: [(String, [String])] = []
      for grid in try ModelCatalog.parseParameters(grids) {
        axes.append((grid.0, grid.1.split(separator: ",").map(String.init)))
      }
      var combinations: [[(String, String)]] = [[]]
      for (name, values) in axes {
        combinations = combinations.flatMap { base in values.map { base + [(name, $0)] } }
      }
      if let samples, samples < combinations.count {
        var generator = SeededGenerator(seed: seed, stream: 21)
        generator.shuffle(&combinations)
        combinations = Array(combinations.prefix(samples))
      }
      for combination in combinations { _ = try descriptor.configuration(with: combination) }
      guard let method = SplitMethod.named(split, testFraction: validationFraction) else {
        throw ValidationError("--split must be random, user-temporal, cold-users or cold-items; got '\(split)'")
      }
      let data = try method.split(try read.read(train), seed: seed &+ 1)
      let features = try featureOptions.load()
      let metric = task == .rating ? "rmse" : "ndcg@\(k)"
      let bar = ProgressBar(enabled: format == .table)
      var results: [(parameters: [(String, String)], value: Double, seconds: Double)] = []
      for (n, combination) in combinations.enumerated() {
        bar.begin("\(n + 1)/\(combinations.count) " + combination.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        let experiment = Experiment(
          model: descriptor.name, parameters: combination, task: task, cutoff: k,
          positiveThreshold: positiveThreshold, seed: seed, features: features, candidates: candidates)
        let report = try experiment.run(on: data, progress: bar.callback).report
        let value = report.metrics[metric] ?? .nan
        bar.finish("\(metric) \(Output.number(value))")
        results.append((combination, value, report.fitSeconds))
      }
      results.sort { task == .rating ? $0.value < $1.value : $0.value > $1.value }
      if format == .json {
        struct Row: Encodable {
          let parameters: [String: String]
          let metric: String
          let value: Double
          let fit_seconds: Double
        }
        print(try Output.json(results.map { r in
          Row(parameters: Dictionary(r.parameters, uniquingKeysWith: { $1 }), metric: metric, value: r.value, fit_seconds: r.seconds)
        }))
        return
      }
      let rows = results.map { r in
        [r.parameters.map { "\($0.0)=\($0.1)" }.joined(separator: " "), Output.number(r.value), String(format: "%.2fs", r.seconds)]
      }
      print("validation: \(data.train.count) rows to fit, \(data.test.count) to score (\(method.name) split of \(train))")
      print(Output.table(["parameters", "validation \(metric)", "fit"], rows))
    }
  }
}

import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import AffinityPipeline
public import ArgumentParser
import Foundation

extension EvaluationTask: ExpressibleByArgument {}

/// Output format of a command.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table
  case json
}

/// `affinity evaluate`: train one model on a split and report its metrics.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Train one model and measure it on held-out data.",
    discussion: """
      Rating task: RMSE, MAE, FCP over every test row (unknown users/items get the model's
      fallback and are counted). Ranking task: precision, recall, NDCG, MAP, hit rate at --k,
      MRR, AUC, coverage, novelty and Gini, ranking every training item except the user's own.
      Example: affinity evaluate --train u1.base --test u1.test --model svd --param n_epochs=30
      """)

  @OptionGroup var source: SplitSourceOptions
  @Option(help: "Model name; `affinity models` lists them.")
  var model: String
  @Option(name: .customLong("param"), help: "A hyperparameter as key=value (repeatable); Surprise's names work too.")
  var parameters: [String] = []
  @Option(help: "rating or ranking; default: rating when the model predicts ratings.")
  var task: EvaluationTask?
  @Option(help: "Cut-off for ranking metrics.")
  var k: Int = 10
  @Option(help: "Ranking: test rows with a value ≥ this are positives (default: every test row).")
  var positiveThreshold: Float?
  @Option(help: "Ranking: rank every training item (all) or only the test set's items (test-items, for cold items).")
  var candidates: CandidateSet = .all
  @OptionGroup var featureOptions: FeatureOptions
  @Option(help: "Ranking through a served pipeline (JSON, docs/pipeline.md), as affinity serve answers.")
  var pipeline: String?
  @Option(help: "table or json.")
  var format: OutputFormat = .table

  func validate() throws {
    if k < 1 { throw ValidationError("--k must be ≥ 1; got \(k)") }
    _ = try CLIErrors.mapped { try ModelCatalog.descriptor(named: model) }
    _ = try CLIErrors.mapped { try ModelCatalog.parseParameters(parameters) }
  }

  func run() throws {
    try CLIErrors.mapped {
      let descriptor = try ModelCatalog.descriptor(named: model)
      let task = self.task ?? (descriptor.tasks.contains(.rating) ? .rating : .ranking)
      let split = try source.load()
      let bar = ProgressBar(enabled: format == .table)
      bar.begin(descriptor.name)
      var experiment = Experiment(
        model: descriptor.name, parameters: try ModelCatalog.parseParameters(parameters), task: task,
        cutoff: k, positiveThreshold: positiveThreshold, seed: source.seed, features: try featureOptions.load(),
        candidates: candidates)
      if let pipeline {
        var withPipeline = experiment
        withPipeline.pipeline = try Pipeline.load(contentsOf: pipeline)
        experiment = withPipeline
      }
      let (_, report) = try experiment.run(on: split, progress: bar.callback)
      bar.finish(String(format: "fit %.2fs", report.fitSeconds))
      switch format {
      case .json:
        print(try Output.json(report))
      case .table:
        print("model: \(report.model)   train: \(split.train.count) rows   test: \(split.test.count) rows")
        let names = Output.orderedMetricNames(report.metrics.keys)
        print(Output.table(["metric", "value"], names.map { [$0, Output.number(report.metrics[$0])] }))
        print(String(format: "fit %.3fs, evaluate %.3fs", report.fitSeconds, report.evaluateSeconds))
        if report.fallbackCount > 0 || report.unknownUsers > 0 || report.unknownItems > 0 {
          print(
            "fallbacks: \(report.fallbackCount) predictions (unknown users \(report.unknownUsers), unknown items \(report.unknownItems))"
          )
        }
      }
    }
  }
}

/// Turns library errors into ArgumentParser errors with the library's own message.
enum CLIErrors {
  static func mapped<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as ValidationError {
      throw error
    } catch let error as any CustomStringConvertible & Error {
      throw RuntimeError(message: error.description)
    }
  }
}

/// A runtime failure: printed as `Error: <message>` with exit status 1.
struct RuntimeError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

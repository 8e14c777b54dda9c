import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import ArgumentParser
import Foundation

/// `affinity compare`: several models on one split, one table.
struct CompareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Train several models on the same split and tabulate their metrics.")

  @OptionGroup var source: SplitSourceOptions
  @Option(help: "Comma-separated model names.")
  var models: String = "global-mean,baseline,knn-baseline,svd,svdpp,slope-one"
  @Option(help: "Tasks to measure: rating, ranking or rating,ranking.")
  var tasks: String = "rating,ranking"
  @Option(help: "Cut-off for ranking metrics.")
  var k: Int = 10
  @Option(help: "Ranking: test rows with a value ≥ this are positives (default: every test row).")
  var positiveThreshold: Float?
  @Option(help: "Also write the table as Markdown to this file.")
  var markdown: String?
  @Option(help: "Also write the reports as JSON to this file.")
  var json: String?
  @Option(help: "table or json (stdout).")
  var format: OutputFormat = .table

  func run() throws {
    try CLIErrors.mapped {
      let split = try source.load()
      let requested = try tasks.split(separator: ",").map { name -> EvaluationTask in
        guard let task = EvaluationTask(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
          throw ValidationError("--tasks must list rating and/or ranking; got '\(name)'")
        }
        return task
      }
      let names = models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      let bar = ProgressBar(enabled: format == .table)
      var reports: [EvaluationReport] = []
      for name in names {
        let descriptor = try ModelCatalog.descriptor(named: name)
        let supported = requested.filter { task in
          task == .ranking || descriptor.tasks.contains(.rating)
        }
        bar.begin(descriptor.name)
        let experiment = Experiment(
          model: descriptor.name, task: supported.first ?? .ranking, cutoff: k,
          positiveThreshold: positiveThreshold, seed: source.seed)
        let (_, report) = try experiment.run(on: split, tasks: supported, progress: bar.callback)
        bar.finish(String(format: "fit %.2fs", report.fitSeconds))
        reports.append(report)
      }
      let table = CompareCommand.table(reports, markdown: false)
      if format == .json { print(try Output.json(reports)) } else { print(table) }
      if let markdown {
        try AtomicFile.write(CompareCommand.table(reports, markdown: true) + "\n", to: markdown)
      }
      if let json { try AtomicFile.write(try Output.json(reports) + "\n", to: json) }
    }
  }

  static func table(_ reports: [EvaluationReport], markdown: Bool) -> String {
    let metricNames = Output.orderedMetricNames(reports.flatMap { $0.metrics.keys })
      .filter { !$0.hasPrefix("novelty") && !$0.hasPrefix("gini") && $0 != "mrr" && $0 != "auc" }
    let rows = reports.map { report in
      [report.model] + metricNames.map { Output.number(report.metrics[$0]) }
        + [String(format: "%.2fs", report.fitSeconds)]
    }
    return Output.table(["model"] + metricNames + ["fit"], rows, markdown: markdown)
  }
}

import AffinityCatalog
public import AffinityCore
public import AffinityPipeline
import Foundation

/// Which evaluation to run.
public enum EvaluationTask: String, Sendable, Codable, CaseIterable {
  case rating
  case ranking
}

/// The items a ranking evaluation ranks.
public enum CandidateSet: String, Sendable, Codable, CaseIterable {
  /// Every item the model knows except the user's training items.
  case all
  /// Only the items that occur in the test set (the cold-item protocol).
  case testItems = "test-items"
}

/// Trains one catalogued model on a split and evaluates it: the unit of `evaluate` and `compare`.
public struct Experiment: Sendable {
  public var model: String
  public var parameters: [(String, String)]
  public var task: EvaluationTask
  public var cutoff: Int
  public var positiveThreshold: Float?
  public var seed: UInt64
  /// User and item features for the models that use them.
  public var features: SideInformation
  /// Which items to rank: every training item, or only the items of the test set.
  public var candidates: CandidateSet
  /// When set, ranking runs through this served pipeline (sources, filters, rules,
  /// exploration) exactly as `affinity serve` would answer, instead of the bare model.
  public var pipeline: Pipeline?

  public init(
    model: String, parameters: [(String, String)] = [], task: EvaluationTask = .rating,
    cutoff: Int = 10, positiveThreshold: Float? = nil, seed: UInt64 = 42,
    features: SideInformation = .none, candidates: CandidateSet = .all
  ) {
    self.features = features
    self.candidates = candidates
    self.model = model
    self.parameters = parameters
    self.task = task
    self.cutoff = cutoff
    self.positiveThreshold = positiveThreshold
    self.seed = seed
  }

  /// Fits and evaluates; `tasks` lists what to measure (rating, ranking or both).
  public func run(
    on split: DataSplit, tasks: [EvaluationTask]? = nil,
    progress: (@Sendable (FitProgress) -> Void)? = nil
  ) throws -> (model: any Recommender, report: EvaluationReport) {
    let descriptor = try ModelCatalog.descriptor(named: model)
    let resolved = try descriptor.configuration(with: parameters)
    let start = Date()
    let fitted = try descriptor.fit(
      split.train, parameters: parameters, options: FitOptions(seed: seed, progress: progress), features: features)
    let fitSeconds = Date().timeIntervalSince(start)
    var report = EvaluationReport(model: descriptor.name, parameters: resolved, fitSeconds: fitSeconds)
    for task in tasks ?? [self.task] {
      switch task {
      case .rating:
        guard let predictor = fitted as? any RatingPredictor else {
          throw ExperimentError.taskNotSupported(model: descriptor.name, task: task.rawValue)
        }
        let part = Evaluator.rating(predictor, on: split.test)
        report.metrics.merge(part.metrics) { $1 }
        report.testCount = part.testCount
        report.fallbackCount = part.fallbackCount
        report.unknownUsers = part.unknownUsers
        report.unknownItems = part.unknownItems
        report.evaluateSeconds += part.evaluateSeconds
      case .ranking:
        let part: EvaluationReport
        if let pipeline {
          var bound = pipeline
          if candidates == .testItems { bound.filters.allow = split.test.items.ids.map(\.rawValue) }
          part = Evaluator.ranking(
            through: try ServedPipeline(pipeline: bound, model: fitted), on: split.test, k: cutoff, positiveThreshold: positiveThreshold,
            seed: seed)
        } else {
          part = Evaluator.ranking(
            fitted, on: split.test, k: cutoff, positiveThreshold: positiveThreshold,
            candidates: candidates == .testItems ? Set(split.test.items.ids) : nil)
        }
        report.metrics.merge(part.metrics) { $1 }
        if task == self.task || tasks?.first == .ranking {
          report.testCount = part.testCount
          report.fallbackCount = part.fallbackCount
          report.unknownUsers = part.unknownUsers
        }
        report.evaluateSeconds += part.evaluateSeconds
      }
    }
    return (fitted, report)
  }
}

/// An experiment that cannot run as asked.
public enum ExperimentError: Error, Equatable, Sendable, CustomStringConvertible {
  case taskNotSupported(model: String, task: String)

  public var description: String {
    switch self {
    case .taskNotSupported(let model, let task):
      "model '\(model)' does not support the \(task) task; run `affinity models` to see each model's tasks"
    }
  }
}

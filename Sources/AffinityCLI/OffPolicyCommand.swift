import AffinityCatalog
import AffinityCore
import AffinityLinalg
import AffinityOffPolicy
import AffinityPipeline
import AffinityStore
import ArgumentParser
import Foundation

/// `affinity ope`: estimate a policy's value from another policy's log.
struct OffPolicyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ope",
    abstract: "Off-policy evaluation: estimate a new policy's value from a logged policy's decisions.",
    discussion: """
      Reads an Open Bandit Dataset log (all.csv, positions from 1, with propensity_score) and
      prints IPS, SNIPS, DM, DR, SNDR and Switch-DR with bootstrap confidence intervals and the
      effective sample size. The evaluation policy is `uniform` or a Float64 file of action
      probabilities (rounds × actions × positions, C order: numpy's `a.astype('<f8').tofile(f)`).
      DM and the DR family use a reward model: `logistic` (per-position logistic regression with
      cross-fitting) or a Float64 file of predictions in the same layout.
      Example: affinity ope --log open-bandit/bts/all.csv --item-context open-bandit/bts/item_context.csv \\
                 --evaluation-policy uniform --truth 0.0038

      With --from-db it values a candidate model and pipeline on the decisions `affinity serve`
      logged (each shown slot with its propensity; reward = positive feedback on the item within
      --reward-window seconds). The candidate is trained on the feedback from before the first
      logged decision. IPS, SNIPS, DM, DR and SNDR (the reward model: each item's click rate per
      slot in the log, shrunk toward the slot's rate).
      Example: affinity ope --from-db affinity-data/affinity.sqlite --candidate-model ease --pipeline p.json
      """)

  @Option(help: "Logged decisions (Open Bandit Dataset all.csv).") var log: String?
  @Option(help: "The service's database: value a candidate on the decisions it logged.") var fromDb: String?
  @Option(help: "With --from-db: the candidate model kind.") var candidateModel: String = "als"
  @Option(name: .customLong("param"), help: "With --from-db: a candidate hyperparameter key=value (repeatable).")
  var parameters: [String] = []
  @Option(help: "With --from-db: the candidate's pipeline (JSON, docs/pipeline.md); default: the default pipeline.")
  var pipeline: String?
  @Option(help: "With --from-db: seconds after serving within which a positive counts as the slot's reward.")
  var rewardWindow: Double = 86_400
  @Option(help: "item_context.csv for the reward model's action features.") var itemContext: String?
  @Option(help: "uniform, or a Float64 file of the evaluation policy's action probabilities.")
  var evaluationPolicy: String?
  @Option(help: "logistic, none, or a Float64 file of predicted rewards.") var rewardModel: String = "logistic"
  @Option(help: "Cross-fitting folds of the logistic reward model.") var folds: Int = 3
  @Option(help: "L2 penalty of the logistic reward model.") var regularization: Double = 1
  @Option(help: "The evaluation policy's true value, when known (for relative errors).") var truth: Double?
  @Option(help: "Bootstrap resamples for the confidence intervals.") var bootstrap: Int = 1_000
  @Option(help: "Also resample the log this many times and report each estimator's mean relative error (needs --truth).")
  var resamples: Int?
  @Option(help: "Seed.") var seed: UInt64 = 42
  @Option(help: "table or json.") var format: OutputFormat = .table

  func validate() throws {
    if bootstrap < 0 { throw ValidationError("--bootstrap must be ≥ 0; got \(bootstrap)") }
    if folds < 1 { throw ValidationError("--folds must be ≥ 1; got \(folds)") }
    if resamples != nil && truth == nil { throw ValidationError("--resamples needs --truth to compute relative errors") }
    switch (log, fromDb) {
    case (nil, nil): throw ValidationError("give --log FILE (an Open Bandit Dataset log) or --from-db DATABASE (the service's decisions)")
    case (.some, .some): throw ValidationError("give either --log or --from-db, not both")
    case (.some, nil):
      if evaluationPolicy == nil { throw ValidationError("--log needs --evaluation-policy (uniform or a Float64 file)") }
    case (nil, .some):
      guard rewardWindow > 0, rewardWindow.isFinite else { throw ValidationError("--reward-window must be > 0 seconds; got \(rewardWindow)") }
      _ = try CLIErrors.mapped { try ModelCatalog.descriptor(named: candidateModel) }
    }
  }

  /// `--from-db`: IPS and SNIPS of a candidate on the service's logged decisions.
  func runFromDatabase(_ path: String) throws {
    try CLIErrors.mapped {
      guard FileManager.default.fileExists(atPath: path) else {
        throw RuntimeError(message: "no database at \(path); start `affinity serve --db \(path)` first")
      }
      let store = try SQLiteStore(path: path)
      let evaluation = DecisionLogEvaluation(
        model: candidateModel, parameters: try ModelCatalog.parseParameters(parameters),
        pipeline: try pipeline.map { try Pipeline.load(contentsOf: $0) } ?? Pipeline(), rewardWindow: rewardWindow, seed: seed)
      let built = try evaluation.build(store: store)
      let results = OffPolicyEvaluation.evaluate(
        log: built.log, policy: built.policy, model: built.model, estimators: [.ips, .snips, .dm, .dr, .sndr],
        bootstrapSamples: bootstrap, seed: seed)
      let report = Report(
        rounds: built.log.rounds, actions: 0, positions: built.log.positionCount, truth: nil,
        estimators: Dictionary(uniqueKeysWithValues: results.map { ($0.key.rawValue, $0.value) }), bootstrap: nil)
      if format == .json {
        print(try Output.json(report))
        return
      }
      func fmt(_ x: Double) -> String { String(format: "%.6g", x) }
      print("\(built.decisions) decisions, \(built.log.rounds) shown slots; candidate \(candidateModel) trained on \(built.trainingEvents) earlier interactions")
      print("served pipeline's reward per slot (on-policy): \(fmt(built.log.meanReward))")
      let rows = [OffPolicyEstimator.ips, .snips, .dm, .dr, .sndr].compactMap { estimator -> [String]? in
        guard let r = results[estimator] else { return nil }
        return [estimator.rawValue, fmt(r.value), "[\(fmt(r.ciLow)), \(fmt(r.ciHigh))]", String(format: "%.1f", r.effectiveSampleSize)]
      }
      print(Output.table(["estimator", "candidate's reward per slot", "95% CI", "ESS"], rows))
    }
  }

  struct Report: Encodable {
    let rounds: Int
    let actions: Int
    let positions: Int
    let truth: Double?
    let estimators: [String: OffPolicyEstimate]
    let bootstrap: Resampling?
  }

  struct Resampling: Encodable {
    let resamples: Int
    let relativeError: [String: Double]
    let relativeErrorStd: [String: Double]

    enum CodingKeys: String, CodingKey {
      case resamples
      case relativeError = "relative_error"
      case relativeErrorStd = "relative_error_std"
    }
  }

  func run() throws {
    if let fromDb { return try runFromDatabase(fromDb) }
    guard let log, let evaluationPolicy else { return }
    try CLIErrors.mapped {
      let data = try OpenBanditLog.read(log: log, itemContext: itemContext)
      let policy = evaluationPolicy == "uniform" ? RoundActionTable.uniform(for: data) : try RoundActionTable.read(evaluationPolicy, for: data)
      func model(for sample: LoggedFeedback, seed: UInt64) throws -> RoundActionTable? {
        switch rewardModel {
        case "none": return nil
        case "logistic":
          return try LogisticRewardModel.crossFitted(
            sample, configuration: .init(regularization: regularization, folds: folds), seed: seed)
        default: return try RoundActionTable.read(rewardModel, for: sample)
        }
      }
      let predictions = try model(for: data, seed: seed)
      let results = OffPolicyEvaluation.evaluate(
        log: data, policy: policy, model: predictions, truth: truth, bootstrapSamples: bootstrap, seed: seed)
      var resampling: Resampling?
      if let resamples, let truth, resamples > 0 {
        // Each resample has its own random stream, so the runs go to both cores and the result
        // does not depend on how many run at once.
        let outcomes = Parallel.mapChunks(count: resamples, chunkCount: resamples, minimumParallelCount: 2) {
          range, _ -> [Result<[String: Double], any Error>] in
          range.map { run in Result { () throws -> [String: Double] in
            var generator = SeededGenerator(seed: seed, stream: 1_000 + UInt64(run))
            let indices = (0..<data.rounds).map { _ in generator.nextInt(below: data.rounds) }
            let sample = data.resampled(indices)
            let samplePolicy = policy.resampled(indices)
            // A file of predictions belongs to the full log; a logistic model is refitted per resample.
            let sampleModel = rewardModel == "logistic"
              ? try model(for: sample, seed: seed &+ UInt64(run)) : predictions?.resampled(indices)
            var errors: [String: Double] = [:]
            for estimator in OffPolicyEstimator.allCases {
              if let value = estimator.estimate(log: sample, policy: samplePolicy, model: sampleModel) {
                errors[estimator.rawValue] = abs(value - truth) / abs(truth)
              }
            }
            return errors
          } }
        }.flatMap { $0 }
        let runs = try outcomes.map { try $0.get() }
        var errors: [String: [Double]] = [:]
        for run in runs { for (name, error) in run { errors[name, default: []].append(error) } }
        resampling = Resampling(
          resamples: resamples, relativeError: errors.mapValues { $0.reduce(0, +) / Double($0.count) },
          relativeErrorStd: errors.mapValues { values in
            let mean = values.reduce(0, +) / Double(values.count)
            return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count - 1, 1))).squareRoot()
          })
      }
      let report = Report(
        rounds: data.rounds, actions: data.actionCount, positions: data.positionCount, truth: truth,
        estimators: Dictionary(uniqueKeysWithValues: results.map { ($0.key.rawValue, $0.value) }), bootstrap: resampling)
      if format == .json {
        print(try Output.json(report))
        return
      }
      // Click rates are small: six significant digits, not four decimals.
      func fmt(_ x: Double) -> String { String(format: "%.6g", x) }
      print("\(data.rounds) rounds, \(data.actionCount) actions, \(data.positionCount) positions; logged policy's mean reward \(fmt(data.meanReward))")
      if let truth { print("true value of the evaluation policy: \(fmt(truth))") }
      let rows = OffPolicyEstimator.allCases.compactMap { estimator -> [String]? in
        guard let r = results[estimator] else { return nil }
        return [
          estimator.rawValue, fmt(r.value), "[\(fmt(r.ciLow)), \(fmt(r.ciHigh))]",
          r.relativeError.map { fmt($0) } ?? "—", String(format: "%.1f", r.effectiveSampleSize),
          resampling?.relativeError[estimator.rawValue].map { fmt($0) } ?? "—",
        ]
      }
      print(Output.table(["estimator", "value", "95% CI", "rel. error", "ESS", "mean rel. error (resamples)"], rows))
    }
  }
}

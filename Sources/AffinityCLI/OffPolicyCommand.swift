import AffinityCore
import AffinityLinalg
import AffinityOffPolicy
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
      """)

  @Option(help: "Logged decisions (Open Bandit Dataset all.csv).") var log: String
  @Option(help: "item_context.csv for the reward model's action features.") var itemContext: String?
  @Option(help: "uniform, or a Float64 file of the evaluation policy's action probabilities.")
  var evaluationPolicy: String
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

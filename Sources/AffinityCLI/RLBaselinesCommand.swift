import AffinityCore
import AffinityEvaluation
import AffinityFactorization
import AffinityReinforcement
public import ArgumentParser
import Foundation

/// `affinity rl baselines`: the DRR paper's offline protocol and a full-catalogue protocol on
/// seeded random splits, with the reference scorers (random, oracle, item mean, popularity, PMF).
public struct RLBaselinesCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "baselines",
    abstract: "Baselines under DRR's offline protocol: re-rank each user's rated test items; and full-catalogue ranking.",
    discussion: """
      For each seed, --data is cut by a random split (--test-fraction held out). The re-rank
      protocol ranks only the items each user rated in the test set and reports precision@5 and
      @10 (relevant: test rating ≥ 4) over users with at least k test ratings; the catalogue
      protocol ranks every item the user did not rate in training and reports precision@10 over
      users with a relevant test item. The state given to scorers is built from training only.
      --tune picks PMF's factors, regularisation and epochs on a validation split carved from the
      training set (never the test set), by re-rank precision@5.
      Example: affinity rl baselines --data ml-100k.inter --seeds 1,2,3 --tune
      """)

  @Option(help: "Interactions to split (headerless 'user item rating timestamp', RecBole or CSV).")
  var data: String
  @Option(help: "Split seeds, comma-separated; each gives one train/test split.")
  var seeds: String = "1,2,3"
  @Option(help: "Fraction held out for testing.")
  var testFraction: Double = 0.2
  @Option(help: "PMF latent factors (when not tuning).")
  var factors: Int = 50
  @Option(help: "PMF regularisation λ (when not tuning).")
  var regularization: Float = 0.12
  @Option(help: "PMF epochs (when not tuning).")
  var epochs: Int = 100
  @Option(help: "PMF SGD learning rate.")
  var learningRate: Float = 0.005
  @Flag(help: "Fit biased SVD instead of PMF.")
  var biased = false
  @Flag(help: "Tune factors, regularisation and epochs on a validation split of each training set.")
  var tune = false
  @Option(help: "m of the shrunk item mean (Σr + m·μ) / (n + m), reported beside the plain mean.")
  var shrinkage: Double = 5
  @Option(help: "A test rating at least this is relevant (and a training rating at least this is a state positive).")
  var relevanceThreshold: Float = 4
  @Option(help: "table or json.")
  var format: OutputFormat = .table
  @OptionGroup var read: ReadOptions

  public init() {}

  struct Row: Encodable {
    var `protocol`: String
    var scorer: String
    var k: Int
    var mean: Double
    var sd: Double
    var perSeed: [Double]
    var users: [Int]
  }

  struct Report: Encodable {
    var data: String
    var seeds: [UInt64]
    var model: String
    var chosen: [String]
    var rows: [Row]
  }

  var seedList: [UInt64] {
    seeds.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
  }

  public func validate() throws {
    if seedList.isEmpty || seedList.count != seeds.split(separator: ",").count {
      throw ValidationError("--seeds must be comma-separated non-negative integers; got '\(seeds)'")
    }
    if !(testFraction > 0 && testFraction < 1) {
      throw ValidationError("--test-fraction must be in (0, 1); got \(testFraction)")
    }
  }

  func modelConfiguration(factors: Int, regularization: Float, epochs: Int) -> BiasedMatrixFactorization.Configuration {
    .init(
      embeddingSize: factors, epochs: epochs, learningRate: learningRate, regularization: regularization,
      usesBiases: biased)
  }

  /// The configuration with the best re-rank precision@5 on a validation split of `train` (a
  /// random split of it with seed `seed + 1000`): factors × λ × epochs over a 5 × 4 × 4 grid.
  func tuned(on train: InteractionData, seed: UInt64) throws -> BiasedMatrixFactorization.Configuration {
    let inner = try SplitMethod.random(testFraction: testFraction).split(train, seed: seed &+ 1_000)
    let validation = try OfflineRankingProtocol(
      training: inner.train, test: inner.test, configuration: .init(relevanceThreshold: relevanceThreshold, seed: seed))
    var best: (score: Double, configuration: BiasedMatrixFactorization.Configuration)?
    for factors in [10, 25, 50, 100, 200] {
      for regularization: Float in [0.02, 0.05, 0.1, 0.2] {
        for epochs in [15, 30, 60, 100] {
          let configuration = modelConfiguration(factors: factors, regularization: regularization, epochs: epochs)
          let model = try BiasedMatrixFactorization.fit(inner.train, configuration: configuration, options: FitOptions(seed: seed))
          let score = try validation.evaluate("pmf", scorer: validation.ratingScorer(model)).precision(at: 5) ?? 0
          if score > (best?.score ?? -1) { best = (score, configuration) }
        }
      }
    }
    return best?.configuration ?? modelConfiguration(factors: factors, regularization: regularization, epochs: epochs)
  }

  public func run() throws {
    try CLIErrors.mapped {
      let all = try read.read(data)
      let modelName = biased ? "svd" : "pmf"
      var results: [String: [RankingResult]] = [:]
      var order: [(String, String)] = []
      var chosen: [String] = []
      for seed in seedList {
        let split = try SplitMethod.random(testFraction: testFraction).split(all, seed: seed)
        let configuration =
          tune
          ? try tuned(on: split.train, seed: seed)
          : modelConfiguration(factors: factors, regularization: regularization, epochs: epochs)
        chosen.append(
          "seed \(seed): factors \(configuration.embeddingSize), regularization \(configuration.regularization), "
            + "epochs \(configuration.epochs)")
        let model = try BiasedMatrixFactorization.fit(split.train, configuration: configuration, options: FitOptions(seed: seed))
        for candidates in OfflineRankingProtocol.Candidates.allCases {
          let evaluation = try OfflineRankingProtocol(
            training: split.train, test: split.test,
            configuration: .init(
              candidates: candidates, cutoffs: candidates == .ratedTestItems ? [5, 10] : [10],
              relevanceThreshold: relevanceThreshold, seed: seed))
          let scorers: [(String, RankingScorer)] = [
            ("random (seeded)", evaluation.randomScorer(seed: seed)),
            ("oracle", evaluation.oracleScorer()),
            ("item mean", evaluation.itemMeanScorer()),
            ("item mean (m = \(Output.number(shrinkage, digits: 1)))", evaluation.itemMeanScorer(shrinkage: shrinkage)),
            ("popularity", evaluation.popularityScorer()),
            (modelName, evaluation.ratingScorer(model)),
          ]
          var list = [evaluation.expectedRandom()]
          for (name, scorer) in scorers { list.append(try evaluation.evaluate(name, scorer: scorer)) }
          for result in list {
            let key = (candidates.rawValue, result.name)
            if results["\(key.0)|\(key.1)"] == nil { order.append(key) }
            results["\(key.0)|\(key.1)", default: []].append(result)
          }
        }
      }
      var rows: [Row] = []
      for (protocolName, scorer) in order {
        let perSeed = results["\(protocolName)|\(scorer)"] ?? []
        for cutoff in perSeed.first?.cutoffs ?? [] {
          let values = perSeed.compactMap { $0.precision(at: cutoff.k) }
          let mean = values.reduce(0, +) / Double(max(values.count, 1))
          let variance =
            values.count > 1 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1) : 0
          rows.append(
            Row(
              protocol: protocolName, scorer: scorer, k: cutoff.k, mean: mean, sd: variance.squareRoot(),
              perSeed: values, users: perSeed.compactMap { $0.users(at: cutoff.k) }))
        }
      }
      let report = Report(data: data, seeds: seedList, model: modelName, chosen: chosen, rows: rows)
      if format == .json {
        print(try Output.json(report))
        return
      }
      print(chosen.joined(separator: "\n"))
      print(
        Output.table(
          ["protocol", "scorer", "k", "precision (mean)", "sd", "per seed", "users"],
          rows.map { row in
            [
              row.protocol, row.scorer, "\(row.k)", Output.number(row.mean), Output.number(row.sd),
              row.perSeed.map { Output.number($0) }.joined(separator: " "),
              row.users.map(String.init).joined(separator: " "),
            ]
          }, markdown: true))
    }
  }
}

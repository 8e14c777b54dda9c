import AffinityCTR
import AffinityCatalog
import AffinityCore
import ArgumentParser
import Foundation

/// `affinity ctr`: train a click-through-rate model on labelled interactions and report AUC
/// and log-loss on a test file.
struct CTRCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ctr",
    abstract: "Train a CTR model (lr, poly2, fm, ffm) and report AUC and log-loss on test rows.",
    discussion: """
      Each interaction becomes a row labelled 1 when its rating is ≥ --positive-threshold, with \
      the fields user, item and one field per feature column (categorical: one feature; \
      multi-label: several in one field, each 1/√n; age: MovieLens-1M bucket; year: decade). \
      Test features never seen in training (new users, items, categories) are dropped and \
      counted.

      Parameters: learningRate (eta), regularization (lambda), epochs (iter), optimizer \
      (sgd|adagrad); embeddingSize (k) for fm and ffm; hashBits for poly2; \
      initialStandardDeviation for fm; normalizesRows and usesLinearTerms for ffm.

      Example: affinity ctr --train train.tsv --test test.tsv --user-features ml-100k.user \
      --item-features ml-100k.item --user-feature-columns age,occupation \
      --item-feature-columns class --model ffm --param k=4
      """)

  @Option(help: "Training interactions (headerless 'user item rating timestamp', RecBole or CSV).")
  var train: String
  @Option(help: "Test interactions, same layouts as --train.")
  var test: String
  @OptionGroup var read: ReadOptions
  @OptionGroup var featureOptions: FeatureOptions
  @Option(help: "lr, poly2, fm or ffm.")
  var model: String
  @Option(name: .customLong("param"), help: "A hyperparameter as key=value (repeatable).")
  var parameters: [String] = []
  @Option(help: "Rows whose rating is ≥ this are positives.")
  var positiveThreshold: Float = 4
  @Option(help: "Seed for initialisation and the order of training rows.")
  var seed: UInt64 = 42
  @Option(help: "table or json.")
  var format: OutputFormat = .table

  func validate() throws {
    guard let kind = CTRModelKind.named(model) else {
      throw ValidationError(
        "--model must be one of \(CTRModelKind.allCases.map(\.rawValue).joined(separator: ", ")); got '\(model)'")
    }
    _ = try CLIErrors.mapped { try kind.resolve(ModelCatalog.parseParameters(parameters)) }
  }

  func run() throws {
    try CLIErrors.mapped {
      guard let kind = CTRModelKind.named(model) else { throw ValidationError("unknown --model '\(model)'") }
      let pairs = try ModelCatalog.parseParameters(parameters)
      let side = try featureOptions.load()
      let featurizer = CTRFeaturizer(users: side.users, items: side.items, positiveThreshold: positiveThreshold)
      let trainSet = try featurizer.trainingSet(try read.read(train))
      let testSet = featurizer.testSet(try read.read(test), vocabulary: trainSet.vocabulary)
      let bar = ProgressBar(enabled: format == .table)
      bar.begin(kind.rawValue)
      let callback = bar.callback
      // The bar labels a loss as RMSE; CTR losses are log-losses, so only steps are shown.
      let options = FitOptions(seed: seed) { progress in
        callback(FitProgress(model: progress.model, step: progress.step, totalSteps: progress.totalSteps))
      }
      let report = try kind.evaluate(pairs, train: trainSet, test: testSet, options: options)
      bar.finish(String(format: "fit %.2fs", report.fitSeconds))
      switch format {
      case .json:
        print(try Output.json(report))
      case .table:
        print(
          "model: \(report.model)   train: \(report.trainCount) rows   test: \(report.testCount) rows   "
            + "fields: \(report.fieldCount)   features: \(report.featureCount)")
        print(
          Output.table(
            ["metric", "value"],
            [
              ["auc", Output.number(report.metrics.auc)], ["logloss", Output.number(report.metrics.logLoss)],
              ["positive rate (train)", Output.number(report.trainPositiveRate)],
              ["positive rate (test)", Output.number(report.testPositiveRate)],
            ]))
        print(String(format: "fit %.3fs, predict %.3fs", report.fitSeconds, report.predictSeconds))
        if report.unseenFeatures > 0 {
          print("unseen test features: \(report.unseenFeatures) occurrences dropped (not in the training vocabulary)")
        }
      }
    }
  }
}

/// What `affinity ctr` prints with `--format json`.
struct CTRReport: Encodable {
  struct Metrics: Encodable {
    var auc: Double?
    var logLoss: Double?
    enum CodingKeys: String, CodingKey {
      case auc
      case logLoss = "logloss"
    }
  }

  var model: String
  var parameters: [String: CTRParameterValue]
  var metrics: Metrics
  var fitSeconds: Double
  var predictSeconds: Double
  var trainCount: Int
  var testCount: Int
  var trainPositiveRate: Double
  var testPositiveRate: Double
  var fieldCount: Int
  var featureCount: Int
  var unseenFeatures: Int
  var seed: UInt64

  enum CodingKeys: String, CodingKey {
    case model, parameters, metrics, seed
    case fitSeconds = "fit_seconds"
    case predictSeconds = "predict_seconds"
    case trainCount = "train_count"
    case testCount = "test_count"
    case trainPositiveRate = "train_positive_rate"
    case testPositiveRate = "test_positive_rate"
    case fieldCount = "field_count"
    case featureCount = "feature_count"
    case unseenFeatures = "unseen_features"
  }
}

/// The CTR models the command knows, by CLI name.
enum CTRModelKind: String, CaseIterable {
  case lr
  case poly2
  case fm
  case ffm

  /// The kind called `name` (or a long alias such as `factorization-machine`).
  static func named(_ name: String) -> CTRModelKind? {
    let aliases: [String: CTRModelKind] = [
      "logistic-regression": .lr, "logistic": .lr, "factorization-machine": .fm, "field-aware-fm": .ffm,
    ]
    return CTRModelKind(rawValue: name.lowercased()) ?? aliases[name.lowercased()]
  }

  /// The name configuration errors use, as the models' own `validate()` does.
  var modelName: String {
    switch self {
    case .lr: "LogisticRegression"
    case .poly2: "Poly2"
    case .fm: "FM"
    case .ffm: "FFM"
    }
  }

  /// The full configuration that `parameters` give, checked.
  func resolve(_ parameters: [(String, String)]) throws -> [String: CTRParameterValue] {
    switch self {
    case .lr: try CTRParameters.resolve(parameters, over: LogisticRegression.Configuration(), model: modelName).1
    case .poly2: try CTRParameters.resolve(parameters, over: Poly2.Configuration(), model: modelName).1
    case .fm: try CTRParameters.resolve(parameters, over: FactorizationMachine.Configuration(), model: modelName).1
    case .ffm:
      try CTRParameters.resolve(parameters, over: FieldAwareFactorizationMachine.Configuration(), model: modelName).1
    }
  }

  /// Trains on `train`, scores `test` and measures both.
  func evaluate(_ parameters: [(String, String)], train: CTRDataset, test: CTRDataset, options: FitOptions) throws
    -> CTRReport
  {
    switch self {
    case .lr: try run(LogisticRegression.self, .init(), parameters, train, test, options)
    case .poly2: try run(Poly2.self, .init(), parameters, train, test, options)
    case .fm: try run(FactorizationMachine.self, .init(), parameters, train, test, options)
    case .ffm: try run(FieldAwareFactorizationMachine.self, .init(), parameters, train, test, options)
    }
  }

  private func run<Model: CTRModel>(
    _: Model.Type, _ defaults: Model.Configuration, _ parameters: [(String, String)], _ train: CTRDataset,
    _ test: CTRDataset, _ options: FitOptions
  ) throws -> CTRReport {
    let (configuration, fields) = try CTRParameters.resolve(parameters, over: defaults, model: modelName)
    let fitStart = DispatchTime.now()
    let model = try Model.fit(train, configuration: configuration, options: options)
    let fitSeconds = Double(DispatchTime.now().uptimeNanoseconds - fitStart.uptimeNanoseconds) / 1e9
    let predictStart = DispatchTime.now()
    let evaluation = CTREvaluation(model, on: test)
    let predictSeconds = Double(DispatchTime.now().uptimeNanoseconds - predictStart.uptimeNanoseconds) / 1e9
    return CTRReport(
      model: rawValue, parameters: fields, metrics: .init(auc: evaluation.auc, logLoss: evaluation.logLoss),
      fitSeconds: fitSeconds, predictSeconds: predictSeconds, trainCount: train.count, testCount: test.count,
      trainPositiveRate: train.positiveRate, testPositiveRate: test.positiveRate,
      fieldCount: train.vocabulary.fieldCount, featureCount: train.vocabulary.featureCount,
      unseenFeatures: test.unseenFeatureCount, seed: options.seed)
  }
}

/// One configuration field as JSON: a number, a flag or a name.
enum CTRParameterValue: Codable, Equatable {
  case bool(Bool)
  case number(Double)
  case string(String)

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let flag = try? container.decode(Bool.self) {
      self = .bool(flag)
    } else if let number = try? container.decode(Double.self) {
      self = .number(number)
    } else {
      self = .string(try container.decode(String.self))
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .bool(let flag): try container.encode(flag)
    case .number(let number): try container.encode(number)
    case .string(let text): try container.encode(text)
    }
  }
}

/// Applies `key=value` parameters to a CTR configuration through its JSON fields, as the model
/// catalog does for the recommenders; libffm's and pyFM's short names work too.
enum CTRParameters {
  static let aliases: [String: String] = [
    "k": "embeddingSize", "factors": "embeddingSize", "num_factors": "embeddingSize", "eta": "learningRate",
    "lr": "learningRate", "learning_rate": "learningRate", "learning_rate_init": "learningRate",
    "lambda": "regularization", "reg": "regularization", "l2": "regularization", "iter": "epochs",
    "n_epochs": "epochs", "num_iter": "epochs", "init_std": "initialStandardDeviation",
    "init_stdev": "initialStandardDeviation", "hash_bits": "hashBits", "norm": "normalizesRows",
    "linear": "usesLinearTerms",
  ]

  static func fields<C: ModelConfiguration>(_ configuration: C) -> [String: CTRParameterValue] {
    guard let data = try? JSONEncoder().encode(configuration),
      let fields = try? JSONDecoder().decode([String: CTRParameterValue].self, from: data)
    else { return [:] }
    // Float fields widen to Double with noise (0.05 → 0.05000000074505806); print them as Floats.
    return fields.mapValues { value in
      guard case .number(let number) = value, number != number.rounded() else { return value }
      return .number(Double(String(Float(number))) ?? number)
    }
  }

  /// `base` with `parameters` applied and validated, and its fields.
  static func resolve<C: ModelConfiguration>(_ parameters: [(String, String)], over base: C, model: String) throws
    -> (C, [String: CTRParameterValue])
  {
    var configuration = base
    for (name, value) in parameters {
      var fields = fields(configuration)
      let target = fields[name] != nil ? name : aliases[name] ?? name
      guard let old = fields[target] else {
        throw CatalogError.unknownParameter(model: model, parameter: name, known: fields.keys.sorted())
      }
      var expected = "a valid value for that field"
      switch old {
      case .bool:
        expected = "true or false"
        switch value.lowercased() {
        case "true", "1", "yes": fields[target] = .bool(true)
        case "false", "0", "no": fields[target] = .bool(false)
        default: throw CatalogError.invalidValue(model: model, parameter: target, value: value, expected: expected)
        }
      case .number(let number):
        expected = number == number.rounded() && isIntegerField(target, in: configuration) ? "a whole number" : "a number"
        guard let parsed = Double(value), parsed.isFinite else {
          throw CatalogError.invalidValue(model: model, parameter: target, value: value, expected: expected)
        }
        fields[target] = .number(parsed)
      case .string:
        if target == "optimizer" {
          expected = "one of " + CTROptimizer.allCases.map(\.rawValue).joined(separator: ", ")
        }
        fields[target] = .string(value)
      }
      guard let data = try? JSONEncoder().encode(fields), let decoded = try? JSONDecoder().decode(C.self, from: data)
      else { throw CatalogError.invalidValue(model: model, parameter: target, value: value, expected: expected) }
      configuration = decoded
    }
    try configuration.validate()
    return (configuration, fields(configuration))
  }

  /// True when the field decodes only from whole numbers.
  static func isIntegerField<C: ModelConfiguration>(_ name: String, in base: C) -> Bool {
    var fields = fields(base)
    fields[name] = .number(0.5)
    guard let data = try? JSONEncoder().encode(fields) else { return false }
    return (try? JSONDecoder().decode(C.self, from: data)) == nil
  }
}

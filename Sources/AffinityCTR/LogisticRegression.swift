public import AffinityCore
import Foundation

/// Logistic regression on sparse features: `φ(x) = w₀ + Σ_j w_j x_j`.
///
/// The floor every CTR model must beat: one weight per feature, no interactions, so it learns
/// how likely each user, item and category is to be positive but not which combinations are.
/// Trained by SGD or Adagrad on the log-loss with L2 `λ` on the weights a row touches.
///
/// - Complexity: O(epochs · nnz) time; O(features) memory.
public struct LogisticRegression: CTRModel {
  public struct Configuration: ModelConfiguration {
    public var learningRate: Float
    /// L2 strength `λ` on the feature weights (not the bias).
    public var regularization: Float
    public var epochs: Int
    public var optimizer: CTROptimizer

    /// Defaults chosen on a validation split carved from MovieLens-100k training data
    /// (`docs/benchmarks/ctr-comparison.md`).
    public init(
      learningRate: Float = 0.2, regularization: Float = 1e-4, epochs: Int = 10, optimizer: CTROptimizer = .adagrad
    ) {
      self.learningRate = learningRate
      self.regularization = regularization
      self.epochs = epochs
      self.optimizer = optimizer
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("LogisticRegression")
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("epochs", epochs)
    }
  }

  public static let kind = "lr"
  public let configuration: Configuration
  public let vocabulary: CTRVocabulary
  /// `w₀`.
  public let bias: Float
  /// `w_j`, one per feature.
  public let weights: [Float]

  public static func fit(
    _ data: CTRDataset, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> LogisticRegression {
    try CTRTraining.check(configuration, data)
    let c = configuration
    let n = data.vocabulary.featureCount
    var parameters = [Float](repeating: 0, count: n + 1)  // weights, then the bias
    var accumulators = [Float](repeating: 1, count: n + 1)
    let step = ScalarStep(optimizer: c.optimizer, learningRate: c.learningRate)
    let lambda = c.regularization
    var failure: FitError?
    data.withRowPointers { rows in
      do throws(FitError) {
        try CTRTraining.run("LogisticRegression", kind: kind, rows: data.count, epochs: c.epochs, options: options) {
          order in
          parameters.withUnsafeMutableBufferPointer { pb in
            accumulators.withUnsafeMutableBufferPointer { ab in
              guard let w = pb.baseAddress, let g = ab.baseAddress else { return (0, false) }
              var loss = 0.0
              for r in order {
                let range = rows.starts[r]..<rows.starts[r + 1]
                var z = w[n]
                for p in range { z += w[Int(rows.features[p])] * rows.values[p] }
                let y = rows.labels[r]
                loss += CTRMath.logLoss(logit: z, label: y)
                let kappa = CTRMath.sigmoid(z) - y
                step.apply(w + n, g + n, gradient: kappa)
                for p in range {
                  let j = Int(rows.features[p])
                  step.apply(w + j, g + j, gradient: kappa * rows.values[p] + lambda * w[j])
                }
              }
              return (loss, CTRTraining.isFinite(pb))
            }
          }
        }
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    return LogisticRegression(
      configuration: c, vocabulary: data.vocabulary, bias: parameters[n], weights: Array(parameters[..<n]))
  }

  init(configuration: Configuration, vocabulary: CTRVocabulary, bias: Float, weights: [Float]) {
    self.configuration = configuration
    self.vocabulary = vocabulary
    self.bias = bias
    self.weights = weights
  }

  public func logit(_ row: CTRRow) -> Float {
    var z = bias
    for (j, x) in zip(row.features, row.values) where j >= 0 && Int(j) < weights.count {
      z += weights[Int(j)] * x
    }
    return z
  }

  enum CodingKeys: String, CodingKey { case configuration, vocabulary, bias, weights }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    vocabulary = try container.decode(CTRVocabulary.self, forKey: .vocabulary)
    bias = try container.decode(Float.self, forKey: .bias)
    weights = try container.decode(FloatBlob.self, forKey: .weights).values
    guard weights.hasShape(vocabulary.featureCount), bias.isFinite else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "weights do not match the vocabulary"))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(vocabulary, forKey: .vocabulary)
    try container.encode(bias, forKey: .bias)
    try container.encode(FloatBlob(weights), forKey: .weights)
  }
}

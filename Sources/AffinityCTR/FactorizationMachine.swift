public import AffinityCore
import Foundation

/// A factorization machine: `φ(x) = w₀ + Σ_j w_j x_j + Σ_{a<b} ⟨v_{j_a}, v_{j_b}⟩ x_a x_b`.
///
/// Each feature has a weight and a latent vector of ``Configuration/embeddingSize`` values;
/// a pair's cross weight is the dot product of their vectors, so crosses never seen together in
/// training still get an estimate. The pairwise sum is computed in O(k·n) per row with
/// Rendle's identity `½ Σ_f [(Σ_j v_jf x_j)² − Σ_j v_jf² x_j²]`, and its gradient for `v_j` is
/// `x_j (Σ_i v_i x_i − v_j x_j)`. Latent vectors start from `N(0, σ²)`; rows are padded to a
/// multiple of 4 floats for the SIMD kernels.
///
/// - Complexity: O(epochs · nnz · k) time; O(features · k) memory.
///
/// Rendle. "Factorization Machines." ICDM 2010.
public struct FactorizationMachine: CTRModel {
  public struct Configuration: ModelConfiguration {
    /// `k`, the length of each feature's latent vector.
    public var embeddingSize: Int
    public var learningRate: Float
    /// L2 strength `λ` on the weights and latent vectors a row touches.
    public var regularization: Float
    public var epochs: Int
    public var optimizer: CTROptimizer
    /// `σ` of the normal draw that starts the latent vectors.
    public var initialStandardDeviation: Float

    /// Defaults chosen on a validation split carved from MovieLens-100k training data.
    public init(
      embeddingSize: Int = 16, learningRate: Float = 0.1, regularization: Float = 0.05, epochs: Int = 20,
      optimizer: CTROptimizer = .adagrad, initialStandardDeviation: Float = 0.01
    ) {
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.regularization = regularization
      self.epochs = epochs
      self.optimizer = optimizer
      self.initialStandardDeviation = initialStandardDeviation
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("FM")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("epochs", epochs)
      try check.nonNegative("initialStandardDeviation", initialStandardDeviation)
    }
  }

  public static let kind = "fm"
  public let configuration: Configuration
  public let vocabulary: CTRVocabulary
  /// `w₀`.
  public let bias: Float
  /// `w_j`, one per feature.
  public let weights: [Float]
  /// `v_j`, feature `j` at `j · width ..< j · width + embeddingSize` (padding lanes are 0).
  public let factors: [Float]

  /// Floats per latent row: the embedding size rounded up to a multiple of 4.
  public var width: Int { paddedWidth(configuration.embeddingSize) }

  public static func fit(
    _ data: CTRDataset, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> FactorizationMachine {
    try CTRTraining.check(configuration, data)
    let c = configuration
    let n = data.vocabulary.featureCount
    let k = c.embeddingSize
    let width = paddedWidth(k)
    var linear = [Float](repeating: 0, count: n + 1)  // weights, then the bias
    var linearSums = [Float](repeating: 1, count: n + 1)
    var factors = [Float](repeating: 0, count: n * width)
    var generator = SeededGenerator(seed: options.seed, stream: 1)
    for j in 0..<n {
      for f in 0..<k { factors[j * width + f] = Float(generator.nextGaussian()) * c.initialStandardDeviation }
    }
    let adagrad = c.optimizer == .adagrad
    var factorSums = [Float](repeating: 1, count: adagrad ? factors.count : 0)
    var scratch = [Float](repeating: 0, count: 2 * width)
    let step = ScalarStep(optimizer: c.optimizer, learningRate: c.learningRate)
    let lambda = c.regularization
    let lr = c.learningRate
    var failure: FitError?
    data.withRowPointers { rows in
      do throws(FitError) {
        try CTRTraining.run("FM", kind: kind, rows: data.count, epochs: c.epochs, options: options) { order in
          linear.withUnsafeMutableBufferPointer { lb in
            linearSums.withUnsafeMutableBufferPointer { gb in
              factors.withUnsafeMutableBufferPointer { vb in
                factorSums.withUnsafeMutableBufferPointer { vgb in
                  scratch.withUnsafeMutableBufferPointer { sb in
                    guard let w = lb.baseAddress, let g = gb.baseAddress, let s = sb.baseAddress else { return (0, false) }
                    let v = vb.baseAddress ?? s  // nil only when there are no features, then unused
                    let q = s + width
                    var loss = 0.0
                    for r in order {
                      let range = rows.starts[r]..<rows.starts[r + 1]
                      s.update(repeating: 0, count: 2 * width)
                      var z = w[n]
                      for p in range {
                        let j = Int(rows.features[p])
                        let x = rows.values[p]
                        z += w[j] * x
                        LatentKernels.accumulate(s, q, v + j * width, x: x, width: width)
                      }
                      z += LatentKernels.halfPairSum(s, q, width: width)
                      let y = rows.labels[r]
                      loss += CTRMath.logLoss(logit: z, label: y)
                      let kappa = CTRMath.sigmoid(z) - y
                      step.apply(w + n, g + n, gradient: kappa)
                      for p in range {
                        let j = Int(rows.features[p])
                        let x = rows.values[p]
                        step.apply(w + j, g + j, gradient: kappa * x + lambda * w[j])
                        LatentKernels.factorStep(
                          v + j * width, accumulators: adagrad ? vgb.baseAddress.map { $0 + j * width } : nil, sum: s,
                          x: x, kappa: kappa, lambda: lambda, learningRate: lr, width: width)
                      }
                    }
                    return (loss, CTRTraining.isFinite(lb) && CTRTraining.isFinite(vb))
                  }
                }
              }
            }
          }
        }
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    return FactorizationMachine(
      configuration: c, vocabulary: data.vocabulary, bias: linear[n], weights: Array(linear[..<n]), factors: factors)
  }

  init(configuration: Configuration, vocabulary: CTRVocabulary, bias: Float, weights: [Float], factors: [Float]) {
    self.configuration = configuration
    self.vocabulary = vocabulary
    self.bias = bias
    self.weights = weights
    self.factors = factors
  }

  public func logit(_ row: CTRRow) -> Float {
    let width = self.width
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * width) { scratch in
      factors.withUnsafeBufferPointer { vb in
        guard let s = scratch.baseAddress else { return bias }
        s.initialize(repeating: 0, count: 2 * width)
        var z = bias
        for (j, x) in zip(row.features, row.values) where j >= 0 && Int(j) < weights.count {
          z += weights[Int(j)] * x
          if let v = vb.baseAddress { LatentKernels.accumulate(s, s + width, v + Int(j) * width, x: x, width: width) }
        }
        return z + LatentKernels.halfPairSum(s, s + width, width: width)
      }
    }
  }

  enum CodingKeys: String, CodingKey { case configuration, vocabulary, bias, weights, factors }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    vocabulary = try container.decode(CTRVocabulary.self, forKey: .vocabulary)
    bias = try container.decode(Float.self, forKey: .bias)
    weights = try container.decode(FloatBlob.self, forKey: .weights).values
    factors = try container.decode(FloatBlob.self, forKey: .factors).values
    let n = vocabulary.featureCount
    guard (try? configuration.validate()) != nil, weights.hasShape(n),
      factors.hasShape(n * paddedWidth(configuration.embeddingSize)), bias.isFinite
    else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "parameters do not match the vocabulary"))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(vocabulary, forKey: .vocabulary)
    try container.encode(bias, forKey: .bias)
    try container.encode(FloatBlob(weights), forKey: .weights)
    try container.encode(FloatBlob(factors), forKey: .factors)
  }
}

public import AffinityCore
import Foundation

/// Degree-2 polynomial logistic regression with hashed crosses:
/// `φ(x) = w₀ + Σ_j w_j x_j + Σ_{a<b} h[H(j_a, j_b)] x_a x_b`.
///
/// Every pair of features in a row gets its own weight, looked up in a table of
/// `2^hashBits` buckets through a 64-bit mix of the (unordered) pair, as in the Poly2 baseline
/// of Juan et al. Pairs that never co-occur in training keep weight 0, which is why Poly2
/// generalises worse than FM on sparse crosses.
///
/// - Complexity: O(epochs · Σ_rows n²) time for `n` features per row; O(features + 2^hashBits)
///   memory.
///
/// Chang et al. "Training and Testing Low-degree Polynomial Data Mappings via Linear SVM."
/// JMLR 2010. Juan et al. "Field-aware Factorization Machines for CTR Prediction." RecSys 2016.
public struct Poly2: CTRModel {
  public struct Configuration: ModelConfiguration {
    public var learningRate: Float
    /// L2 strength `λ` on the linear and cross weights.
    public var regularization: Float
    public var epochs: Int
    public var optimizer: CTROptimizer
    /// The cross table has `2^hashBits` weights.
    public var hashBits: Int

    /// Defaults chosen on a validation split carved from MovieLens-100k training data.
    public init(
      learningRate: Float = 0.1, regularization: Float = 1e-3, epochs: Int = 3, optimizer: CTROptimizer = .adagrad,
      hashBits: Int = 20
    ) {
      self.learningRate = learningRate
      self.regularization = regularization
      self.epochs = epochs
      self.optimizer = optimizer
      self.hashBits = hashBits
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("Poly2")
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("epochs", epochs)
      if !(1...28).contains(hashBits) {
        throw ConfigurationError(model: "Poly2", parameter: "hashBits", value: hashBits, requirement: "between 1 and 28")
      }
    }
  }

  public static let kind = "poly2"
  public let configuration: Configuration
  public let vocabulary: CTRVocabulary
  public let bias: Float
  /// `w_j`, one per feature.
  public let weights: [Float]
  /// `h`, `2^hashBits` cross weights.
  public let crossWeights: [Float]

  /// The bucket of the pair `{a, b}`: the splitmix64 finaliser of `(min, max)`, masked.
  @inline(__always)
  static func bucket(_ a: Int32, _ b: Int32, mask: Int) -> Int {
    let (lo, hi) = a < b ? (a, b) : (b, a)
    var z = UInt64(UInt32(bitPattern: lo)) << 32 | UInt64(UInt32(bitPattern: hi))
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Int(truncatingIfNeeded: z) & mask
  }

  public static func fit(_ data: CTRDataset, configuration: Configuration, options: FitOptions) throws(FitError) -> Poly2 {
    try CTRTraining.check(configuration, data)
    let c = configuration
    let n = data.vocabulary.featureCount
    let mask = (1 << c.hashBits) - 1
    var linear = [Float](repeating: 0, count: n + 1)  // weights, then the bias
    var linearSums = [Float](repeating: 1, count: n + 1)
    // Each bucket's weight and its Adagrad sum side by side: one cache miss per cross, not two.
    var crosses = [Float](repeating: 0, count: 2 << c.hashBits)
    for b in 0...mask { crosses[2 * b + 1] = 1 }
    let step = ScalarStep(optimizer: c.optimizer, learningRate: c.learningRate)
    let lambda = c.regularization
    var failure: FitError?
    data.withRowPointers { rows in
      do throws(FitError) {
        try CTRTraining.run("Poly2", kind: kind, rows: data.count, epochs: c.epochs, options: options) { order in
          linear.withUnsafeMutableBufferPointer { lb in
            linearSums.withUnsafeMutableBufferPointer { gb in
              crosses.withUnsafeMutableBufferPointer { hb in
                guard let w = lb.baseAddress, let g = gb.baseAddress, let h = hb.baseAddress else { return (0, false) }
                var loss = 0.0
                for r in order {
                  let start = rows.starts[r]
                  let end = rows.starts[r + 1]
                  var z = w[n]
                  for p in start..<end {
                    z += w[Int(rows.features[p])] * rows.values[p]
                    for q in (p + 1)..<end {
                      z += h[2 * bucket(rows.features[p], rows.features[q], mask: mask)] * rows.values[p] * rows.values[q]
                    }
                  }
                  let y = rows.labels[r]
                  loss += CTRMath.logLoss(logit: z, label: y)
                  let kappa = CTRMath.sigmoid(z) - y
                  step.apply(w + n, g + n, gradient: kappa)
                  for p in start..<end {
                    let j = Int(rows.features[p])
                    let xp = rows.values[p]
                    step.apply(w + j, g + j, gradient: kappa * xp + lambda * w[j])
                    for q in (p + 1)..<end {
                      let b = 2 * bucket(rows.features[p], rows.features[q], mask: mask)
                      step.apply(h + b, h + b + 1, gradient: kappa * xp * rows.values[q] + lambda * h[b])
                    }
                  }
                }
                return (loss, CTRTraining.isFinite(lb) && CTRTraining.isFinite(hb))
              }
            }
          }
        }
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    return Poly2(
      configuration: c, vocabulary: data.vocabulary, bias: linear[n], weights: Array(linear[..<n]),
      crossWeights: (0...mask).map { crosses[2 * $0] })
  }

  init(configuration: Configuration, vocabulary: CTRVocabulary, bias: Float, weights: [Float], crossWeights: [Float]) {
    self.configuration = configuration
    self.vocabulary = vocabulary
    self.bias = bias
    self.weights = weights
    self.crossWeights = crossWeights
  }

  public func logit(_ row: CTRRow) -> Float {
    let mask = crossWeights.count - 1
    let features = Array(row.features.filter { $0 >= 0 && Int($0) < weights.count })
    let values = zip(row.features, row.values).filter { $0.0 >= 0 && Int($0.0) < weights.count }.map(\.1)
    var z = bias
    for p in features.indices {
      z += weights[Int(features[p])] * values[p]
      for q in (p + 1)..<features.count {
        z += crossWeights[Self.bucket(features[p], features[q], mask: mask)] * values[p] * values[q]
      }
    }
    return z
  }

  enum CodingKeys: String, CodingKey { case configuration, vocabulary, bias, weights, crossWeights }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    vocabulary = try container.decode(CTRVocabulary.self, forKey: .vocabulary)
    bias = try container.decode(Float.self, forKey: .bias)
    weights = try container.decode(FloatBlob.self, forKey: .weights).values
    crossWeights = try container.decode(FloatBlob.self, forKey: .crossWeights).values
    guard (try? configuration.validate()) != nil, weights.hasShape(vocabulary.featureCount),
      crossWeights.hasShape(1 << configuration.hashBits), bias.isFinite
    else {
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
    try container.encode(FloatBlob(crossWeights), forKey: .crossWeights)
  }
}

public import AffinityCore
import Foundation

/// A field-aware factorization machine:
/// `φ(x) = [w₀ + Σ_j w_j x_j] + Σ_{a<b} ⟨w_{j_a, f_b}, w_{j_b, f_a}⟩ x_a x_b · r`.
///
/// Each feature keeps one latent vector per field, and a pair uses the vector each feature
/// keeps for the *other* feature's field, so a user's affinity to genres is learned apart from
/// their affinity to items. As in libffm, vectors start from `U(0, 1/√k)`, training uses
/// Adagrad with accumulators starting at 1, both vectors of a pair step from the same old
/// values, and each row is scaled by `r = 1 / Σ_j x_j²` (instance normalisation; turn it off
/// with ``Configuration/normalizesRows``). libffm has no linear terms; ``Configuration/usesLinearTerms``
/// adds the bias and per-feature weights. Vectors are padded to a multiple of 4 floats for the
/// SIMD kernels.
///
/// - Complexity: O(epochs · Σ_rows n² · k) time for `n` features per row;
///   O(features · fields · k) memory.
///
/// Juan, Zhuang, Chin, Lin. "Field-aware Factorization Machines for CTR Prediction." RecSys 2016.
public struct FieldAwareFactorizationMachine: CTRModel {
  public struct Configuration: ModelConfiguration {
    /// `k`, the length of each latent vector.
    public var embeddingSize: Int
    public var learningRate: Float
    /// L2 strength `λ` on the latent vectors (and linear weights) a row touches.
    public var regularization: Float
    public var epochs: Int
    public var optimizer: CTROptimizer
    /// Scale each row by `1 / Σ_j x_j²`, as libffm does unless `--no-norm`.
    public var normalizesRows: Bool
    /// Add a bias and one weight per feature to libffm's purely pairwise model.
    public var usesLinearTerms: Bool

    /// Defaults chosen on a validation split carved from MovieLens-100k training data. libffm's
    /// are k 4, η 0.2, λ 2e-5, 15 epochs, Adagrad, normalised rows and no linear terms
    /// (`--param k=4 --param lambda=2e-5 --param epochs=15 --param usesLinearTerms=false`).
    public init(
      embeddingSize: Int = 8, learningRate: Float = 0.2, regularization: Float = 0.003, epochs: Int = 10,
      optimizer: CTROptimizer = .adagrad, normalizesRows: Bool = true, usesLinearTerms: Bool = true
    ) {
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.regularization = regularization
      self.epochs = epochs
      self.optimizer = optimizer
      self.normalizesRows = normalizesRows
      self.usesLinearTerms = usesLinearTerms
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("FFM")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("epochs", epochs)
    }
  }

  public static let kind = "ffm"
  public let configuration: Configuration
  public let vocabulary: CTRVocabulary
  /// `w₀`; 0 without linear terms.
  public let bias: Float
  /// `w_j`; all 0 without linear terms.
  public let weights: [Float]
  /// `w_{j,f}` at `(j · fields + f) · width ..< … + embeddingSize` (padding lanes are 0).
  public let factors: [Float]

  /// Floats per latent vector: the embedding size rounded up to a multiple of 4.
  public var width: Int { paddedWidth(configuration.embeddingSize) }

  public static func fit(
    _ data: CTRDataset, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> FieldAwareFactorizationMachine {
    try CTRTraining.check(configuration, data)
    let c = configuration
    let n = data.vocabulary.featureCount
    let fieldCount = data.vocabulary.fieldCount
    let k = c.embeddingSize
    let width = paddedWidth(k)
    var linear = [Float](repeating: 0, count: n + 1)  // weights, then the bias
    var linearSums = [Float](repeating: 1, count: n + 1)
    var factors = [Float](repeating: 0, count: n * fieldCount * width)
    var generator = SeededGenerator(seed: options.seed, stream: 2)
    let scale = 1 / Float(k).squareRoot()
    for row in 0..<(n * fieldCount) {
      for f in 0..<k { factors[row * width + f] = scale * Float(generator.nextUniform()) }
    }
    let adagrad = c.optimizer == .adagrad
    var factorSums = [Float](repeating: 1, count: adagrad ? factors.count : 0)
    let step = ScalarStep(optimizer: c.optimizer, learningRate: c.learningRate)
    let lambda = c.regularization
    let lr = c.learningRate
    let usesLinear = c.usesLinearTerms
    var failure: FitError?
    data.withRowPointers { rows in
      do throws(FitError) {
        try CTRTraining.run("FFM", kind: kind, rows: data.count, epochs: c.epochs, options: options) { order in
          linear.withUnsafeMutableBufferPointer { lb in
            linearSums.withUnsafeMutableBufferPointer { gb in
              factors.withUnsafeMutableBufferPointer { vb in
                factorSums.withUnsafeMutableBufferPointer { vgb in
                  guard let w = lb.baseAddress, let g = gb.baseAddress else { return (0, false) }
                  guard let v = vb.baseAddress else { return (0, n == 0 || fieldCount == 0) }
                  let sums = vgb.baseAddress
                  var loss = 0.0
                  for r in order {
                    let start = rows.starts[r]
                    let end = rows.starts[r + 1]
                    var norm: Float = 0
                    for p in start..<end { norm += rows.values[p] * rows.values[p] }
                    let scaling: Float = c.normalizesRows && norm > 0 ? 1 / norm : 1
                    var z: Float = 0
                    if usesLinear {
                      z = w[n]
                      for p in start..<end { z += w[Int(rows.features[p])] * rows.values[p] }
                    }
                    for a in start..<end {
                      let rowA = Int(rows.features[a]) * fieldCount
                      let fieldA = Int(rows.fields[a])
                      let xa = rows.values[a] * scaling
                      for b in (a + 1)..<end {
                        let v1 = v + (rowA + Int(rows.fields[b])) * width
                        let v2 = v + (Int(rows.features[b]) * fieldCount + fieldA) * width
                        z += LatentKernels.dot(v1, v2, width: width) * xa * rows.values[b]
                      }
                    }
                    let y = rows.labels[r]
                    loss += CTRMath.logLoss(logit: z, label: y)
                    let kappa = CTRMath.sigmoid(z) - y
                    if usesLinear {
                      step.apply(w + n, g + n, gradient: kappa)
                      for p in start..<end {
                        let j = Int(rows.features[p])
                        step.apply(w + j, g + j, gradient: kappa * rows.values[p] + lambda * w[j])
                      }
                    }
                    for a in start..<end {
                      let rowA = Int(rows.features[a]) * fieldCount
                      let fieldA = Int(rows.fields[a])
                      let kxa = kappa * rows.values[a] * scaling
                      for b in (a + 1)..<end {
                        let o1 = (rowA + Int(rows.fields[b])) * width
                        let o2 = (Int(rows.features[b]) * fieldCount + fieldA) * width
                        LatentKernels.pairStep(
                          v + o1, v + o2, accumulators: sums.map { $0 + o1 }, sums.map { $0 + o2 },
                          scale: kxa * rows.values[b], lambda: lambda, learningRate: lr, width: width)
                      }
                    }
                  }
                  return (loss, CTRTraining.isFinite(lb) && CTRTraining.isFinite(vb))
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
    return FieldAwareFactorizationMachine(
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
    let fieldCount = vocabulary.fieldCount
    var entries: [(field: Int, feature: Int, value: Float)] = []
    for (field, (j, x)) in zip(row.fields, zip(row.features, row.values)) {
      let f = Int(field)
      guard j >= 0, Int(j) < weights.count, f >= 0, f < fieldCount else { continue }
      entries.append((f, Int(j), x))
    }
    var norm: Float = 0
    for entry in entries { norm += entry.value * entry.value }
    let scaling: Float = configuration.normalizesRows && norm > 0 ? 1 / norm : 1
    var z: Float = 0
    if configuration.usesLinearTerms {
      z = bias
      for entry in entries { z += weights[entry.feature] * entry.value }
    }
    return factors.withUnsafeBufferPointer { vb in
      guard let v = vb.baseAddress else { return z }
      for a in entries.indices {
        for b in (a + 1)..<entries.count {
          let v1 = v + (entries[a].feature * fieldCount + entries[b].field) * width
          let v2 = v + (entries[b].feature * fieldCount + entries[a].field) * width
          z += LatentKernels.dot(v1, v2, width: width) * entries[a].value * entries[b].value * scaling
        }
      }
      return z
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
      factors.hasShape(n * vocabulary.fieldCount * paddedWidth(configuration.embeddingSize)), bias.isFinite
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

public import AffinityCore
public import AffinityLinalg
import Foundation

/// Logistic matrix factorization: the probability that `u` interacts with `i` is
/// `σ(x_uᵀ y_i + b_u + b_i)`.
///
/// Maximises `Σ_{(u,i)} c_ui log σ(s_ui) + Σ_{(u,j) sampled} log(1 − σ(s_uj)) − λ/2 ‖Θ‖²` with
/// `c_ui = 1 + α w_ui` on the observed pairs and `negativeSamples` uniformly drawn unobserved
/// items per pair (implicit's `LogisticMatrixFactorization` samples negatives the same way).
/// Each epoch visits every pair once, users in a seeded order, with per-parameter Adagrad.
///
/// - Complexity: O(epochs · nnz · (1 + negativeSamples) · k).
///
/// Johnson. "Logistic Matrix Factorization for Implicit Feedback Data." NIPS workshop 2014.
public struct LogisticMatrixFactorization: EmbeddingRecommender {
  public struct Configuration: ModelConfiguration {
    public var embeddingSize: Int
    public var learningRate: Float
    public var regularization: Float
    public var confidenceWeight: Float
    public var epochs: Int
    public var negativeSamples: Int
    /// Adagrad (implicit's choice), Adam or plain SGD.
    public var optimizer: OptimizerKind

    public init(
      embeddingSize: Int = 64, learningRate: Float = 0.05, regularization: Float = 0.001,
      confidenceWeight: Float = 1, epochs: Int = 30, negativeSamples: Int = 3, optimizer: OptimizerKind = .adagrad
    ) {
      self.optimizer = optimizer
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.regularization = regularization
      self.confidenceWeight = confidenceWeight
      self.epochs = epochs
      self.negativeSamples = negativeSamples
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("LogisticMF")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.nonNegative("confidenceWeight", confidenceWeight)
      try check.positive("epochs", epochs)
      try check.positive("negativeSamples", negativeSamples)
    }
  }

  public static let kind = "logistic-mf"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let embeddings: EmbeddingTable
  public let userBiases: [Float]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> LogisticMatrixFactorization {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var (x, y) = FactorTraining.initialEmbeddings(data, embeddingSize: k, seed: options.seed)
    var userBias = [Float](repeating: 0, count: data.users.count)
    var itemBias = [Float](repeating: 0, count: data.items.count)
    var xState = OptimizerState(c.optimizer, rows: x.rows, width: x.stride)
    var yState = OptimizerState(c.optimizer, rows: y.rows, width: y.stride)
    var userBiasState = OptimizerState(c.optimizer, rows: userBias.count, width: 1)
    var itemBiasState = OptimizerState(c.optimizer, rows: itemBias.count, width: 1)
    let ratings = data.byUser
    let positives = PositiveSets(ratings)
    let userOfPosition = FactorTraining.rowOfPosition(ratings)
    let stride = x.stride
    let itemCount = data.items.count
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    for epoch in 1...c.epochs {
      let order = FactorTraining.epochOrder(ratings, generator: &generator)
      var correct = 0
      x.storage.withUnsafeMutableBufferPointer { xb in
        y.storage.withUnsafeMutableBufferPointer { yb in
          xState.withPointers { xs in
            yState.withPointers { ys in
              userBiasState.withPointers { ubs in
                itemBiasState.withPointers { ibs in
                  userBias.withUnsafeMutableBufferPointer { ubb in
                    itemBias.withUnsafeMutableBufferPointer { ibb in
                      guard let xp = xb.baseAddress, let yp = yb.baseAddress, let userBias = ubb.baseAddress,
                        let itemBias = ibb.baseAddress
                      else { return }
                      var old = [Float](repeating: 0, count: stride)
                      old.withUnsafeMutableBufferPointer { ob in
                        guard let xOld = ob.baseAddress else { return }
                        /// One Adagrad step on `weight · (−label log σ(s) − (1 − label) log(1 − σ(s)))`.
                        func update(_ u: Int, _ i: Int, weight: Float, label: Float) {
                          let xu = xp + u * stride
                          let yi = yp + i * stride
                          let s = Vector.dot(xu, yi, count: stride) + userBias[u] + itemBias[i]
                          let p = 1 / (1 + Foundation.exp(-s))
                          if (p > 0.5) == (label == 1) { correct += 1 }
                          let g = weight * (p - label)
                          xOld.update(from: xu, count: stride)
                          xs.step(row: u, xu, scaled: g, by: yi, decay: c.regularization, lr: c.learningRate)
                          ys.step(row: i, yi, scaled: g, by: xOld, decay: c.regularization, lr: c.learningRate)
                          ubs.step(row: u, userBias + u, gradient: g, lr: c.learningRate)
                          ibs.step(row: i, itemBias + i, gradient: g, lr: c.learningRate)
                        }
                        for position in order {
                          let u = Int(userOfPosition[Int(position)])
                          let weight = 1 + c.confidenceWeight * max(ratings.values[Int(position)], 0)
                          update(u, Int(ratings.columns[Int(position)]), weight: weight, label: 1)
                          for _ in 0..<c.negativeSamples {
                            let j = generator.nextInt(below: itemCount)
                            if !positives.contains(user: u, item: Int32(j)) { update(u, j, weight: 1, label: 0) }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
      guard x.isFinite, y.isFinite else { throw .diverged(model: "LogisticMF", epoch: epoch) }
      // Reported: the share of pairs on the right side of 0.5 before their update.
      options.report(
        kind, step: epoch, of: c.epochs, loss: Double(correct) / Double(max(data.count * (1 + c.negativeSamples), 1)))
    }
    return LogisticMatrixFactorization(
      configuration: c, index: TrainingIndex(data),
      embeddings: EmbeddingTable(userFactors: x, itemFactors: y, itemBiases: itemBias), userBiases: userBias)
  }
}

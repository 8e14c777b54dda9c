public import AffinityCore
public import AffinityLinalg
import Foundation

/// Matrix factorization for implicit feedback trained with the BPR pairwise loss.
///
/// Scores `x_uᵀ y_i + b_i`. Each epoch visits every training pair `(u, i)` once with a negative
/// `j` drawn uniformly from the items of `i`'s block that `u` has not interacted with, then takes
/// one SGD step on `ln σ(x̂_ui − x̂_uj) − λ ‖Θ‖²`, as benfred/implicit's `BayesianPersonalizedRanking`.
/// Epochs run the stratified schedule of ``RankingStrata`` on all cores; the result is the same
/// bytes on one core or many (implicit's multi-threaded BPR is Hogwild and is not).
///
/// - Complexity: O(epochs · nnz · k) time; O((users + items) · k) memory.
///
/// Rendle et al. "BPR: Bayesian Personalized Ranking from Implicit Feedback." UAI 2009.
public struct BayesianPersonalizedRanking: EmbeddingRecommender {
  public struct Configuration: ModelConfiguration {
    public var embeddingSize: Int
    public var learningRate: Float
    public var regularization: Float
    public var epochs: Int
    /// Redraw a negative that turns out to be a positive (implicit's `verify_negative_samples`).
    public var verifiesNegatives: Bool
    /// Plain SGD (implicit's BPR), Adagrad or Adam.
    public var optimizer: OptimizerKind

    /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`).
    public init(
      embeddingSize: Int = 64, learningRate: Float = 0.05, regularization: Float = 0.01, epochs: Int = 100,
      verifiesNegatives: Bool = true, optimizer: OptimizerKind = .sgd
    ) {
      self.optimizer = optimizer
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.regularization = regularization
      self.epochs = epochs
      self.verifiesNegatives = verifiesNegatives
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("BPR")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("regularization", regularization)
      try check.positive("epochs", epochs)
    }
  }

  public static let kind = "bpr"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let embeddings: EmbeddingTable
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> BayesianPersonalizedRanking {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var (x, y) = FactorTraining.initialEmbeddings(data, embeddingSize: k, seed: options.seed)
    var bias = [Float](repeating: 0, count: data.items.count)
    let positives = PositiveSets(data.byUser)
    let ratings = data.byUser
    let itemCount = data.items.count
    let stride = x.stride
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    let lr = c.learningRate
    let reg = c.regularization
    let parallel = options.isParallel && data.count >= 50_000
    var xState = OptimizerState(c.optimizer, rows: x.rows, width: stride)
    var yState = OptimizerState(c.optimizer, rows: y.rows, width: stride)
    var biasState = OptimizerState(c.optimizer, rows: bias.count, width: 1)
    for epoch in 1...c.epochs {
      // Every pair once per epoch on the stratified schedule; a user's pairs in one block come
      // together, so the user's row and positives stay in cache.
      let strata = RankingStrata(ratings, itemCount: itemCount, generator: &generator)
      var correct = 0
      x.storage.withUnsafeMutableBufferPointer { xb in
        y.storage.withUnsafeMutableBufferPointer { yb in
          bias.withUnsafeMutableBufferPointer { bb in
           xState.withPointers { xs in
            yState.withPointers { ys in
             biasState.withPointers { bs in
            guard let xp = xb.baseAddress, let yp = yb.baseAddress, let b = bb.baseAddress else { return }
            let shared = UncheckedBox((xp, yp, b))
            correct = strata.runEpoch(epoch: epoch, seed: options.seed, parallel: parallel) {
              u, i, _, candidates, generator in
              let (xp, yp, b) = shared.value
              var j = Int(candidates[generator.nextInt(below: candidates.count)])
              if c.verifiesNegatives {
                var attempts = 0
                while positives.contains(user: u, item: Int32(j)) && attempts < 20 {
                  j = Int(candidates[generator.nextInt(below: candidates.count)])
                  attempts += 1
                }
                if attempts == 20 { return 0 }
              }
              let xu = xp + u * stride
              let yi = yp + i * stride
              let yj = yp + j * stride
              let difference = Vector.dot(xu, yi, count: stride) - Vector.dot(xu, yj, count: stride) + b[i] - b[j]
              let z = 1 / (1 + Foundation.exp(difference))
              withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * stride) { scratch in
                guard let old = scratch.baseAddress else { return }
                old.update(from: xu, count: stride)
                if c.optimizer == .sgd {
                  // x_u += lr (z (y_i − y_j) − λ x_u); y_i += lr (z x_u − λ y_i); y_j += lr (−z x_u − λ y_j)
                  Vector.axpby(lr * z, yi, 1 - lr * reg, xu, count: stride)
                  Vector.axpy(-lr * z, yj, xu, count: stride)
                  Vector.axpby(lr * z, old, 1 - lr * reg, yi, count: stride)
                  Vector.axpby(-lr * z, old, 1 - lr * reg, yj, count: stride)
                  return
                }
                // The same gradients, stepped by Adagrad or Adam.
                let gap = old + stride
                for f in 0..<stride { gap[f] = yi[f] - yj[f] }
                xs.step(row: u, xu, scaled: -z, by: gap, decay: reg, lr: lr)
                ys.step(row: i, yi, scaled: -z, by: old, decay: reg, lr: lr)
                ys.step(row: j, yj, scaled: z, by: old, decay: reg, lr: lr)
              }
              if c.optimizer == .sgd {
                b[i] += lr * (z - reg * b[i])
                b[j] += lr * (-z - reg * b[j])
              } else {
                bs.step(row: i, b + i, gradient: -z + reg * b[i], lr: lr)
                bs.step(row: j, b + j, gradient: z + reg * b[j], lr: lr)
              }
              return difference > 0 ? 1 : 0
            }
             }
            }
           }
          }
        }
      }
      guard x.isFinite, y.isFinite else { throw .diverged(model: "BPR", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: Double(correct) / Double(max(data.count, 1)))
    }
    return BayesianPersonalizedRanking(
      configuration: c, index: TrainingIndex(data),
      embeddings: EmbeddingTable(userFactors: x, itemFactors: y, itemBiases: bias))
  }
}

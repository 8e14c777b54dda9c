public import AffinityCore
public import AffinityLinalg
import Foundation

/// Matrix factorization for implicit feedback trained with LightFM's WARP or k-OS WARP loss.
///
/// Scores `x_uᵀ y_i + b_i`. For a positive `(u, i)`, negatives are drawn until one scores within
/// the margin (`x̂_uj > x̂_ui − 1`) or `maximumSampled` draws fail; after `N` draws the rank of `i`
/// is estimated as `⌊(n_items − 1) / N⌋` and the hinge gradient is weighted by `log` of it, so
/// positives that rank badly are pushed hardest (Weston et al. 2011). k-OS WARP (Weston et al.
/// 2013) first samples `positiveSampleCount` of the user's positives and trains on the k-th
/// best-scored one. Updates use per-parameter Adagrad with accumulators starting at 1, as LightFM
/// (or Adam, or plain SGD: ``Configuration/optimizer``).
/// Epochs run the stratified schedule of ``RankingStrata`` (negatives drawn from the positive's
/// item block), on all cores with the same result as on one.
///
/// - Complexity: O(epochs · nnz · s · k) time with `s` negatives drawn on average.
///
/// Weston, Bengio, Usunier. "WSABIE: Scaling Up To Large Vocabulary Image Annotation." IJCAI 2011.
/// Weston, Yee, Weiss. "Learning to Rank Recommendations with the k-Order Statistic Loss." RecSys 2013.
/// Kula. "Metadata Embeddings for User and Item Cold-start Recommendations." 2015 (LightFM).
public struct WeightedApproximateRankPairwise: EmbeddingRecommender {
  public enum Loss: String, Sendable, Codable, Hashable, CaseIterable {
    case warp
    case kosWARP = "k-os-warp"
  }

  public struct Configuration: ModelConfiguration {
    public var embeddingSize: Int
    public var learningRate: Float
    /// L2 penalty on the item vectors and biases (LightFM: `item_alpha`).
    public var itemRegularization: Float
    /// L2 penalty on the user vectors (LightFM: `user_alpha`).
    public var userRegularization: Float
    public var epochs: Int
    /// Negatives drawn at most per positive (LightFM: `max_sampled`).
    public var maximumSampled: Int
    public var loss: Loss
    /// k-OS: train on the k-th best of the sampled positives (LightFM: `k`).
    public var kthPositive: Int
    /// k-OS: positives sampled per step (LightFM: `n`).
    public var positiveSampleCount: Int
    /// Adagrad (LightFM's default, `learning_schedule='adagrad'`), Adam or plain SGD.
    public var optimizer: OptimizerKind

    /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`).
    public init(
      embeddingSize: Int = 64, learningRate: Float = 0.02, itemRegularization: Float = 0,
      userRegularization: Float = 0, epochs: Int = 60, maximumSampled: Int = 10, loss: Loss = .warp,
      kthPositive: Int = 5, positiveSampleCount: Int = 10, optimizer: OptimizerKind = .adagrad
    ) {
      self.optimizer = optimizer
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.itemRegularization = itemRegularization
      self.userRegularization = userRegularization
      self.epochs = epochs
      self.maximumSampled = maximumSampled
      self.loss = loss
      self.kthPositive = kthPositive
      self.positiveSampleCount = positiveSampleCount
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("WARP")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("itemRegularization", itemRegularization)
      try check.nonNegative("userRegularization", userRegularization)
      try check.positive("epochs", epochs)
      try check.positive("maximumSampled", maximumSampled)
      try check.positive("kthPositive", kthPositive)
      try check.positive("positiveSampleCount", positiveSampleCount)
      if kthPositive > positiveSampleCount {
        throw ConfigurationError(
          model: "WARP", parameter: "kthPositive", value: kthPositive,
          requirement: "≤ positiveSampleCount (\(positiveSampleCount))")
      }
    }
  }

  public static let kind = "warp"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let embeddings: EmbeddingTable
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> WeightedApproximateRankPairwise {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    var (x, y) = FactorTraining.initialEmbeddings(data, embeddingSize: k, seed: options.seed)
    var bias = [Float](repeating: 0, count: data.items.count)
    let stride = x.stride
    var xState = OptimizerState(c.optimizer, rows: x.rows, width: stride)
    var yState = OptimizerState(c.optimizer, rows: y.rows, width: stride)
    var biasState = OptimizerState(c.optimizer, rows: bias.count, width: 1)
    let positives = PositiveSets(data.byUser)
    let ratings = data.byUser
    let itemCount = data.items.count
    let maximumLoss: Float = 10
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    let parallel = options.isParallel && data.count >= 50_000
    for epoch in 1...c.epochs {
      let strata = RankingStrata(ratings, itemCount: itemCount, generator: &generator)
      var updates = 0
      x.storage.withUnsafeMutableBufferPointer { xb in
        y.storage.withUnsafeMutableBufferPointer { yb in
          xState.withPointers { xs in
            yState.withPointers { ys in
              bias.withUnsafeMutableBufferPointer { bb in
                biasState.withPointers { bs in
                  guard let xp = xb.baseAddress, let yp = yb.baseAddress, let bias = bb.baseAddress else { return }
                  // Blocks of a stratum write disjoint rows of every buffer (see RankingStrata).
                  let shared = UncheckedBox((xp, yp, bias))
                  updates = strata.runEpoch(epoch: epoch, seed: options.seed, parallel: parallel) {
                    u, item, userPositives, candidates, generator in
                    let (xp, yp, bias) = shared.value
                    let xu = xp + u * stride
                    var i = item
                    if c.loss == .kosWARP {
                      // Score a sample of the user's positives (in this item block) and keep the k-th best.
                      let n = min(c.positiveSampleCount, userPositives.count)
                      var best = [(Float, Int)](repeating: (0, 0), count: n)
                      for s in 0..<n {
                        let candidate = Int(strata.positives[userPositives.lowerBound + generator.nextInt(below: userPositives.count)])
                        best[s] = (Vector.dot(xu, yp + candidate * stride, count: stride) + bias[candidate], candidate)
                      }
                      best.sort { $0.0 > $1.0 }
                      i = best[min(c.kthPositive, n) - 1].1
                    }
                    let yi = yp + i * stride
                    let positive = Vector.dot(xu, yi, count: stride) + bias[i]
                    // Negatives are drawn four at a time and scored together, so the four
                    // random row loads overlap; the first violator in draw order is used, as
                    // with one-at-a-time draws.
                    var drawn = 0
                    var violator = -1
                    var batch = SIMD4<Int32>()
                    var scores = SIMD4<Float>()
                    search: while drawn < c.maximumSampled {
                      let size = min(4, c.maximumSampled - drawn)
                      for b in 0..<size {
                        let j = Int(candidates[generator.nextInt(below: candidates.count)])
                        batch[b] = Int32(j)
                        scores[b] = Vector.dot(xu, yp + j * stride, count: stride) + bias[j]
                      }
                      for b in 0..<size {
                        drawn += 1
                        if scores[b] > positive - 1 && !positives.contains(user: u, item: batch[b]) {
                          violator = Int(batch[b])
                          break search
                        }
                      }
                    }
                    guard violator >= 0 else { return 0 }
                    let j = violator
                    let yj = yp + j * stride
                    // The rank estimate is over the whole catalogue: the block is a uniform sample of it.
                    let loss = min(maximumLoss, Foundation.log(max(1, Float((itemCount - 1) / drawn))))
                    // Gradients of loss · (1 − x̂_ui + x̂_uj) at the old values: the user's
                    // gradient loss · (y_j − y_i) is taken before the item rows move.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: stride) { gradient in
                      guard let gp = gradient.baseAddress else { return }
                      for f in 0..<stride { gp[f] = loss * (yj[f] - yi[f]) }
                      ys.step(row: i, yi, scaled: -loss, by: xu, decay: c.itemRegularization, lr: c.learningRate)
                      ys.step(row: j, yj, scaled: loss, by: xu, decay: c.itemRegularization, lr: c.learningRate)
                      xs.step(row: u, xu, scaled: 1, by: gp, decay: c.userRegularization, lr: c.learningRate)
                    }
                    bs.step(row: i, bias + i, gradient: -loss + c.itemRegularization * bias[i], lr: c.learningRate)
                    bs.step(row: j, bias + j, gradient: loss + c.itemRegularization * bias[j], lr: c.learningRate)
                    return 1
                  }
                }
              }
            }
          }
        }
      }
      guard x.isFinite, y.isFinite else { throw .diverged(model: "WARP", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: Double(updates) / Double(max(data.count, 1)))
    }
    return WeightedApproximateRankPairwise(
      configuration: c, index: TrainingIndex(data),
      embeddings: EmbeddingTable(userFactors: x, itemFactors: y, itemBiases: bias))
  }
}

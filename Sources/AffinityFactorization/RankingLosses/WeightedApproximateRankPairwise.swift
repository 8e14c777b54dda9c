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
/// best-scored one. Updates use per-parameter Adagrad with accumulators starting at 1, as LightFM.
/// Training runs on one thread in a seeded order.
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

    /// Defaults tuned on a validation split (`docs/benchmarks/tuning.md`).
    public init(
      embeddingSize: Int = 64, learningRate: Float = 0.02, itemRegularization: Float = 0,
      userRegularization: Float = 0, epochs: Int = 60, maximumSampled: Int = 10, loss: Loss = .warp,
      kthPositive: Int = 5, positiveSampleCount: Int = 10
    ) {
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
    // Adagrad accumulators start at 1, as LightFM's.
    var xSquares = [Float](repeating: 1, count: x.storage.count)
    var ySquares = [Float](repeating: 1, count: y.storage.count)
    var biasSquares = [Float](repeating: 1, count: bias.count)
    let positives = PositiveSets(data.byUser)
    let ratings = data.byUser
    let userOfPosition = FactorTraining.rowOfPosition(ratings)
    let itemCount = data.items.count
    let maximumLoss: Float = 10
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    for epoch in 1...c.epochs {
      let order = FactorTraining.epochOrder(ratings, generator: &generator)
      var updates = 0
      x.storage.withUnsafeMutableBufferPointer { xb in
        y.storage.withUnsafeMutableBufferPointer { yb in
          xSquares.withUnsafeMutableBufferPointer { xsb in
            ySquares.withUnsafeMutableBufferPointer { ysb in
              guard let xp = xb.baseAddress, let yp = yb.baseAddress, let xs = xsb.baseAddress,
                let ys = ysb.baseAddress
              else { return }
              var gradient = [Float](repeating: 0, count: stride)
              for position in order {
                let u = Int(userOfPosition[Int(position)])
                let xu = xp + u * stride
                var i = Int(ratings.columns[Int(position)])
                if c.loss == .kosWARP {
                  // Score a sample of the user's positives and keep the k-th best.
                  let range = ratings.range(ofRow: u)
                  let n = min(c.positiveSampleCount, range.count)
                  var sampled: [(Float, Int)] = []
                  sampled.reserveCapacity(n)
                  for _ in 0..<n {
                    let candidate = Int(ratings.columns[range.lowerBound + generator.nextInt(below: range.count)])
                    sampled.append((Vector.dot(xu, yp + candidate * stride, count: stride) + bias[candidate], candidate))
                  }
                  sampled.sort { $0.0 > $1.0 }
                  i = sampled[min(c.kthPositive, n) - 1].1
                }
                let yi = yp + i * stride
                let positive = Vector.dot(xu, yi, count: stride) + bias[i]
                var drawn = 0
                while drawn < c.maximumSampled {
                  drawn += 1
                  let j = generator.nextInt(below: itemCount)
                  if positives.contains(user: u, item: Int32(j)) { continue }
                  let yj = yp + j * stride
                  let negative = Vector.dot(xu, yj, count: stride) + bias[j]
                  guard negative > positive - 1 else { continue }
                  let loss = min(maximumLoss, Foundation.log(max(1, Float((itemCount - 1) / drawn))))
                  updates += 1
                  // Gradients of loss · (1 − x̂_ui + x̂_uj) at the old values.
                  for f in 0..<stride { gradient[f] = loss * (yj[f] - yi[f]) }
                  Adagrad.step(yi, ys + i * stride, scaled: -loss, by: xu, decay: c.itemRegularization, lr: c.learningRate, count: stride)
                  Adagrad.step(yj, ys + j * stride, scaled: loss, by: xu, decay: c.itemRegularization, lr: c.learningRate, count: stride)
                  gradient.withUnsafeBufferPointer { g in
                    if let gp = g.baseAddress {
                      Adagrad.step(xu, xs + u * stride, scaled: 1, by: gp, decay: c.userRegularization, lr: c.learningRate, count: stride)
                    }
                  }
                  for (item, g) in [(i, -loss), (j, loss)] {
                    let gradientWithDecay = g + c.itemRegularization * bias[item]
                    bias[item] -= c.learningRate / biasSquares[item].squareRoot() * gradientWithDecay
                    biasSquares[item] += gradientWithDecay * gradientWithDecay
                  }
                  break
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

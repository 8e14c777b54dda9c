public import AffinityCore
import AffinityLinalg
import Foundation

/// `partialFit` for the embedding models: new interactions are absorbed without a full refit.
///
/// New users and items get rows (seeded uniform, like a fresh fit). The rows of the users the
/// interactions touch and of the *new* items are then trained by a few epochs of pairwise
/// logistic (BPR) steps with Adagrad over the touched users' interactions, every other row
/// fixed, so recommendations for everyone else do not move. The same whatever the model's own
/// loss: the step only places the new rows in the learned space.
enum EmbeddingUpdate {
  static func updated(
    embeddings: EmbeddingTable, index: TrainingIndex, with interactions: [Interaction], epochs: Int, seed: UInt64
  ) throws(FitError) -> (EmbeddingTable, TrainingIndex) {
    let data = try index.appending(interactions)
    let k = embeddings.userFactors.columns
    let stride = embeddings.userFactors.stride
    let half = 0.5 / Float(k)
    // Existing rows keep their index (vocabularies grow at the end); new rows start like a fit.
    var x = FactorTraining.uniform(rows: data.users.count, columns: k, low: -half, high: half, seed: seed, stream: 11)
    var y = FactorTraining.uniform(rows: data.items.count, columns: k, low: -half, high: half, seed: seed, stream: 12)
    x.storage.replaceSubrange(0..<embeddings.userFactors.storage.count, with: embeddings.userFactors.storage)
    y.storage.replaceSubrange(0..<embeddings.itemFactors.storage.count, with: embeddings.itemFactors.storage)
    var bias = embeddings.itemBiases + [Float](repeating: 0, count: data.items.count - embeddings.itemBiases.count)
    let oldItemCount = embeddings.itemFactors.rows
    let touched = Array(Set(interactions.compactMap { data.users.index(of: $0.user) })).sorted()
    let positives = PositiveSets(data.byUser)
    var xState = OptimizerState(.adagrad, rows: x.rows, width: stride)
    var yState = OptimizerState(.adagrad, rows: y.rows, width: stride)
    var biasState = OptimizerState(.adagrad, rows: bias.count, width: 1)
    var generator = SeededGenerator(seed: seed, stream: 13)
    let lr: Float = 0.05
    let reg: Float = 0.001
    let itemCount = data.items.count
    for _ in 0..<max(epochs, 1) {
      var order: [(Int, Int)] = touched.flatMap { u in data.byUser.range(ofRow: u).map { (u, Int(data.byUser.columns[$0])) } }
      generator.shuffle(&order)
      x.storage.withUnsafeMutableBufferPointer { xb in
        y.storage.withUnsafeMutableBufferPointer { yb in
          bias.withUnsafeMutableBufferPointer { bb in
            xState.withPointers { xs in
              yState.withPointers { ys in
                biasState.withPointers { bs in
                  guard let xp = xb.baseAddress, let yp = yb.baseAddress, let b = bb.baseAddress else { return }
                  withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * stride) { scratch in
                    guard let old = scratch.baseAddress else { return }
                    let gap = old + stride
                    for (u, i) in order {
                      var j = generator.nextInt(below: itemCount)
                      var attempts = 0
                      while positives.contains(user: u, item: Int32(j)) && attempts < 20 {
                        j = generator.nextInt(below: itemCount)
                        attempts += 1
                      }
                      if attempts == 20 { continue }
                      let xu = xp + u * stride
                      let yi = yp + i * stride
                      let yj = yp + j * stride
                      let difference = Vector.dot(xu, yi, count: stride) - Vector.dot(xu, yj, count: stride) + b[i] - b[j]
                      let z = 1 / (1 + Foundation.exp(difference))
                      old.update(from: xu, count: stride)
                      for f in 0..<stride { gap[f] = yi[f] - yj[f] }
                      xs.step(row: u, xu, scaled: -z, by: gap, decay: reg, lr: lr)
                      if i >= oldItemCount {
                        ys.step(row: i, yi, scaled: -z, by: old, decay: reg, lr: lr)
                        bs.step(row: i, b + i, gradient: -z + reg * b[i], lr: lr)
                      }
                      if j >= oldItemCount {
                        ys.step(row: j, yj, scaled: z, by: old, decay: reg, lr: lr)
                        bs.step(row: j, b + j, gradient: z + reg * b[j], lr: lr)
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
    guard x.isFinite, y.isFinite else { throw .diverged(model: "partial fit", epoch: epochs) }
    return (EmbeddingTable(userFactors: x, itemFactors: y, itemBiases: bias), TrainingIndex(data))
  }
}

extension BayesianPersonalizedRanking: IncrementallyTrainable {
  /// A copy with `interactions` absorbed (see `EmbeddingUpdate`): touched users and new items are
  /// re-trained, every other row is kept.
  public func updated(with interactions: [Interaction], options: FitOptions) throws(FitError) -> Self {
    let (table, index) = try EmbeddingUpdate.updated(
      embeddings: embeddings, index: self.index, with: interactions, epochs: 30, seed: options.seed)
    return Self(configuration: configuration, index: index, embeddings: table)
  }
}

extension WeightedApproximateRankPairwise: IncrementallyTrainable {
  /// A copy with `interactions` absorbed (see `EmbeddingUpdate`): touched users and new items are
  /// re-trained, every other row is kept.
  public func updated(with interactions: [Interaction], options: FitOptions) throws(FitError) -> Self {
    let (table, index) = try EmbeddingUpdate.updated(
      embeddings: embeddings, index: self.index, with: interactions, epochs: 30, seed: options.seed)
    return Self(configuration: configuration, index: index, embeddings: table)
  }
}

import AffinityCore
import AffinityLinalg

/// The trained state every k-NN variant predicts from, oriented as Surprise's `x` and `y`.
///
/// `x` is the user and `y` the item for a user-based model; both swap for an item-based one.
/// Per-x statistics (means, standard deviations) are empty when the rule does not use them.
struct NeighborhoodCore: Sendable, Equatable, Codable {
  let rule: AggregationRule
  let userBased: Bool
  let neighborCount: Int
  let minimumNeighbors: Int
  let globalMean: Float
  /// `sim(x, x')`, positive values only; the diagonal (1) is implicit.
  let similarities: PairRows
  /// y × x: who rated each `y` and how, in training input order (Surprise's `yr`), which
  /// decides ties between equally similar neighbours.
  let neighborRatings: SparseRowMatrix
  /// `μ_x`, for the mean-centred and z-score rules.
  let means: [Float]
  /// `σ_x`, for the z-score rule.
  let scales: [Float]
  /// `μ + b_u + b_i`, for the baseline rule and the Pearson-baseline similarity.
  let baselines: BaselineEstimates?

  var xCount: Int { similarities.rowCount }
  var yCount: Int { neighborRatings.rowCount }

  /// The estimate for dense indices; `nil` or out-of-range marks an unknown user or item.
  func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    let (userCount, itemCount) = userBased ? (xCount, yCount) : (yCount, xCount)
    let u = userIndex.flatMap { (0..<userCount).contains($0) ? $0 : nil }
    let i = itemIndex.flatMap { (0..<itemCount).contains($0) ? $0 : nil }
    guard let u, let i else {
      // Surprise's KNNBaseline returns the baseline of the known side; the others give up.
      if rule == .baselineCentered, let baselines {
        return RatingPrediction(value: baselines.estimate(userIndex: u, itemIndex: i))
      }
      return RatingPrediction(value: globalMean, isFallback: true)
    }
    return userBased ? estimate(x: u, y: i) : estimate(x: i, y: u)
  }

  /// Aggregates the k most similar `x'` that rated `y`.
  ///
  /// - Complexity: O(|y| · (log n_x + log k)) for `|y|` ratings of `y` and `n_x` stored
  ///   neighbours of `x`; no heap allocation for columns that fit on the stack.
  private func estimate(x: Int, y: Int) -> RatingPrediction {
    let start = neighborRatings.rowStarts[y]
    let end = neighborRatings.rowStarts[y + 1]
    let (kept, weight, total) = withUnsafeTemporaryAllocation(
      of: NeighborCandidate.self, capacity: max(end - start, 1)
    ) { candidates in
      var found = 0
      similarities.withView { sims in
        neighborRatings.columns.withUnsafeBufferPointer { others in
          neighborRatings.values.withUnsafeBufferPointer { ratings in
            for q in start..<end {
              let other = others[q]
              let similarity = Int(other) == x ? 1 : sims.value(row: x, column: other) ?? 0
              guard similarity > 0 else { continue }
              candidates[found] = NeighborCandidate(
                similarity: similarity, order: Int32(q - start),
                term: term(neighbor: Int(other), y: y, rating: Double(ratings[q])))
              found += 1
            }
          }
        }
      }
      let kept = selectLargest(candidates, count: found, keep: neighborCount)
      var weight = 0.0
      var total = 0.0
      for t in 0..<kept {
        let similarity = Double(candidates[t].similarity)
        weight += similarity
        total += similarity * candidates[t].term
      }
      return (kept, weight, total)
    }
    let usesNeighbors = kept >= minimumNeighbors && weight > 0
    switch rule {
    case .weightedMean:
      guard usesNeighbors else { return RatingPrediction(value: globalMean, isFallback: true) }
      return RatingPrediction(value: Float(total / weight))
    case .meanCentered:
      let mean = Double(means[x])
      return RatingPrediction(value: Float(usesNeighbors ? mean + total / weight : mean))
    case .zScore:
      let mean = Double(means[x])
      let value = usesNeighbors ? mean + total / weight * Double(scales[x]) : mean
      return RatingPrediction(value: Float(value))
    case .baselineCentered:
      let baseline = baselineEstimate(x: x, y: y)
      return RatingPrediction(value: Float(usesNeighbors ? baseline + total / weight : baseline))
    }
  }

  /// What neighbour `x'` with rating `r = r_x'y` contributes, before weighting.
  @inline(__always)
  private func term(neighbor: Int, y: Int, rating: Double) -> Double {
    switch rule {
    case .weightedMean: rating
    case .meanCentered: rating - Double(means[neighbor])
    case .zScore: (rating - Double(means[neighbor])) / Double(scales[neighbor])
    case .baselineCentered: rating - baselineEstimate(x: neighbor, y: y)
    }
  }

  /// `μ + b_x + b_y` in `Double`.
  @inline(__always)
  private func baselineEstimate(x: Int, y: Int) -> Double {
    guard let baselines else { return Double(globalMean) }
    let (u, i) = userBased ? (x, y) : (y, x)
    return Double(baselines.globalMean) + Double(baselines.userBiases[u])
      + Double(baselines.itemBiases[i])
  }

  /// True when every stored index is in range for `userCount` users and `itemCount` items.
  func isConsistent(userCount: Int, itemCount: Int) -> Bool {
    let (expectedX, expectedY) = userBased ? (userCount, itemCount) : (itemCount, userCount)
    guard similarities.rowCount == expectedX, similarities.columnCount == expectedX,
      neighborRatings.rowCount == expectedY, neighborRatings.columnCount == expectedX,
      neighborRatings.isWellFormed, neighborCount >= 1, minimumNeighbors >= 0
    else { return false }
    switch rule {
    case .weightedMean: break
    case .meanCentered: guard means.count == expectedX else { return false }
    case .zScore: guard means.count == expectedX, scales.count == expectedX else { return false }
    case .baselineCentered: guard baselines != nil else { return false }
    }
    if let baselines {
      guard baselines.userBiases.count == userCount, baselines.itemBiases.count == itemCount
      else { return false }
    }
    return true
  }
}

extension SparseRowMatrix {
  /// True when the offsets, columns and values agree, so every stored index is in range.
  var isWellFormed: Bool {
    guard rowStarts.count == rowCount + 1, rowStarts.first == 0,
      rowStarts.last == columns.count, values.count == columns.count
    else { return false }
    for row in 0..<rowCount where rowStarts[row] > rowStarts[row + 1] { return false }
    return columns.allSatisfy { $0 >= 0 && Int($0) < columnCount }
  }
}

public import AffinityCore

/// The reference scorers, run through the same ``OfflineRankingProtocol/evaluate(_:scorer:)``.
extension OfflineRankingProtocol {
  /// Uniform random scores, seeded per user, so the result does not depend on evaluation order.
  public func randomScorer(seed: UInt64) -> RankingScorer {
    { query in
      var generator = SeededGenerator(seed: seed, stream: UInt64(query.user) &+ 1_000_003)
      return query.candidates.map { _ in Float(generator.nextUniform()) }
    }
  }

  /// The test rating itself: the best any scorer can do (unrated candidates score below 0).
  ///
  /// It reads the held-out ratings, so it is the ceiling, never a model.
  public func oracleScorer() -> RankingScorer {
    var byUser: [Int: [Int: Float]] = [:]
    for entry in cases {
      var ratings: [Int: Float] = [:]
      for (position, item) in entry.query.candidates.enumerated() {
        if let rating = entry.ratings[position] { ratings[item] = rating }
      }
      byUser[entry.query.user] = ratings
    }
    return { query in query.candidates.map { byUser[query.user]?[$0] ?? -1 } }
  }

  /// The item's mean training rating, shrunk towards the global mean μ:
  /// `(Σ r_ui + m·μ) / (n_i + m)`. With `shrinkage` m = 0 it is the plain mean; an item with no
  /// training rating scores μ; a negative m counts as 0.
  public func itemMeanScorer(shrinkage: Double = 0) -> RankingScorer {
    let mu = Double(trainingMean)
    let m = max(shrinkage, 0)
    let means = (0..<trainingItemCount).map { i in
      let n = Double(itemCounts[i])
      return n + m > 0 ? Float((itemSums[i] + m * mu) / (n + m)) : Float(mu)
    }
    return { query in query.candidates.map { $0 < means.count ? means[$0] : Float(mu) } }
  }

  /// The item's number of training ratings (0 for items seen only in test).
  public func popularityScorer() -> RankingScorer {
    let counts = itemCounts.map(Float.init)
    return { query in query.candidates.map { $0 < counts.count ? counts[$0] : 0 } }
  }

  /// The model's predicted rating, unclipped (clipping would tie the items above the scale).
  ///
  /// Users and items are matched by id, so `model` may index them differently; an item the model
  /// does not know gets its fallback estimate.
  public func ratingScorer(_ model: some RatingPredictor) -> RankingScorer {
    let userIndex = users.ids.map { model.users.index(of: $0) }
    let itemIndex = items.ids.map { model.items.index(of: $0) }
    return { query in
      query.candidates.map { model.estimate(userIndex: userIndex[query.user], itemIndex: itemIndex[$0]).value }
    }
  }
}

public import AffinityCore
import AffinityLinalg

extension ImplicitKNN {
  /// The `count` items most similar to `item`, best first, positive similarities only.
  ///
  /// Item-based models read `item`'s stored neighbour list (so at most `neighborCount` items);
  /// user-based models compare `item` with every item under the same similarity, in
  /// O(nnz + Σ_{u ∈ users(item)} n_u).
  public func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem] {
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    var entries: [(index: Int, score: Float)]
    if Side.isUserBased {
      let rows = interactions.transposed()
      let weighting = ImplicitWeighting(
        rows: rows, similarity: configuration.similarity, k1: configuration.bm25K1,
        b: configuration.bm25B, alpha: configuration.asymmetricAlpha,
        shrinkage: configuration.shrinkage, ownerIsCandidate: false)
      let space = NeighborSpace(rows: rows, weighting: weighting)
      let weighted = space.byRow
      let range = weighted.range(ofRow: i)
      let scratch = DotScratch(count: items.count)
      entries = ImplicitNeighborBuilder(space: space, neighborCount: count).neighbors(
        columns: weighted.columns[range], weights: weighted.values[range],
        owner: space.ownerFactors[i], excluding: i, keep: count, scratch: scratch
      ).map { ($0.index, $0.score) }
    } else {
      entries = neighbors.range(ofRow: i).map {
        (Int(neighbors.columns[$0]), neighbors.values[$0])
      }
    }
    entries.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
    return entries.prefix(count).map { ScoredItem(item: items[$0.index], score: $0.score) }
  }

  /// The parts of `item`'s score for `query`, largest first; they add up to the score.
  ///
  /// Item-based: one contribution `sim(item, j) · w_uj` per history item `j` whose neighbour
  /// list holds `item`. User-based: one contribution `sim(u, v) · w_v,item` per neighbour `v`
  /// who has `item`, named by the user's id.
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError)
    -> Explanation
  {
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    var contributions: [Explanation.Contribution] = []
    var score: Float = 0
    if Side.isUserBased {
      let found: (columns: [Int32], values: [Float])
      if let user = query.user, let u = users.index(of: user) {
        let range = neighbors.range(ofRow: u)
        found = (Array(neighbors.columns[range]), Array(neighbors.values[range]))
      } else {
        let vector = ImplicitFeedback.historyWeights(
          query.history, items: items, usesValues: configuration.usesValues)
        found = foldInNeighbors(columns: vector.columns, weights: vector.values)
      }
      for (column, similarity) in zip(found.columns, found.values) {
        let v = Int(column)
        guard let weight = weight(user: v, item: i) else { continue }
        let part = similarity * weight
        score += part
        contributions.append(.init(source: users[v].rawValue, weight: part))
      }
    } else {
      let history: (columns: [Int32], values: [Float])
      if let user = query.user, let u = users.index(of: user) {
        history = ImplicitFeedback.row(u, of: interactions)
      } else {
        history = ImplicitFeedback.historyWeights(
          query.history, items: items, usesValues: configuration.usesValues)
      }
      for (column, weight) in zip(history.columns, history.values) {
        let j = Int(column)
        guard let similarity = neighbors.value(row: j, column: i) else { continue }
        let part = weight * similarity
        score += part
        contributions.append(.init(source: items[j].rawValue, weight: part))
      }
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: score, contributions: contributions)
  }

  /// `w_ui` by binary search in the user's ascending row, or nil when `u` has no `i`.
  private func weight(user u: Int, item i: Int) -> Float? {
    let range = interactions.range(ofRow: u)
    var low = range.lowerBound
    var high = range.upperBound
    while low < high {
      let middle = low + (high - low) / 2
      let column = Int(interactions.columns[middle])
      if column < i {
        low = middle + 1
      } else if column > i {
        high = middle
      } else {
        return interactions.values[middle]
      }
    }
    return nil
  }
}

extension ImplicitKNN: Codable {
  private enum CodingKeys: String, CodingKey {
    case configuration, index, interactions, neighbors, userSpace
  }

  /// Decodes and checks that every part agrees with the training index, so a corrupted bundle
  /// throws here instead of indexing out of bounds later.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    interactions = try container.decode(SparseRowMatrix.self, forKey: .interactions)
    neighbors = try container.decode(PairRows.self, forKey: .neighbors)
    userSpace = try container.decodeIfPresent(NeighborSpace.self, forKey: .userSpace)
    let (userCount, itemCount) = (index.users.count, index.items.count)
    let rowCount = Side.isUserBased ? userCount : itemCount
    let consistent =
      interactions.rowCount == userCount && interactions.columnCount == itemCount
      && neighbors.rowCount == rowCount && neighbors.columnCount == rowCount
      && (Side.isUserBased
        ? userSpace?.isConsistent(rowCount: userCount, columnCount: itemCount) == true
        : userSpace == nil)
    guard consistent else {
      throw DecodingError.dataCorruptedError(
        forKey: .neighbors, in: container,
        debugDescription: "\(Side.modelName): stored neighbours do not match the training index")
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(index, forKey: .index)
    try container.encode(interactions, forKey: .interactions)
    try container.encode(neighbors, forKey: .neighbors)
    try container.encodeIfPresent(userSpace, forKey: .userSpace)
  }
}

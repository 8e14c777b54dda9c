public import AffinityCore
public import AffinityLinalg

/// Top-N recommendation from implicit feedback by k nearest neighbours, as implicit's
/// `nearest_neighbours`; use it through ``ItemKNN`` or ``UserKNN``.
///
/// Every training row is an interaction whose value is a weight ≥ 0; a user's weight for an
/// item, `w_ui`, is the sum of its rows' values (or 1 with `usesValues` false). Similarities are
/// ``ImplicitSimilarity``; each item (or user) keeps only its `neighborCount` most similar
/// others, so memory grows with `rows · k`, never `rows²`.
///
/// - Item-based: `score(i) = Σ_{j ∈ history(u)} sim(i, j) · w_uj`, where `sim(i, j)` is read from
///   `j`'s neighbour list (0 when `i` is not in it), exactly implicit's
///   `ItemItemRecommender.recommend`.
/// - User-based: `score(i) = Σ_{v ∈ N_k(u)} sim(u, v) · w_vi` over `u`'s k nearest users.
///
/// An unknown (or nil) user is scored from ``RecommendationQuery/history`` (each occurrence of a
/// known item weighs 1): item-based directly, user-based by comparing the history with every
/// training user. An empty history scores every item 0.
///
/// - Complexity: fit O(Σ_y n_y² + rows · k log k) for columns with `n_y` entries (Σ_u n_u² for
///   items), run in parallel; memory O(nnz + rows · k). One item-based score vector costs
///   O(n_u · k), user-based O(Σ_{v ∈ N_k(u)} n_v); a user-based fold-in adds
///   O(Σ_{i ∈ history} n_i).
///
/// Deshpande, Karypis. "Item-Based Top-N Recommendation Algorithms." TOIS 2004;
/// Aiolli. "Efficient Top-N Recommendation for Very Large Scale Binary Rated Datasets."
/// RecSys 2013; Frederickson, implicit (github.com/benfred/implicit), `nearest_neighbours.py`.
public struct ImplicitKNN<Side: ImplicitNeighborSide>: Recommender, SimilarItemsProviding,
  Explainable, ColdStartCapable
{
  public static var kind: String { Side.kind }
  public let configuration: Configuration
  public let index: TrainingIndex
  /// `w_ui`, user × item, duplicates merged, ascending columns.
  public let interactions: SparseRowMatrix
  /// Item-based: row `j` holds the items `i` most similar to `j`, with `sim(i, j)`.
  /// User-based: row `u` holds the users most similar to `u`. Ascending columns.
  public let neighbors: PairRows
  /// User-based only: the weighted users, to compare a history with every user.
  let userSpace: NeighborSpace?

  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  init(
    configuration: Configuration, index: TrainingIndex, interactions: SparseRowMatrix,
    neighbors: PairRows, userSpace: NeighborSpace?
  ) {
    self.configuration = configuration
    self.index = index
    self.interactions = interactions
    self.neighbors = neighbors
    self.userSpace = userSpace
  }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> ImplicitKNN {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let weights = try ImplicitFeedback.userItemWeights(
      data, usesValues: configuration.usesValues, model: Side.modelName)
    options.report(kind, step: 1, of: 2)
    let rows = Side.isUserBased ? weights : weights.transposed()
    let space = Self.space(rows: rows, configuration: configuration)
    let neighbors = ImplicitNeighborBuilder(
      space: space, neighborCount: configuration.neighborCount
    ).build(parallel: options.isParallel)
    options.report(kind, step: 2, of: 2)
    return ImplicitKNN(
      configuration: configuration, index: TrainingIndex(data), interactions: weights,
      neighbors: neighbors, userSpace: Side.isUserBased ? space : nil)
  }

  /// The weighted rows of `rows` (users × items when user-based, items × users otherwise).
  static func space(rows: SparseRowMatrix, configuration: Configuration) -> NeighborSpace {
    let weighting = ImplicitWeighting(
      rows: rows, similarity: configuration.similarity, k1: configuration.bm25K1,
      b: configuration.bm25B, alpha: configuration.asymmetricAlpha,
      shrinkage: configuration.shrinkage, ownerIsCandidate: Side.isUserBased)
    return NeighborSpace(rows: rows, weighting: weighting)
  }

  /// Scores of every item: a known user's training weights, else the query's history.
  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    if let user = query.user, let u = users.index(of: user) {
      if Side.isUserBased {
        let row = neighbors.range(ofRow: u)
        return scores(neighbors: neighbors.columns[row], similarities: neighbors.values[row])
      }
      let row = interactions.range(ofRow: u)
      return scores(history: interactions.columns[row], weights: interactions.values[row])
    }
    return try scores(forHistory: query.history)
  }

  /// Scores every item for a user known only by `history`; unknown items are skipped.
  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    let vector = ImplicitFeedback.historyWeights(
      history, items: items, usesValues: configuration.usesValues)
    if Side.isUserBased {
      let found = foldInNeighbors(columns: vector.columns, weights: vector.values)
      return scores(neighbors: found.columns[...], similarities: found.values[...])
    }
    return scores(history: vector.columns[...], weights: vector.values[...])
  }

  /// Item-based: `Σ_j w_j · row j of the neighbour lists`, in ascending `j`.
  func scores(history: ArraySlice<Int32>, weights: ArraySlice<Float>) -> [Float] {
    var scores = [Float](repeating: 0, count: items.count)
    scores.withUnsafeMutableBufferPointer { out in
      neighbors.withView { rows in
        for (column, weight) in zip(history, weights) {
          let j = Int(column)
          for p in rows.starts[j]..<rows.starts[j + 1] {
            out[Int(rows.columns[p])] += weight * rows.values[p]
          }
        }
      }
    }
    return scores
  }

  /// User-based: `Σ_v sim(u, v) · w_v`, in ascending `v`.
  func scores(neighbors users: ArraySlice<Int32>, similarities: ArraySlice<Float>) -> [Float] {
    var scores = [Float](repeating: 0, count: items.count)
    scores.withUnsafeMutableBufferPointer { out in
      interactions.rowStarts.withUnsafeBufferPointer { starts in
        interactions.columns.withUnsafeBufferPointer { columns in
          interactions.values.withUnsafeBufferPointer { values in
            for (user, similarity) in zip(users, similarities) {
              let v = Int(user)
              for p in starts[v]..<starts[v + 1] {
                out[Int(columns[p])] += similarity * values[p]
              }
            }
          }
        }
      }
    }
    return scores
  }

  /// User-based: the `neighborCount` training users most similar to a history vector.
  func foldInNeighbors(columns: [Int32], weights: [Float]) -> (columns: [Int32], values: [Float]) {
    guard let space = userSpace, !columns.isEmpty else { return ([], []) }
    let weighted = space.weighting.weighted(columns: columns[...], values: weights[...])
    let owner = space.weighting.factors(of: weighted[...]).owner
    let scratch = DotScratch(count: users.count)
    let found = ImplicitNeighborBuilder(space: space, neighborCount: configuration.neighborCount)
      .neighbors(
        columns: columns[...], weights: weighted[...], owner: owner, excluding: -1,
        keep: configuration.neighborCount, scratch: scratch)
    return (found.map { Int32($0.index) }, found.map(\.score))
  }
}

/// Item-based k-NN for implicit feedback (kind `item-knn`), as implicit's `CosineRecommender`,
/// `BM25Recommender` and `TFIDFRecommender`, plus Jaccard and Aiolli's asymmetric cosine.
///
/// `score(i) = Σ_{j ∈ history(u)} sim(i, j) · w_uj`, with `sim(i, j)` kept only for the
/// `neighborCount` items most similar to `j`. See ``ImplicitKNN`` and ``ImplicitSimilarity``.
public typealias ItemKNN = ImplicitKNN<ItemNeighbors>

/// User-based k-NN for implicit feedback (kind `user-knn`).
///
/// `score(i) = Σ_{v ∈ N_k(u)} sim(u, v) · w_vi` over the `neighborCount` users most similar to
/// `u`. See ``ImplicitKNN`` and ``ImplicitSimilarity``.
public typealias UserKNN = ImplicitKNN<UserNeighbors>

public import AffinityCore
public import AffinityLinalg

/// A hybrid of inductive and collaborative factorization for implicit feedback:
/// `r̂_ij = (x_iᵀW)(y_jᵀH)ᵀ + u_iᵀv_j`, all four blocks trained jointly by alternating least
/// squares.
///
/// `x_i`, `y_j` are the sparse feature rows of user `i` and item `j` (one-hots, multi-hots,
/// TF-IDF, plus an intercept); `W` (`d_u × k_f`) and `H` (`d_i × k_f`) embed the features, so
/// `M = WHᵀ` is the low-rank inductive matrix; `u_i`, `v_j` (`k_c`) are per-id vectors. A side
/// without features gets one identity feature per id with positives (as in ``FeatureRidge``),
/// so cold items are still ranked per user; an identity row of W or H is one more per-id
/// vector, regularised and solved with `u_i` or `v_j`. Loss (Hu, Koren & Volinsky's, over the
/// ids with at least one positive):
/// `Σ_ij c_ij (p_ij − r̂_ij)² + λ_W‖W‖² + λ_H‖H‖² + λ_U‖U‖² + λ_V‖V‖²` with `p_ij = 1` for a
/// training value ≥ ``Configuration/minimumValue`` and 0 for every other pair, and
/// `c_ij = 1 + α w_ij` (`w` the value, or 1). The squared loss over all pairs (rather than
/// WARP or BPR) makes every block update a ridge regression: exact, deterministic, and the
/// same solve folds in a new id at request time.
///
/// Each epoch fixes the item side and solves the user side, then the reverse. First every
/// active user's per-id part exactly: `u_i` (`k_c × k_c`), or `[w_id | u_i]` (`K × K`) with an
/// identity feature, a ridge regression of the residual `p_i − B (x_iᵀW)` on the item vectors,
/// with `YᵀC_iY = G + Σ (c − 1) b bᵀ` as in implicit ALS. Then the shared rows of `W` by
/// Jacobi-preconditioned conjugate gradient on their normal equations (`d_u · k_f` unknowns,
/// matrix-free, warm-started): the ridge regression of the residual `p_ij − u_iᵀv_j` on
/// `x_i ⊗ Hᵀy_j` over all users. Each step minimises the loss over its block, so the loss
/// (reported per epoch) does not increase. A last user step makes every trained user's
/// per-id part the fold-in of their positives.
///
/// A user without positives has a zero per-id part and is scored from features alone (from
/// the feature file, or ``RecommendationQuery/features`` for an id in no file); with a
/// history at request time that part is folded in by one solve of training's row system
/// against the fixed item side (about 30–70 µs with 1,682 items, k = 32). Items work the same
/// way through ``updated(with:features:options:)``, which re-solves only the per-id parts the
/// new interactions touch (users, items, users); the shared rows of `W` and `H` are kept.
///
/// - Complexity: per epoch O(nnz · n² + ids · n³ + s · (nnz + nnz(X) + nnz(Y)) · K + ids · K²)
///   for `K = k_f + k_c`, `n` the per-id size (`k_c`, or `K` with identity features) and `s`
///   CG steps. Fold-in O(h · n² + n³ + items · K) for a history of `h` items. Memory
///   O(nnz + (ids + d_u + d_i) · K).
///
/// Hu, Koren, Volinsky. "Collaborative Filtering for Implicit Feedback Datasets." ICDM 2008.
/// Jain, Dhillon. "Provable Inductive Matrix Completion." arXiv:1306.0626, 2013.
/// Kula. "Metadata Embeddings for User and Item Cold-start Recommendations." CBRecSys 2015.
public struct HybridFactorization: FeatureAwareRecommender, ColdStartCapable, Explainable,
  IncrementallyTrainable
{
  public struct Configuration: ModelConfiguration {
    /// k_c, the size of the per-id vectors `u_i`, `v_j`.
    public var embeddingSize: Int
    /// k_f, the columns of the feature embeddings `W`, `H` (the rank of `M = WHᵀ`).
    public var featureEmbeddingSize: Int
    /// λ_U on the per-id user vectors `u_i` (and on the rows of W of user identity features).
    /// Larger values leave more of each user's taste to the features, which helps cold users
    /// and costs warm accuracy.
    public var userRegularization: Float
    /// λ_V on the per-id item vectors `v_j` (and on the rows of H of item identity features).
    public var itemRegularization: Float
    /// λ_W on the rows of W of the user features.
    public var userFeatureRegularization: Float
    /// λ_H on the rows of H of the item features.
    public var itemFeatureRegularization: Float
    /// α in `c = 1 + α w`.
    public var confidenceWeight: Float
    /// Use the interaction value as `w` (false: every positive has `w = 1`).
    public var usesValues: Bool
    /// Interactions with a lower value are not positives (0 keeps all): with star ratings, the
    /// threshold of "liked".
    public var minimumValue: Float
    /// Alternating passes (user side, then item side).
    public var epochs: Int
    /// Preconditioned conjugate-gradient steps on `W` and on `H` per half-step.
    public var cgSteps: Int
    /// Add pairwise products of user features from different columns (`gender=F×age=25-34`).
    public var userCrosses: Bool
    /// Add pairwise products of item features from different columns.
    public var itemCrosses: Bool
    /// Add one identity feature per user with positives even when users have features.
    public var userIdentity: Bool
    /// Add one identity feature per item with positives even when items have features.
    public var itemIdentity: Bool

    /// Defaults chosen on validation splits carved from the training side of MovieLens-100k
    /// cold-user, cold-item and warm splits (`docs/benchmarks/hybrid.md`), never on test rows:
    /// one setting that is close to the best of each. For cold users alone, λ_U = 300 was best
    /// on validation; with star ratings, set `minimumValue` to the "liked" threshold.
    public init(
      embeddingSize: Int = 32, featureEmbeddingSize: Int = 32, userRegularization: Float = 30,
      itemRegularization: Float = 10, userFeatureRegularization: Float = 300, itemFeatureRegularization: Float = 10,
      confidenceWeight: Float = 1, usesValues: Bool = false, minimumValue: Float = 0, epochs: Int = 10,
      cgSteps: Int = 3, userCrosses: Bool = false, itemCrosses: Bool = false, userIdentity: Bool = false,
      itemIdentity: Bool = false
    ) {
      self.embeddingSize = embeddingSize
      self.featureEmbeddingSize = featureEmbeddingSize
      self.userRegularization = userRegularization
      self.itemRegularization = itemRegularization
      self.userFeatureRegularization = userFeatureRegularization
      self.itemFeatureRegularization = itemFeatureRegularization
      self.confidenceWeight = confidenceWeight
      self.usesValues = usesValues
      self.minimumValue = minimumValue
      self.epochs = epochs
      self.cgSteps = cgSteps
      self.userCrosses = userCrosses
      self.itemCrosses = itemCrosses
      self.userIdentity = userIdentity
      self.itemIdentity = itemIdentity
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("HybridFactorization")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("featureEmbeddingSize", featureEmbeddingSize)
      try check.positive("userRegularization", userRegularization)
      try check.positive("itemRegularization", itemRegularization)
      try check.positive("userFeatureRegularization", userFeatureRegularization)
      try check.positive("itemFeatureRegularization", itemFeatureRegularization)
      try check.nonNegative("confidenceWeight", confidenceWeight)
      if !minimumValue.isFinite {
        throw ConfigurationError(
          model: "HybridFactorization", parameter: "minimumValue", value: minimumValue, requirement: "a finite number")
      }
      try check.positive("epochs", epochs)
      try check.positive("cgSteps", cgSteps)
    }

    /// `c = 1 + α w` of a training value, or nil when the value is not a positive.
    func confidence(of value: Float) -> Float? {
      guard value >= minimumValue else { return nil }
      return 1 + confidenceWeight * (usesValues ? max(value, 0) : 1)
    }
  }

  public static let kind = "hybrid"
  public let configuration: Configuration
  public let index: TrainingIndex
  let userSide: HybridSide
  let itemSide: HybridSide
  /// W, `d_u × k_f`.
  let userEmbeddings: DenseMatrix
  /// H, `d_i × k_f`.
  let itemEmbeddings: DenseMatrix
  /// U, `users × k_c` (zero for users without positives).
  let userFactors: DenseMatrix
  /// V, `items × k_c` (zero for items without positives).
  let itemFactors: DenseMatrix
  /// `b_j = [y_jᵀH | v_j]`, `items × K`: the item side of every score.
  let itemVectors: DenseMatrix
  /// `Σ_j b_j b_jᵀ` over the items with positives (`K × K`), for folding in users.
  let itemGram: DenseMatrix
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> HybridFactorization {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    let data = try FeatureVocabulary.extended(data, users: features.users, items: features.items)
    let byUser = HybridTraining.positives(data, configuration: c)
    let activeUser = (0..<data.users.count).map { byUser.count(ofRow: $0) > 0 }
    var activeItem = [Bool](repeating: false, count: data.items.count)
    for column in byUser.columns { activeItem[Int(column)] = true }
    let userIdentity = c.userIdentity || features.users == nil
    let itemIdentity = c.itemIdentity || features.items == nil
    let userSide = HybridSide(
      FeatureSide(
        features.users, vocabulary: data.users, crosses: c.userCrosses, identity: userIdentity,
        identityOnly: { activeUser[$0] }),
      vocabulary: data.users, usesIdentity: userIdentity)
    let itemSide = HybridSide(
      FeatureSide(
        features.items, vocabulary: data.items, crosses: c.itemCrosses, identity: itemIdentity,
        identityOnly: { activeItem[$0] }),
      vocabulary: data.items, usesIdentity: itemIdentity)
    var training = HybridTraining(
      configuration: c, userSide: userSide, itemSide: itemSide, byUser: byUser, seed: options.seed,
      parallel: options.isParallel)
    for epoch in 1...c.epochs {
      let loss = training.epoch()
      guard loss.isFinite, training.isFinite else { throw .diverged(model: "HybridFactorization", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: loss)
    }
    // A last user step, so that every trained user's part is the fold-in of their positives.
    training.solveUsers(training.users.active)
    return try HybridFactorization(configuration: c, data: data, userSide: userSide, itemSide: itemSide, training: training)
  }

  init(
    configuration: Configuration, data: InteractionData, userSide: HybridSide, itemSide: HybridSide,
    training: HybridTraining
  ) throws(FitError) {
    let (itemVectors, itemGram) = training.serving()
    guard training.isFinite, itemVectors.isFinite else {
      throw .diverged(model: "HybridFactorization", epoch: configuration.epochs)
    }
    self.configuration = configuration
    index = TrainingIndex(data)
    self.userSide = userSide
    self.itemSide = itemSide
    userEmbeddings = training.users.embeddings
    itemEmbeddings = training.items.embeddings
    userFactors = training.users.factors
    itemFactors = training.items.factors
    self.itemVectors = itemVectors
    self.itemGram = itemGram
  }

  // MARK: - Scoring and fold-in

  /// `Σ x_a W_a` (`k_f`) over feature cells.
  func inductiveVector(_ cells: [(Int, Float)]) -> [Float] {
    let kf = configuration.featureEmbeddingSize
    var p = [Float](repeating: 0, count: userEmbeddings.stride)
    p.withUnsafeMutableBufferPointer { pb in
      userEmbeddings.storage.withUnsafeBufferPointer { wb in
        guard let out = pb.baseAddress, let w = wb.baseAddress else { return }
        for (a, x) in cells { Vector.axpy(x, w + a * userEmbeddings.stride, out, count: kf) }
      }
    }
    return Array(p.prefix(kf))
  }

  /// The positives (item index, confidence) a query's user brings: their training positives
  /// and the request's history, each request item at `c = 1 + α`.
  func historyEntries(user: Int?, history: [ItemID]) -> [(Int, Float)] {
    var entries: [(Int, Float)] = []
    if let u = user {
      for p in seen.range(ofRow: u) {
        if let c = configuration.confidence(of: seen.values[p]) { entries.append((Int(seen.columns[p]), c)) }
      }
    }
    let c = 1 + configuration.confidenceWeight
    for id in history {
      if let j = items.index(of: id) { entries.append((j, c)) }
    }
    return entries
  }

  /// The user's side of the score for a query, `a = [x_iᵀW | u_i]`, and the parts it is made of.
  ///
  /// A trained user without a request history keeps their trained vector. Otherwise the
  /// shared features (the user's row, or the request's `features`) give `p`, and the per-id
  /// part is folded in from all the user's positives: `u` (`k_c`), or on a user side with
  /// identity features `[e | u]` (`K`, the identity row too), by the ridge solve of training's
  /// row step; with no positives it is zero.
  func userVector(for query: RecommendationQuery) -> UserVector {
    let u = query.user.flatMap { users.index(of: $0) }
    let cells = userSide.sharedCells(ofRow: u, named: query.features)
    let p = inductiveVector(cells)
    if let u, query.history.isEmpty, seen.count(ofRow: u) > 0 {
      var trained = p
      let identity = Int(userSide.identityColumns[u])
      if identity >= 0 { for f in 0..<p.count { trained[f] += userEmbeddings[identity, f] } }
      return UserVector(cells: cells, shared: p, vector: trained + userFactors.row(u), history: nil)
    }
    let history = historyEntries(user: u, history: query.history)
    var vector = p + [Float](repeating: 0, count: configuration.embeddingSize)
    if !history.isEmpty {
      let z = solveRow(p, history: history, rightHandSide: nil)
      for (n, value) in z.enumerated() { vector[vector.count - z.count + n] += value }
    }
    return UserVector(cells: cells, shared: p, vector: vector, history: history)
  }

  /// A user's side of the score and what it came from.
  struct UserVector {
    /// The shared feature cells and their `p = Σ x_a W_a`.
    var cells: [(Int, Float)]
    var shared: [Float]
    /// `a`, `K` values.
    var vector: [Float]
    /// The positives folded in (nil: the trained vector was used).
    var history: [(Int, Float)]?
  }

  /// The number of unknowns of a fold-in: `k_c`, or `K` when users have identity features.
  var foldInSize: Int {
    configuration.embeddingSize + (userSide.usesIdentity ? configuration.featureEmbeddingSize : 0)
  }

  /// Solves the fold-in system of training's user row step for shared part `p`,
  /// `(G_zz + λ_U I + Σ_h (c_h − 1) b_hz b_hzᵀ) z = Σ_h (c_h − (c_h − 1) pᵀq_h) b_hz − G_zq p`,
  /// or the same matrix for `rightHandSide`; `z` is the last ``foldInSize`` columns.
  func solveRow(_ p: [Float], history: [(Int, Float)], rightHandSide: [Float]?) -> [Float] {
    let kf = configuration.featureEmbeddingSize
    let width = itemVectors.columns
    let n = foldInSize
    let sn = DenseMatrix.paddedStride(n)
    var system = [Float](repeating: 0, count: n * sn)
    var rhs = [Float](repeating: 0, count: sn)
    let base = p + [Float](repeating: 0, count: itemVectors.stride - kf)
    var workspace: [Double] = []
    var solved = false
    system.withUnsafeMutableBufferPointer { mb in
      rhs.withUnsafeMutableBufferPointer { rb in
        base.withUnsafeBufferPointer { pb in
          itemVectors.storage.withUnsafeBufferPointer { bb in
            itemGram.storage.withUnsafeBufferPointer { gb in
              guard let m = mb.baseAddress, let r = rb.baseAddress, let a = pb.baseAddress, let b = bb.baseAddress,
                let g = gb.baseAddress
              else { return }
              HybridTraining.buildRowSystem(
                m: m, rhs: r, a: a, entries: history.lazy.map { (b + $0.0 * itemVectors.stride, $0.1) },
                gram: g, gramStride: itemGram.stride, kf: kf, width: width, count: n,
                regularization: configuration.userRegularization)
              if let rightHandSide { r.update(from: rightHandSide, count: n) }
              solved = DenseKernels.choleskySolve(m, stride: sn, k: n, b: r, workspace: &workspace)
            }
          }
        }
      }
    }
    return solved ? Array(rhs.prefix(n)) : [Float](repeating: 0, count: n)
  }

  /// `a · b_j` for every item.
  func scores(forVector a: [Float]) -> [Float] {
    var padded = a
    padded.append(contentsOf: repeatElement(0, count: itemVectors.stride - a.count))
    var scores = [Float](repeating: 0, count: items.count)
    padded.withUnsafeBufferPointer { ab in
      itemVectors.storage.withUnsafeBufferPointer { bb in
        scores.withUnsafeMutableBufferPointer { sb in
          guard let ap = ab.baseAddress, let bp = bb.baseAddress, let out = sb.baseAddress else { return }
          DenseKernels.scores(
            users: ap, userCount: 1, items: bp, itemCount: items.count, stride: itemVectors.stride, out: out)
        }
      }
    }
    return scores
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    scores(forVector: userVector(for: query).vector)
  }

  /// A user known only by `history`: `p` from the intercept alone, the per-id part folded in.
  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    try scores(for: RecommendationQuery(history: history))
  }

  // MARK: - Explanations

  /// The parts of `item`'s score `a · b_j`.
  ///
  /// The shared features' part `pᵀq_j` is split over (user feature × item feature) pairs,
  /// `x_a y_b W_aᵀH_b`, named `gender=M × genres=Drama`. The folded-in per-id part `zᵀb_jz`
  /// is split over the user's positives as implicit's `explain` does, with `A` the fold-in
  /// system and `w = A⁻¹b_jz`: item `h` contributes `(c_h − (c_h − 1) pᵀq_h) · wᵀb_hz`, and
  /// `(history: feature correction)` is `−wᵀG_zq p`. The parts add up to the fold-in score,
  /// which is the trained score for a trained user (their vector is that fold-in).
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation {
    guard let j = items.index(of: item) else { throw .unknownItem(item) }
    let kf = configuration.featureEmbeddingSize
    let width = itemVectors.columns
    let u = query.user.flatMap { users.index(of: $0) }
    let user = userVector(for: query)
    let p = user.shared
    var contributions: [Explanation.Contribution] = []
    let itemCells = itemSide.rows.range(ofRow: j).map { (Int(itemSide.rows.columns[$0]), itemSide.rows.values[$0]) }
    for (a, x) in user.cells {
      for (b, y) in itemCells {
        var dot: Float = 0
        for f in 0..<kf { dot += userEmbeddings[a, f] * itemEmbeddings[b, f] }
        contributions.append(.init(source: "\(userSide.names[a]) × \(itemSide.names[b])", weight: x * y * dot))
      }
    }
    let history = user.history ?? historyEntries(user: u, history: [])
    if !history.isEmpty {
      let n = foldInSize
      let o = width - n
      let w = solveRow(p, history: history, rightHandSide: (0..<n).map { itemVectors[j, o + $0] })
      var correction: Float = 0
      for r in 0..<n {
        var gp: Float = 0
        for f in 0..<kf { gp += itemGram[o + r, f] * p[f] }
        correction -= w[r] * gp
      }
      var byItem: [Int: Float] = [:]
      for (h, c) in history {
        var pq: Float = 0
        for f in 0..<kf { pq += p[f] * itemVectors[h, f] }
        var wb: Float = 0
        for r in 0..<n { wb += w[r] * itemVectors[h, o + r] }
        byItem[h, default: 0] += (c - (c - 1) * pq) * wb
      }
      for (h, weight) in byItem.sorted(by: { $0.key < $1.key }) {
        contributions.append(.init(source: items[h].rawValue, weight: weight))
      }
      contributions.append(.init(source: "(history: feature correction)", weight: correction))
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: contributions.reduce(0) { $0 + $1.weight }, contributions: contributions)
  }

  // MARK: - Incremental updates

  /// A copy updated with `interactions` without a full refit (partialFit): new users and items
  /// get rows (the intercept, an identity feature on an identity side, zero per-id vectors);
  /// the per-id parts of the users and items the interactions touch are re-solved (users,
  /// items, users again) against the other side; the shared feature embeddings and every
  /// other row are kept.
  public func updated(with interactions: [Interaction], options: FitOptions) throws(FitError) -> HybridFactorization {
    try updated(with: interactions, features: .none, options: options)
  }

  /// ``updated(with:options:)`` where new ids take their features from `features` (the
  /// feature names this model knows; crosses are not formed for them).
  public func updated(
    with interactions: [Interaction], features: SideInformation, options: FitOptions
  ) throws(FitError) -> HybridFactorization {
    let data = try index.appending(interactions)
    let c = configuration
    let byUser = HybridTraining.positives(data, configuration: c)
    var activeItem = [Bool](repeating: false, count: data.items.count)
    for column in byUser.columns { activeItem[Int(column)] = true }
    let userSide = userSide.extended(to: data.users, features: features.users) { byUser.count(ofRow: $0) > 0 }
    let itemSide = itemSide.extended(to: data.items, features: features.items) { activeItem[$0] }
    var training = HybridTraining(
      configuration: c, userSide: userSide, itemSide: itemSide, byUser: byUser,
      userEmbeddings: userEmbeddings.extended(to: userSide.dimension),
      itemEmbeddings: itemEmbeddings.extended(to: itemSide.dimension),
      userFactors: userFactors.extended(to: data.users.count), itemFactors: itemFactors.extended(to: data.items.count),
      parallel: options.isParallel)
    let touchedUsers = Set(interactions.compactMap { data.users.index(of: $0.user) }).sorted()
    let touchedItems = Set(interactions.compactMap { data.items.index(of: $0.item) }).sorted()
    training.solveUsers(touchedUsers)
    training.solveItems(touchedItems)
    training.solveUsers(touchedUsers)
    return try HybridFactorization(configuration: c, data: data, userSide: userSide, itemSide: itemSide, training: training)
  }
}

/// The feature rows of one side (`ids × d`) and their names; each id with positives may have an
/// identity feature, solved with its per-id vector as one more per-id vector.
struct HybridSide: Sendable, Codable, Equatable {
  let rows: SparseRowMatrix
  let names: [String]
  /// The intercept's column.
  let intercept: Int
  /// Whether ids with positives get an identity feature on this side.
  let usesIdentity: Bool
  /// The identity feature's column of every row, −1 for none.
  let identityColumns: [Int32]

  /// The side `FeatureSide` built (intercept last, identity features named `id=<id>`).
  init<ID: ExternalID>(_ side: FeatureSide, vocabulary: IDVocabulary<ID>, usesIdentity: Bool) {
    let column = usesIdentity ? Self.columnsByName(side.names) : [:]
    self.init(
      rows: side.rows, names: side.names, intercept: side.names.count - 1, usesIdentity: usesIdentity,
      identityColumns: (0..<vocabulary.count).map { column["id=\(vocabulary[$0].rawValue)"].map(Int32.init) ?? -1 })
  }

  init(rows: SparseRowMatrix, names: [String], intercept: Int, usesIdentity: Bool, identityColumns: [Int32]) {
    self.rows = rows
    self.names = names
    self.intercept = intercept
    self.usesIdentity = usesIdentity
    self.identityColumns = identityColumns
  }

  var dimension: Int { names.count }

  static func columnsByName(_ names: [String]) -> [String: Int] {
    Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// The same side with a row for every id of `vocabulary` (which extends the old one): a new
  /// id gets the features in `features` that this side knows by name, and the intercept; on an
  /// identity side every id with positives (`isActive`) and no identity feature gets a new one
  /// (a new column, appended).
  func extended<ID: ExternalID>(
    to vocabulary: IDVocabulary<ID>, features: EncodedFeatures<ID>?, isActive: (Int) -> Bool
  ) -> HybridSide {
    var triples: (rows: [Int32], columns: [Int32], values: [Float]) = ([], [], [])
    func append(_ row: Int, _ column: Int, _ value: Float) {
      triples.rows.append(Int32(row))
      triples.columns.append(Int32(column))
      triples.values.append(value)
    }
    var names = self.names
    var identity = identityColumns
    let column = Self.columnsByName(names)
    for row in 0..<vocabulary.count {
      if row < rows.rowCount {
        for p in rows.range(ofRow: row) { append(row, Int(rows.columns[p]), rows.values[p]) }
      } else {
        identity.append(-1)
        for (f, value) in features?.features(of: vocabulary[row]) ?? [] {
          guard let known = features.flatMap({ column[$0.names[f]] }), known != intercept,
            !names[known].hasPrefix("id=")
          else { continue }
          append(row, known, value)
        }
        append(row, intercept, 1)
      }
      if usesIdentity, identity[row] < 0, isActive(row) {
        identity[row] = Int32(names.count)
        append(row, names.count, 1)
        names.append("id=\(vocabulary[row].rawValue)")
      }
    }
    return HybridSide(
      rows: SparseRowMatrix(
        rowCount: vocabulary.count, columnCount: names.count, rows: triples.rows, columns: triples.columns,
        values: triples.values),
      names: names, intercept: intercept, usesIdentity: usesIdentity, identityColumns: identity)
  }

  /// The feature cells of `row` without its identity feature, or for an id without a row the
  /// request's named features (unknown names are skipped) and the intercept.
  func sharedCells(ofRow row: Int?, named features: [String]) -> [(Int, Float)] {
    if let row {
      let own = Int(identityColumns[row])
      return rows.range(ofRow: row).map { (Int(rows.columns[$0]), rows.values[$0]) }.filter { $0.0 != own }
    }
    var cells = features.compactMap { name in names.firstIndex(of: name).map { ($0, Float(1)) } }
    cells.append((intercept, 1))
    return cells
  }
}

extension DenseMatrix {
  /// The same rows followed by zero rows up to `count`.
  fileprivate func extended(to count: Int) -> DenseMatrix {
    guard count > rows else { return self }
    var out = DenseMatrix(rows: count, columns: columns)
    out.storage.replaceSubrange(0..<storage.count, with: storage)
    return out
  }
}

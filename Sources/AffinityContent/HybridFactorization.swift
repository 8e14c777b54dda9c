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

/// One side of a training run: its features, positives and the blocks it learns.
struct HybridBlock {
  /// X (`ids × d`) and its transpose.
  let features: SparseRowMatrix
  let byFeature: SparseRowMatrix
  /// This side × the other side, values = confidences `c`.
  let positives: SparseRowMatrix
  /// The ids with at least one positive: the only ones in the loss.
  let active: [Int]
  /// Every row's identity column (−1: none), and which columns are identity features.
  let identityColumns: [Int32]
  let isIdentityColumn: [Bool]
  /// λ per row of the embeddings (the per-id λ for identity rows) and the per-id λ.
  let embeddingRegularization: [Float]
  let regularization: Float
  /// W or H (`d × k_f`), U or V (`ids × k_c`).
  var embeddings: DenseMatrix
  var factors: DenseMatrix

  init(
    side: HybridSide, positives: SparseRowMatrix, regularization: Float, featureRegularization: Float,
    embeddings: DenseMatrix, factors: DenseMatrix
  ) {
    features = side.rows
    byFeature = side.rows.transposed()
    self.positives = positives
    active = (0..<positives.rowCount).filter { positives.count(ofRow: $0) > 0 }
    identityColumns = side.identityColumns
    var isIdentity = [Bool](repeating: false, count: side.dimension)
    for column in side.identityColumns where column >= 0 { isIdentity[Int(column)] = true }
    isIdentityColumn = isIdentity
    embeddingRegularization = isIdentity.map { $0 ? regularization : featureRegularization }
    self.regularization = regularization
    self.embeddings = embeddings
    self.factors = factors
  }

  /// `a_r = [x_rᵀE | f_r]` for every row `r`: this side's vectors in the score `a_iᵀb_j`.
  var vectors: DenseMatrix { HybridTraining.combined(features, embeddings: embeddings, factors: factors) }

  var isFinite: Bool { embeddings.isFinite && factors.isFinite }

  /// `Σ λ_r ‖e_r‖²` over the embeddings plus `λ ‖f_r‖²` over the per-id vectors.
  var ridge: Double {
    var sum = 0.0
    for r in 0..<embeddings.rows {
      var norm = 0.0
      for f in 0..<embeddings.columns { norm += Double(embeddings[r, f]) * Double(embeddings[r, f]) }
      sum += Double(embeddingRegularization[r]) * norm
    }
    var norm = 0.0
    for value in factors.storage { norm += Double(value) * Double(value) }
    return sum + Double(regularization) * norm
  }
}

/// One training run of ``HybridFactorization``: the two sides and the alternating steps.
///
/// Rows are solved in fixed chunks that write only their own rows (an identity row belongs to
/// one id), and every sum over rows is taken in row order or by
/// ``DenseKernels/gram(_:regularization:parallel:)``, which reduces in chunk order, so the
/// result is the same bytes at any thread count.
struct HybridTraining {
  var users: HybridBlock
  var items: HybridBlock
  let steps: Int
  let parallel: Bool

  /// The positives of `data` as a user × item matrix of confidences.
  static func positives(
    _ data: InteractionData, configuration c: HybridFactorization.Configuration
  ) -> SparseRowMatrix {
    var rows: [Int32] = []
    var columns: [Int32] = []
    var values: [Float] = []
    for k in 0..<data.count {
      guard let confidence = c.confidence(of: data.values[k]) else { continue }
      rows.append(data.userIndices[k])
      columns.append(data.itemIndices[k])
      values.append(confidence)
    }
    return SparseRowMatrix(
      rowCount: data.users.count, columnCount: data.items.count, rows: rows, columns: columns, values: values)
  }

  init(
    configuration c: HybridFactorization.Configuration, userSide: HybridSide, itemSide: HybridSide,
    byUser: SparseRowMatrix, userEmbeddings: DenseMatrix, itemEmbeddings: DenseMatrix, userFactors: DenseMatrix,
    itemFactors: DenseMatrix, parallel: Bool
  ) {
    users = HybridBlock(
      side: userSide, positives: byUser, regularization: c.userRegularization,
      featureRegularization: c.userFeatureRegularization, embeddings: userEmbeddings, factors: userFactors)
    items = HybridBlock(
      side: itemSide, positives: byUser.transposed(), regularization: c.itemRegularization,
      featureRegularization: c.itemFeatureRegularization, embeddings: itemEmbeddings, factors: itemFactors)
    steps = c.cgSteps
    self.parallel = parallel
  }

  /// A fresh run: every block uniform in [0, 0.01) (implicit's initialisation), the per-id
  /// vectors of ids without positives zero.
  init(
    configuration c: HybridFactorization.Configuration, userSide: HybridSide, itemSide: HybridSide,
    byUser: SparseRowMatrix, seed: UInt64, parallel: Bool
  ) {
    func uniform(rows: Int, columns: Int, stream: UInt64, keeps: (Int) -> Bool = { _ in true }) -> DenseMatrix {
      var generator = SeededGenerator(seed: seed, stream: stream)
      return DenseMatrix(rows: rows, columns: columns) { r, _ in
        let value = Float(generator.nextUniform()) * 0.01
        return keeps(r) ? value : 0
      }
    }
    let byItem = byUser.transposed()
    self.init(
      configuration: c, userSide: userSide, itemSide: itemSide, byUser: byUser,
      userEmbeddings: uniform(rows: userSide.dimension, columns: c.featureEmbeddingSize, stream: 21),
      itemEmbeddings: uniform(rows: itemSide.dimension, columns: c.featureEmbeddingSize, stream: 22),
      userFactors: uniform(rows: byUser.rowCount, columns: c.embeddingSize, stream: 23) { byUser.count(ofRow: $0) > 0 },
      itemFactors: uniform(rows: byItem.rowCount, columns: c.embeddingSize, stream: 24) { byItem.count(ofRow: $0) > 0 },
      parallel: parallel)
  }

  var isFinite: Bool { users.isFinite && items.isFinite }

  /// One epoch: the user side with the item side fixed, then the reverse. Returns the loss.
  mutating func epoch() -> Double {
    Self.step(&users, against: items, rows: users.active, featureSteps: steps, parallel: parallel)
    Self.step(&items, against: users, rows: items.active, featureSteps: steps, parallel: parallel)
    return loss()
  }

  /// Re-solves the per-id vectors (and identity rows) of `rows` of users against the items.
  mutating func solveUsers(_ rows: [Int]) {
    Self.step(&users, against: items, rows: rows, featureSteps: 0, parallel: parallel)
  }

  /// Re-solves the per-id vectors (and identity rows) of `rows` of items against the users.
  mutating func solveItems(_ rows: [Int]) {
    Self.step(&items, against: users, rows: rows, featureSteps: 0, parallel: parallel)
  }

  /// The item vectors and their Gram over the items with positives, for serving.
  func serving() -> (vectors: DenseMatrix, gram: DenseMatrix) {
    let vectors = items.vectors
    return (vectors, Self.gram(of: vectors, rows: items.active, parallel: parallel))
  }

  /// Solves `rows` of `side` exactly for their per-id parts with `other` fixed, then takes
  /// `featureSteps` conjugate-gradient steps on the side's shared feature embeddings.
  static func step(
    _ side: inout HybridBlock, against other: HybridBlock, rows: [Int], featureSteps: Int, parallel: Bool
  ) {
    let fixed = other.vectors
    let gram = gram(of: fixed, rows: other.active, parallel: parallel)
    var own = side.vectors
    solveRows(rows, of: &side, own: &own, fixed: fixed, gram: gram, parallel: parallel)
    if featureSteps > 0 {
      HybridTraining.featureSteps(
        side: &side, own: own, fixed: fixed, gram: gram, steps: featureSteps, parallel: parallel)
    }
  }

  /// The loss: `Σ_ij c_ij (p_ij − a_iᵀb_j)²` over active users and items, as
  /// `Σ_i a_iᵀGa_i + Σ_(i,j) positive [c (1 − s)² − s²]`, plus every ridge term.
  func loss() -> Double {
    let a = users.vectors
    let (b, g) = serving()
    let s = a.stride
    let width = a.columns
    let positives = users.positives
    let active = users.active
    let partials: [Double] = a.storage.withUnsafeBufferPointer { ab in
      b.storage.withUnsafeBufferPointer { bb in
        g.storage.withUnsafeBufferPointer { gb in
          guard let ap = ab.baseAddress, let bp = bb.baseAddress, let gp = gb.baseAddress else { return [] }
          return Parallel.mapChunks(count: active.count, chunkCount: 16, minimumParallelCount: parallel ? 128 : .max) {
            range, _ in
            var sum = 0.0
            for position in range {
              let row = active[position]
              let ai = ap + row * s
              for r in 0..<width { sum += Double(ai[r]) * Double(Vector.dot(gp + r * s, ai, count: width)) }
              for p in positives.range(ofRow: row) {
                let score = Double(Vector.dot(bp + Int(positives.columns[p]) * s, ai, count: width))
                let c = Double(positives.values[p])
                sum += c * (1 - score) * (1 - score) - score * score
              }
            }
            return sum
          }
        }
      }
    }
    return partials.reduce(0, +) + users.ridge + items.ridge
  }

  // MARK: - Building blocks

  /// `[x_rᵀE | f_r]` for every row `r`.
  static func combined(_ side: SparseRowMatrix, embeddings e: DenseMatrix, factors f: DenseMatrix) -> DenseMatrix {
    let kf = e.columns
    let kc = f.columns
    var out = DenseMatrix(rows: side.rowCount, columns: kf + kc)
    let s = out.stride
    out.storage.withUnsafeMutableBufferPointer { ob in
      e.storage.withUnsafeBufferPointer { eb in
        f.storage.withUnsafeBufferPointer { fb in
          side.values.withUnsafeBufferPointer { vb in
            side.columns.withUnsafeBufferPointer { cb in
              guard let o = ob.baseAddress, let ep = eb.baseAddress, let fp = fb.baseAddress else { return }
              for r in 0..<side.rowCount {
                let row = o + r * s
                for p in side.range(ofRow: r) { Vector.axpy(vb[p], ep + Int(cb[p]) * e.stride, row, count: kf) }
                (row + kf).update(from: fp + r * f.stride, count: kc)
              }
            }
          }
        }
      }
    }
    return out
  }

  /// `Σ_r m_r m_rᵀ` over `rows`.
  static func gram(of m: DenseMatrix, rows: [Int], parallel: Bool) -> DenseMatrix {
    guard rows.count != m.rows else { return DenseKernels.gram(m, regularization: 0, parallel: parallel) }
    var subset = DenseMatrix(rows: rows.count, columns: m.columns)
    let s = m.stride
    for (n, r) in rows.enumerated() {
      subset.storage.replaceSubrange((n * s)..<((n + 1) * s), with: m.storage[(r * s)..<((r + 1) * s)])
    }
    return DenseKernels.gram(subset, regularization: 0, parallel: parallel)
  }

  /// The ridge system of one row's per-id part `z` (the last `n` of the `K` columns) with the
  /// shared part `p` (the first `k_f` entries of `a`) fixed, so that the row's vector is
  /// `[p | 0] + [0 | z]` padded on the left, against the other side's rows `entries`
  /// (`b_j`, `c_j`) and their Gram `G`:
  /// `m = G_zz + λI + Σ (c − 1) b_z b_zᵀ` (`n` rows of stride `paddedStride(n)`),
  /// `rhs = Σ (c − (c − 1) pᵀq) b_z − G_zq p`.
  @inline(__always)
  static func buildRowSystem<Entries: Sequence<(UnsafePointer<Float>, Float)>>(
    m: UnsafeMutablePointer<Float>, rhs: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, entries: Entries,
    gram g: UnsafePointer<Float>, gramStride gs: Int, kf: Int, width: Int, count n: Int, regularization: Float
  ) {
    let o = width - n
    let sn = DenseMatrix.paddedStride(n)
    for r in 0..<n {
      let row = m + r * sn
      row.update(from: g + (o + r) * gs + o, count: n)
      for f in n..<sn { row[f] = 0 }
      row[r] += regularization
      rhs[r] = -Vector.dot(g + (o + r) * gs, a, count: kf)
    }
    for f in n..<sn { rhs[f] = 0 }
    for (b, c) in entries {
      let s = Vector.dot(b, a, count: kf)
      let z = b + o
      Vector.axpy(c - (c - 1) * s, z, rhs, count: n)
      let weight = c - 1
      guard weight != 0 else { continue }
      for r in 0..<n where z[r] != 0 { Vector.axpy(weight * z[r], z, m + r * sn, count: n) }
    }
  }

  /// Solves every row in `list` exactly for its per-id part: `f_r` (`k_c`), or with an
  /// identity feature `[e_id | f_r]` (`K`), the rest of `x_rᵀE` fixed; a row without positives
  /// gets zeros. Writes the embeddings' identity rows, the factors and `own`.
  static func solveRows(
    _ list: [Int], of side: inout HybridBlock, own: inout DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix,
    parallel: Bool
  ) {
    let kc = side.factors.columns
    let kf = side.embeddings.columns
    let width = own.columns
    let s = own.stride
    let sc = side.factors.stride
    let sf = side.embeddings.stride
    let sk = DenseMatrix.paddedStride(width)
    let λ = side.regularization
    let positives = side.positives
    let identity = side.identityColumns
    own.storage.withUnsafeMutableBufferPointer { ob in
      side.factors.storage.withUnsafeMutableBufferPointer { fb in
        side.embeddings.storage.withUnsafeMutableBufferPointer { eb in
          fixed.storage.withUnsafeBufferPointer { bb in
            gram.storage.withUnsafeBufferPointer { gb in
              positives.columns.withUnsafeBufferPointer { cb in
                positives.values.withUnsafeBufferPointer { vb in
                  guard let o = ob.baseAddress, let factors = fb.baseAddress, let embeddings = eb.baseAddress,
                    let b = bb.baseAddress, let g = gb.baseAddress
                  else { return }
                  Parallel.forEachChunk(
                    count: list.count, chunkCount: 64, minimumParallelCount: parallel ? 128 : .max
                  ) { range, _ in
                    var m = [Float](repeating: 0, count: width * sk)
                    var rhs = [Float](repeating: 0, count: sk)
                    var workspace: [Double] = []
                    for position in range {
                      let row = list[position]
                      let a = o + row * s
                      let column = Int(identity[row])
                      let e: UnsafeMutablePointer<Float>? = column >= 0 ? embeddings + column * sf : nil
                      if let e { for f in 0..<kf { a[f] -= e[f] } }
                      let n = e == nil ? kc : width
                      let entries = positives.range(ofRow: row)
                      var solved = false
                      if !entries.isEmpty {
                        solved = m.withUnsafeMutableBufferPointer { mb in
                          rhs.withUnsafeMutableBufferPointer { rb -> Bool in
                            guard let mp = mb.baseAddress, let rp = rb.baseAddress else { return false }
                            buildRowSystem(
                              m: mp, rhs: rp, a: a, entries: entries.lazy.map { (b + Int(cb[$0]) * s, vb[$0]) },
                              gram: g, gramStride: s, kf: kf, width: width, count: n, regularization: λ)
                            return DenseKernels.choleskySolve(
                              mp, stride: DenseMatrix.paddedStride(n), k: n, b: rp, workspace: &workspace)
                          }
                        }
                      }
                      if !solved {
                        guard entries.isEmpty else {
                          // Not positive definite (cannot happen with λ > 0): keep the old values.
                          if let e { for f in 0..<kf { a[f] += e[f] } }
                          continue
                        }
                        for f in 0..<n { rhs[f] = 0 }
                      }
                      if let e {
                        for f in 0..<kf {
                          e[f] = rhs[f]
                          a[f] += rhs[f]
                        }
                      }
                      let start = n - kc
                      for f in 0..<kc {
                        a[kf + f] = rhs[start + f]
                        factors[row * sc + f] = rhs[start + f]
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

  /// `steps` Jacobi-preconditioned conjugate-gradient steps on the side's shared feature
  /// embeddings `E` (identity rows are solved per row instead and stay fixed here), with the
  /// per-id parts and the other side fixed, warm-started from `E`.
  ///
  /// The normal equations are `Σ_i x_i t_i(E)ᵀ + ΛE = Σ_i x_i r_iᵀ` over active rows `i`, with
  /// `t_i(E) = G_qq Eᵀx_i + Σ_j (c_ij − 1)(q_jᵀEᵀx_i) q_j` and, at the current `a_i`,
  /// `r_i − t_i = Σ_j (c_ij − (c_ij − 1) b_jᵀa_i) q_j − G_q· a_i`. Every product with the
  /// `d · k_f` system goes through X and the rows' positives, never forming it; the
  /// preconditioner is its exact diagonal.
  static func featureSteps(
    side: inout HybridBlock, own: DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix, steps: Int, parallel: Bool
  ) {
    let kf = side.embeddings.columns
    let sf = side.embeddings.stride
    let d = side.embeddings.rows
    let n = side.features.rowCount
    let width = own.columns
    let threshold = parallel ? 128 : Int.max
    let positives = side.positives
    let active = side.active
    let x = side.features
    // Per active row: r_i − t_i(E) (the negative gradient) and the diagonal of its block.
    var z = [Float](repeating: 0, count: n * sf)
    var rowDiagonal = [Float](repeating: 0, count: n * sf)
    own.storage.withUnsafeBufferPointer { ob in
      fixed.storage.withUnsafeBufferPointer { bb in
        gram.storage.withUnsafeBufferPointer { gb in
          positives.columns.withUnsafeBufferPointer { cb in
            positives.values.withUnsafeBufferPointer { vb in
              z.withUnsafeMutableBufferPointer { zb in
                rowDiagonal.withUnsafeMutableBufferPointer { db in
                  guard let o = ob.baseAddress, let b = bb.baseAddress, let g = gb.baseAddress,
                    let zp = zb.baseAddress, let dp = db.baseAddress
                  else { return }
                  let s = own.stride
                  Parallel.forEachChunk(count: active.count, chunkCount: 64, minimumParallelCount: threshold) {
                    range, _ in
                    for position in range {
                      let row = active[position]
                      let a = o + row * s
                      let zi = zp + row * sf
                      let di = dp + row * sf
                      for r in 0..<kf {
                        zi[r] = -Vector.dot(g + r * s, a, count: width)
                        di[r] = g[r * s + r]
                      }
                      for p in positives.range(ofRow: row) {
                        let bj = b + Int(cb[p]) * s
                        let c = vb[p]
                        Vector.axpy(c - (c - 1) * Vector.dot(bj, a, count: width), bj, zi, count: kf)
                        for r in 0..<kf { di[r] += (c - 1) * bj[r] * bj[r] }
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
    var residual = [Float](repeating: 0, count: d * sf)
    var diagonal = [Float](repeating: 1, count: d * sf)
    transposedProduct(side.byFeature, z, into: &residual, stride: sf, kf: kf, squared: false, parallel: parallel)
    transposedProduct(side.byFeature, rowDiagonal, into: &diagonal, stride: sf, kf: kf, squared: true, parallel: parallel)
    let λ = side.embeddingRegularization
    let free = side.isIdentityColumn.map { !$0 }
    for a in 0..<d {
      for f in 0..<kf {
        residual[a * sf + f] = free[a] ? residual[a * sf + f] - λ[a] * side.embeddings[a, f] : 0
        diagonal[a * sf + f] += λ[a]
      }
    }
    var preconditioned = (0..<(d * sf)).map { residual[$0] / diagonal[$0] }
    var direction = preconditioned
    var product = [Float](repeating: 0, count: d * sf)
    var rz = dot(residual, preconditioned)
    var t = [Float](repeating: 0, count: n * sf)
    for _ in 0..<steps {
      guard rz > 1e-30, rz.isFinite else { return }
      // t_i = Dᵀx_i, then z_i = G_qq t_i + Σ (c − 1)(q_jᵀt_i) q_j.
      x.values.withUnsafeBufferPointer { xv in
        x.columns.withUnsafeBufferPointer { xc in
          direction.withUnsafeBufferPointer { db in
            t.withUnsafeMutableBufferPointer { tb in
              z.withUnsafeMutableBufferPointer { zb in
                fixed.storage.withUnsafeBufferPointer { bb in
                  gram.storage.withUnsafeBufferPointer { gb in
                    positives.columns.withUnsafeBufferPointer { cb in
                      positives.values.withUnsafeBufferPointer { vb in
                        guard let dp = db.baseAddress, let tp = tb.baseAddress, let zp = zb.baseAddress,
                          let b = bb.baseAddress, let g = gb.baseAddress
                        else { return }
                        let s = fixed.stride
                        Parallel.forEachChunk(count: active.count, chunkCount: 64, minimumParallelCount: threshold) {
                          range, _ in
                          for position in range {
                            let row = active[position]
                            let ti = tp + row * sf
                            let zi = zp + row * sf
                            for f in 0..<sf { ti[f] = 0 }
                            for p in x.range(ofRow: row) { Vector.axpy(xv[p], dp + Int(xc[p]) * sf, ti, count: kf) }
                            for r in 0..<kf { zi[r] = Vector.dot(g + r * s, ti, count: kf) }
                            for p in positives.range(ofRow: row) {
                              let c = vb[p]
                              guard c != 1 else { continue }
                              let qj = b + Int(cb[p]) * s
                              Vector.axpy((c - 1) * Vector.dot(qj, ti, count: kf), qj, zi, count: kf)
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
      }
      transposedProduct(side.byFeature, z, into: &product, stride: sf, kf: kf, squared: false, parallel: parallel)
      for a in 0..<d {
        for f in 0..<kf {
          product[a * sf + f] = free[a] ? product[a * sf + f] + λ[a] * direction[a * sf + f] : 0
        }
      }
      let denominator = dot(direction, product)
      guard denominator > 0, denominator.isFinite else { return }
      let alpha = Float(rz / denominator)
      for q in 0..<(d * sf) {
        side.embeddings.storage[q] += alpha * direction[q]
        residual[q] -= alpha * product[q]
        preconditioned[q] = residual[q] / diagonal[q]
      }
      let next = dot(residual, preconditioned)
      let beta = Float(next / rz)
      for q in 0..<(d * sf) { direction[q] = preconditioned[q] + beta * direction[q] }
      rz = next
    }
  }

  /// `out_a = Σ_i x_ia z_i` (or `Σ_i x_ia² z_i` when `squared`) over the first `kf` columns,
  /// for every feature `a`: each feature's row summed in row order by one chunk.
  static func transposedProduct(
    _ xt: SparseRowMatrix, _ z: [Float], into out: inout [Float], stride sf: Int, kf: Int, squared: Bool,
    parallel: Bool
  ) {
    xt.values.withUnsafeBufferPointer { xv in
      xt.columns.withUnsafeBufferPointer { xc in
        z.withUnsafeBufferPointer { zb in
          out.withUnsafeMutableBufferPointer { ob in
            guard let zp = zb.baseAddress, let op = ob.baseAddress else { return }
            Parallel.forEachChunk(count: xt.rowCount, chunkCount: 64, minimumParallelCount: parallel ? 64 : .max) {
              range, _ in
              for a in range {
                let oa = op + a * sf
                for f in 0..<kf { oa[f] = 0 }
                for p in xt.range(ofRow: a) {
                  Vector.axpy(squared ? xv[p] * xv[p] : xv[p], zp + Int(xc[p]) * sf, oa, count: kf)
                }
              }
            }
          }
        }
      }
    }
  }

  /// `Σ a_q b_q` in Double, in index order.
  static func dot(_ a: [Float], _ b: [Float]) -> Double {
    var sum = 0.0
    for q in 0..<a.count { sum += Double(a[q]) * Double(b[q]) }
    return sum
  }
}

public import AffinityCore
public import AffinityLinalg
import Foundation

/// Inductive scoring `r̂_ui = x_uᵀ M y_j` from user features `x` and item features `y`, with `M`
/// in closed form: the two-sided (Kronecker) ridge `M = (XᵀX + λ_u I)⁻¹ Xᵀ R Y (YᵀY + λ_i I)⁻¹`
/// over the whole user × item matrix (unobserved pairs count as 0).
///
/// A side without features is the identity: with user features only, `M` maps a user's features
/// to a score for every item (cold users); with item features only, each user gets a vector over
/// item features, so items never seen in training are scored from their features (cold items),
/// and a user not in training is folded in from their history in one solve. Every id in a
/// feature file is part of the vocabulary, so cold ids are ranked like warm ones. Each side gets
/// a constant intercept feature; `userCrosses`/`itemCrosses` add pairwise feature products
/// (`gender=F×age=25-34`).
///
/// M is full rank (dimension of user features × dimension of item features); this is the closed
/// form, not the low-rank ALS/SGD fit `M = W Hᵀ`.
///
/// - Complexity: fit O(nnz · f_u · f_i + d_u³ + d_i³ + d_u · d_i · (d_u + d_i)) for `d` the side
///   dimensions (users or items on an identity side) and `f` the features per row; memory
///   O(d_u · d_i).
public struct FeatureRidge: FeatureAwareRecommender, ColdStartCapable, Explainable {
  public struct Configuration: ModelConfiguration {
    /// λ_u, ridge on the user-feature side.
    public var userRegularization: Float
    /// λ_i, ridge on the item-feature side.
    public var itemRegularization: Float
    /// Targets are the interaction values instead of 1 (less ``valueOffset``).
    public var usesValues: Bool
    /// With `usesValues`, subtracted from every value; values at or below a positive offset are
    /// left out. With star ratings, 2 gives graded targets (5 → 3, 4 → 2, 3 → 1).
    public var valueOffset: Float
    /// Add pairwise products of user features from different columns.
    public var userCrosses: Bool
    /// Add pairwise products of item features from different columns.
    public var itemCrosses: Bool
    /// Add one indicator feature per item to the item features (item-level detail on top of the
    /// features; cold items still get only their features).
    public var itemIdentity: Bool
    /// Interactions with a lower value are left out of the targets (0 keeps all).
    public var minimumValue: Float
    /// Each user's targets are scaled by `n_u^−β` (`n_u` their interactions): β = 0 lets heavy
    /// users dominate, β = 1 gives every user the same total weight.
    public var userNormalization: Float

    /// Defaults chosen on validation splits carved from the training sides of MovieLens-100k
    /// cold-user and cold-item splits (`docs/benchmarks/coldstart.md`). With star ratings and
    /// "liked" positives, set `minimumValue` to the positive threshold (4 on MovieLens: cold-user
    /// validation NDCG@10 0.386 → 0.432).
    public init(
      userRegularization: Float = 300, itemRegularization: Float = 30, usesValues: Bool = false,
      userCrosses: Bool = false, itemCrosses: Bool = false, itemIdentity: Bool = false, minimumValue: Float = 0,
      userNormalization: Float = 0.5, valueOffset: Float = 0
    ) {
      self.valueOffset = valueOffset
      self.itemIdentity = itemIdentity
      self.minimumValue = minimumValue
      self.userNormalization = userNormalization
      self.userRegularization = userRegularization
      self.itemRegularization = itemRegularization
      self.usesValues = usesValues
      self.userCrosses = userCrosses
      self.itemCrosses = itemCrosses
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("FeatureRidge")
      try check.positive("userRegularization", userRegularization)
      try check.positive("itemRegularization", itemRegularization)
      try check.nonNegative("userNormalization", userNormalization)
      try targets.validate(model: "FeatureRidge")
    }

    var targets: TargetWeighting { .init(minimumValue: minimumValue, usesValues: usesValues, valueOffset: valueOffset) }

    private enum CodingKeys: String, CodingKey {
      case userRegularization, itemRegularization, usesValues, valueOffset, userCrosses, itemCrosses, itemIdentity
      case minimumValue, userNormalization
    }

    /// Reads configurations saved before `valueOffset` existed as having none.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      userRegularization = try c.decode(Float.self, forKey: .userRegularization)
      itemRegularization = try c.decode(Float.self, forKey: .itemRegularization)
      usesValues = try c.decode(Bool.self, forKey: .usesValues)
      valueOffset = try c.decodeIfPresent(Float.self, forKey: .valueOffset) ?? 0
      userCrosses = try c.decode(Bool.self, forKey: .userCrosses)
      itemCrosses = try c.decode(Bool.self, forKey: .itemCrosses)
      itemIdentity = try c.decode(Bool.self, forKey: .itemIdentity)
      minimumValue = try c.decode(Float.self, forKey: .minimumValue)
      userNormalization = try c.decode(Float.self, forKey: .userNormalization)
    }
  }

  public static let kind = "inductive"
  public let configuration: Configuration
  public let index: TrainingIndex
  let userSide: FeatureSide?
  let itemSide: FeatureSide?
  /// M, `d_u × d_i`.
  let parameters: DenseMatrix
  /// Cholesky factor of `YᵀY + λ_i I`, for folding in users on an identity user side.
  let itemFactor: [Double]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }


  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> FeatureRidge {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    guard !features.isEmpty else { throw .missingFeatures(model: kind, needs: "user features, item features or both") }
    let data = try FeatureVocabulary.extended(data, users: features.users, items: features.items)
    let userSide = features.users.map { FeatureSide($0, vocabulary: data.users, crosses: c.userCrosses) }
    let itemSide = features.items.map {
      FeatureSide($0, vocabulary: data.items, crosses: c.itemCrosses, identity: c.itemIdentity)
    }
    let du = userSide?.dimension ?? data.users.count
    let di = itemSide?.dimension ?? data.items.count
    // C = Xᵀ R Y, summed over the interactions.
    var m = [Double](repeating: 0, count: du * di)
    let userWeights = (0..<data.users.count).map { u in
      Foundation.pow(Double(max(data.byUser.count(ofRow: u), 1)), -Double(c.userNormalization))
    }
    let targets = c.targets
    for k in 0..<data.count {
      guard let weight = targets.weight(of: data.values[k]) else { continue }
      let u = Int(data.userIndices[k])
      let target = Double(weight) * userWeights[u]
      let i = Int(data.itemIndices[k])
      forEachFeature(of: u, side: userSide) { a, xa in
        let scaled = target * xa
        forEachFeature(of: i, side: itemSide) { b, yb in m[a * di + b] += scaled * yb }
      }
    }
    options.report(kind, step: 1, of: 3)
    var itemFactor: [Double] = []
    if let userSide {
      guard let l = DenseSPD.cholesky(userSide.gram(regularization: Double(c.userRegularization)), n: du) else {
        throw .diverged(model: kind, epoch: 1)
      }
      var column = [Double](repeating: 0, count: du)
      for b in 0..<di {
        for a in 0..<du { column[a] = m[a * di + b] }
        DenseSPD.solve(l, n: du, &column)
        for a in 0..<du { m[a * di + b] = column[a] }
      }
    }
    options.report(kind, step: 2, of: 3)
    if let itemSide {
      guard let l = DenseSPD.cholesky(itemSide.gram(regularization: Double(c.itemRegularization)), n: di) else {
        throw .diverged(model: kind, epoch: 1)
      }
      var row = [Double](repeating: 0, count: di)
      for a in 0..<du {
        for b in 0..<di { row[b] = m[a * di + b] }
        DenseSPD.solve(l, n: di, &row)
        for b in 0..<di { m[a * di + b] = row[b] }
      }
      itemFactor = l
    }
    options.report(kind, step: 3, of: 3)
    let parameters = DenseMatrix(rows: du, columns: di) { a, b in Float(m[a * di + b]) }
    guard parameters.isFinite else { throw .diverged(model: kind, epoch: 1) }
    return FeatureRidge(
      configuration: c, index: TrainingIndex(data), userSide: userSide, itemSide: itemSide,
      parameters: parameters, itemFactor: itemFactor)
  }

  @inline(__always)
  static func forEachFeature(of row: Int, side: FeatureSide?, _ body: (Int, Double) -> Void) {
    guard let side else { return body(row, 1) }
    for p in side.rows.range(ofRow: row) { body(Int(side.rows.columns[p]), Double(side.rows.values[p])) }
  }

  /// `x_uᵀ M`: the user's weights over the item side (item features or items).
  func userVector(user: Int?, history: [Int], features: [String] = []) -> [Float] {
    let di = parameters.columns
    var s = [Float](repeating: 0, count: di)
    if let userSide {
      // A user without a row (in no file) gets the request's features, or the intercept alone.
      let cells: [(Int, Float)] =
        user.map { u in userSide.rows.range(ofRow: u).map { (Int(userSide.rows.columns[$0]), userSide.rows.values[$0]) } }
        ?? userSide.cells(named: features)
      for (a, xa) in cells { for b in 0..<di { s[b] += xa * parameters[a, b] } }
      return s
    }
    if let u = user, u < parameters.rows, seen.count(ofRow: u) > 0 {
      for b in 0..<di { s[b] = parameters[u, b] }
      return s
    }
    // Fold-in on an identity user side: (Σ_j y_j)ᵀ (YᵀY + λI)⁻¹ over the history.
    guard let itemSide, !history.isEmpty else { return s }
    var c = [Double](repeating: 0, count: di)
    for j in history { Self.forEachFeature(of: j, side: itemSide) { b, yb in c[b] += yb } }
    DenseSPD.solve(itemFactor, n: di, &c)
    return c.map { Float($0) }
  }

  func itemScores(_ s: [Float]) -> [Float] {
    guard let itemSide else { return Array(s.prefix(items.count)) }
    return (0..<items.count).map { j in
      itemSide.rows.range(ofRow: j).reduce(Float(0)) { $0 + itemSide.rows.values[$1] * s[Int(itemSide.rows.columns[$1])] }
    }
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    let u = query.user.flatMap { users.index(of: $0) }
    let history = u.map { seen.range(ofRow: $0).map { Int(seen.columns[$0]) } } ?? []
    return itemScores(
      userVector(user: u, history: history + query.history.compactMap { items.index(of: $0) }, features: query.features))
  }

  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    itemScores(userVector(user: nil, history: history.compactMap { items.index(of: $0) }))
  }

  /// The features that contributed most: the user's features when the user side has them
  /// (`x_a · (M y_j)_a`), else the item's (`y_b · (x_uᵀ M)_b`).
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation {
    guard let j = items.index(of: item) else { throw .unknownItem(item) }
    let u = query.user.flatMap { users.index(of: $0) }
    var contributions: [Explanation.Contribution] = []
    if let userSide, let u {
      for p in userSide.rows.range(ofRow: u) {
        let a = Int(userSide.rows.columns[p])
        var my: Float = 0
        Self.forEachFeature(of: j, side: itemSide) { b, yb in my += parameters[a, b] * Float(yb) }
        contributions.append(.init(source: userSide.names[a], weight: userSide.rows.values[p] * my))
      }
    } else if let itemSide {
      let history = u.map { seen.range(ofRow: $0).map { Int(seen.columns[$0]) } } ?? []
      let s = userVector(user: u, history: history + query.history.compactMap { items.index(of: $0) })
      for p in itemSide.rows.range(ofRow: j) {
        let b = Int(itemSide.rows.columns[p])
        contributions.append(.init(source: itemSide.names[b], weight: itemSide.rows.values[p] * s[b]))
      }
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: contributions.reduce(0) { $0 + $1.weight }, contributions: contributions)
  }
}

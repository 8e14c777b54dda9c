public import AffinityCore
public import AffinityFactorization
public import AffinityLinalg
import Foundation

/// LightFM's hybrid model: a user's vector is the sum of the embeddings of their features, an
/// item's vector and bias the sums over its features; score `p_uᵀ q_i + b_i`.
///
/// Features come from `--user-features`/`--item-features`; identity features (one per id with
/// training interactions) are added when ``Configuration/userIdentity`` / ``itemIdentity`` are
/// on, which makes the model plain matrix factorization for warm ids and a feature model for
/// cold ones (an id without interactions has only its features; LightFM gives it an untrained
/// identity row instead). Trained with WARP or BPR and Adagrad (LightFM's defaults) in a
/// seeded order on one thread, so results are reproducible bit for bit.
///
/// - Complexity: O(epochs · nnz · s · (f_u + f_i) · k) for `s` negatives drawn and `f` features
///   per row; memory O((feature count) · k).
///
/// Kula. "Metadata Embeddings for User and Item Cold-start Recommendations." CBRecSys 2015.
public struct FeatureEmbeddings: FeatureAwareRecommender, ColdStartCapable, Explainable {
  public enum Loss: String, Sendable, Codable, Hashable, CaseIterable {
    case warp
    case bpr
  }

  public struct Configuration: ModelConfiguration {
    /// LightFM: `no_components`.
    public var embeddingSize: Int
    public var learningRate: Float
    /// L2 on user feature embeddings (LightFM: `user_alpha`).
    public var userRegularization: Float
    /// L2 on item feature embeddings and biases (LightFM: `item_alpha`).
    public var itemRegularization: Float
    public var epochs: Int
    public var loss: Loss
    /// WARP: negatives drawn at most per positive (LightFM: `max_sampled`).
    public var maximumSampled: Int
    /// One identity feature per user with training interactions.
    public var userIdentity: Bool
    /// One identity feature per item with training interactions.
    public var itemIdentity: Bool
    public var optimizer: OptimizerKind
    /// Interactions with a lower value are not positives (0 keeps all): with star ratings, the
    /// threshold of "liked".
    public var minimumValue: Float
    /// Each positive's loss is scaled by its value (less ``valueOffset``), as LightFM's
    /// `sample_weight`; off, every positive weighs 1.
    public var usesValues: Bool
    /// With `usesValues`, subtracted from every value; values at or below a positive offset are
    /// not positives. With star ratings, 2 gives graded weights (5 → 3, 4 → 2, 3 → 1).
    public var valueOffset: Float
    /// Weight of the shared features on a side that has identity features (1 = as LightFM with
    /// `normalize=False`); below 1 the identity dominates for warm ids and the features act as
    /// a prior. 0.1 was best on validation splits carved from ML-100k training data, warm
    /// (NDCG@10 0.157 at 1, 0.172 at 0.1, 0.164 without features) and cold-user alike.
    public var featureWeight: Float

    public init(
      embeddingSize: Int = 64, learningRate: Float = 0.05, userRegularization: Float = 0, itemRegularization: Float = 0,
      epochs: Int = 30, loss: Loss = .warp, maximumSampled: Int = 10, userIdentity: Bool = true,
      itemIdentity: Bool = true, optimizer: OptimizerKind = .adagrad, minimumValue: Float = 0,
      featureWeight: Float = 0.1, usesValues: Bool = false, valueOffset: Float = 0
    ) {
      self.usesValues = usesValues
      self.valueOffset = valueOffset
      self.featureWeight = featureWeight
      self.minimumValue = minimumValue
      self.embeddingSize = embeddingSize
      self.learningRate = learningRate
      self.userRegularization = userRegularization
      self.itemRegularization = itemRegularization
      self.epochs = epochs
      self.loss = loss
      self.maximumSampled = maximumSampled
      self.userIdentity = userIdentity
      self.itemIdentity = itemIdentity
      self.optimizer = optimizer
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("FeatureEmbeddings")
      try check.positive("embeddingSize", embeddingSize)
      try check.positive("learningRate", learningRate)
      try check.nonNegative("userRegularization", userRegularization)
      try check.nonNegative("itemRegularization", itemRegularization)
      try check.positive("epochs", epochs)
      try check.positive("maximumSampled", maximumSampled)
      try check.nonNegative("featureWeight", featureWeight)
      try targets.validate(model: "FeatureEmbeddings")
    }

    var targets: TargetWeighting { .init(minimumValue: minimumValue, usesValues: usesValues, valueOffset: valueOffset) }

    private enum CodingKeys: String, CodingKey {
      case embeddingSize, learningRate, userRegularization, itemRegularization, epochs, loss, maximumSampled
      case userIdentity, itemIdentity, optimizer, minimumValue, usesValues, valueOffset, featureWeight
    }

    /// Reads configurations saved before `usesValues` and `valueOffset` existed as weighing 1 each.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
      learningRate = try c.decode(Float.self, forKey: .learningRate)
      userRegularization = try c.decode(Float.self, forKey: .userRegularization)
      itemRegularization = try c.decode(Float.self, forKey: .itemRegularization)
      epochs = try c.decode(Int.self, forKey: .epochs)
      loss = try c.decode(Loss.self, forKey: .loss)
      maximumSampled = try c.decode(Int.self, forKey: .maximumSampled)
      userIdentity = try c.decode(Bool.self, forKey: .userIdentity)
      itemIdentity = try c.decode(Bool.self, forKey: .itemIdentity)
      optimizer = try c.decode(OptimizerKind.self, forKey: .optimizer)
      minimumValue = try c.decode(Float.self, forKey: .minimumValue)
      usesValues = try c.decodeIfPresent(Bool.self, forKey: .usesValues) ?? false
      valueOffset = try c.decodeIfPresent(Float.self, forKey: .valueOffset) ?? 0
      featureWeight = try c.decode(Float.self, forKey: .featureWeight)
    }
  }

  public static let kind = "lightfm"
  public let configuration: Configuration
  public let index: TrainingIndex
  let userSide: FeatureSide
  let itemSide: FeatureSide
  /// One embedding per user feature.
  let userEmbeddings: DenseMatrix
  /// Every item's vector `q_i` (the sum over its features), for scoring.
  let itemVectors: DenseMatrix
  /// Every item's bias `b_i`.
  let itemBiases: [Float]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }


  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> FeatureEmbeddings {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    let data = try FeatureVocabulary.extended(data, users: features.users, items: features.items)
    let userSide = FeatureSide(
      features.users, vocabulary: data.users, crosses: false, identity: c.userIdentity,
      identityOnly: { data.byUser.count(ofRow: $0) > 0 }
    ).weightingFeatures(by: c.userIdentity ? c.featureWeight : 1, ofRows: { _ in true })
    let itemSide = FeatureSide(
      features.items, vocabulary: data.items, crosses: false, identity: c.itemIdentity,
      identityOnly: { data.byItem.count(ofRow: $0) > 0 }
    ).weightingFeatures(by: c.itemIdentity ? c.featureWeight : 1, ofRows: { _ in true })
    let k = c.embeddingSize
    var generator = SeededGenerator(seed: options.seed, stream: 3)
    let half = 0.5 / Float(k)
    var e = DenseMatrix(rows: userSide.dimension, columns: k) { _, _ in (Float(generator.nextUniform()) * 2 - 1) * half }
    var f = DenseMatrix(rows: itemSide.dimension, columns: k) { _, _ in (Float(generator.nextUniform()) * 2 - 1) * half }
    var b = [Float](repeating: 0, count: itemSide.dimension)
    let stride = e.stride
    var eState = OptimizerState(c.optimizer, rows: e.rows, width: stride)
    var fState = OptimizerState(c.optimizer, rows: f.rows, width: stride)
    var bState = OptimizerState(c.optimizer, rows: b.count, width: 1)
    let positives = PositiveSets(data.byUser)
    let ratings = data.byUser
    let itemCount = data.items.count
    let trainedItems = (0..<itemCount).filter { data.byItem.count(ofRow: $0) > 0 }.map { Int32($0) }
    let (ur, ic) = (userSide.rows, itemSide.rows)
    let userOfPosition = (0..<ratings.rowCount).flatMap { u in ratings.range(ofRow: u).map { _ in Int32(u) } }
    // The positives and their loss weights (1 each unless `usesValues`).
    var sampleWeights = [Float](repeating: 0, count: ratings.nonZeroCount)
    let targets = c.targets
    let trainingPositions = (0..<ratings.nonZeroCount).filter { position in
      guard let weight = targets.weight(of: ratings.values[position]), weight > 0 else { return false }
      sampleWeights[position] = weight
      return true
    }
    for epoch in 1...c.epochs {
      var order = trainingPositions
      generator.shuffle(&order)
      var updates = 0
      e.storage.withUnsafeMutableBufferPointer { eb in
        f.storage.withUnsafeMutableBufferPointer { fb in
          b.withUnsafeMutableBufferPointer { bb in
            eState.withPointers { es in
              fState.withPointers { fs in
                bState.withPointers { bs in
                  withUnsafeTemporaryAllocation(of: Float.self, capacity: 5 * stride) { scratch in
                    guard let ep = eb.baseAddress, let fp = fb.baseAddress, let bp = bb.baseAddress,
                      let pu = scratch.baseAddress
                    else { return }
                    let qi = pu + stride
                    let qj = qi + stride
                    let gradient = qj + stride
                    let oldUser = gradient + stride
                    func represent(_ side: SparseRowMatrix, _ table: UnsafeMutablePointer<Float>, _ row: Int, into out: UnsafeMutablePointer<Float>) {
                      for n in 0..<stride { out[n] = 0 }
                      for p in side.range(ofRow: row) {
                        Vector.axpy(side.values[p], table + Int(side.columns[p]) * stride, out, count: stride)
                      }
                    }
                    func bias(_ item: Int) -> Float {
                      ic.range(ofRow: item).reduce(Float(0)) { $0 + ic.values[$1] * bp[Int(ic.columns[$1])] }
                    }
                    /// Steps every feature row of `item` by `scale · v` (+ decay).
                    func stepItem(_ item: Int, scale: Float, by v: UnsafePointer<Float>) {
                      for p in ic.range(ofRow: item) {
                        let g = Int(ic.columns[p])
                        let w = ic.values[p]
                        fs.step(row: g, fp + g * stride, scaled: scale * w, by: v, decay: c.itemRegularization, lr: c.learningRate)
                        bs.step(row: g, bp + g, gradient: scale * w + c.itemRegularization * bp[g], lr: c.learningRate)
                      }
                    }
                    for position in order {
                      let u = Int(userOfPosition[position])
                      let i = Int(ratings.columns[position])
                      represent(ur, ep, u, into: pu)
                      represent(ic, fp, i, into: qi)
                      let positive = Vector.dot(pu, qi, count: stride) + bias(i)
                      var chosen = -1
                      var scale: Float = 0
                      switch c.loss {
                      case .warp:
                        var drawn = 0
                        while drawn < c.maximumSampled {
                          drawn += 1
                          let j = Int(trainedItems.isEmpty ? Int32(generator.nextInt(below: itemCount)) : trainedItems[generator.nextInt(below: trainedItems.count)])
                          if positives.contains(user: u, item: Int32(j)) { continue }
                          represent(ic, fp, j, into: qj)
                          let negative = Vector.dot(pu, qj, count: stride) + bias(j)
                          guard negative > positive - 1 else { continue }
                          chosen = j
                          scale = min(10, Foundation.log(max(1, Float((max(trainedItems.count, 2) - 1) / drawn))))
                          break
                        }
                      case .bpr:
                        var j = Int(trainedItems[generator.nextInt(below: max(trainedItems.count, 1))])
                        var attempts = 0
                        while positives.contains(user: u, item: Int32(j)) && attempts < 20 {
                          j = Int(trainedItems[generator.nextInt(below: trainedItems.count)])
                          attempts += 1
                        }
                        if attempts < 20 {
                          represent(ic, fp, j, into: qj)
                          let difference = positive - (Vector.dot(pu, qj, count: stride) + bias(j))
                          chosen = j
                          scale = 1 / (1 + Foundation.exp(difference))
                        }
                      }
                      guard chosen >= 0 else { continue }
                      scale *= sampleWeights[position]
                      updates += 1
                      // Gradients of scale · (x̂_uj − x̂_ui) at the old values.
                      for n in 0..<stride { gradient[n] = scale * (qj[n] - qi[n]) }
                      oldUser.update(from: pu, count: stride)
                      for p in ur.range(ofRow: u) {
                        let a = Int(ur.columns[p])
                        es.step(row: a, ep + a * stride, scaled: ur.values[p], by: gradient, decay: c.userRegularization, lr: c.learningRate)
                      }
                      stepItem(i, scale: -scale, by: oldUser)
                      stepItem(chosen, scale: scale, by: oldUser)
                    }
                  }
                }
              }
            }
          }
        }
      }
      guard e.isFinite, f.isFinite else { throw .diverged(model: "FeatureEmbeddings", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs, loss: Double(updates) / Double(max(data.count, 1)))
    }
    // Item vectors and biases for scoring, summed once.
    var vectors = DenseMatrix(rows: itemCount, columns: k)
    var biases = [Float](repeating: 0, count: itemCount)
    for item in 0..<itemCount {
      for p in ic.range(ofRow: item) {
        let g = Int(ic.columns[p])
        let w = ic.values[p]
        biases[item] += w * b[g]
        for n in 0..<k { vectors[item, n] += w * f[g, n] }
      }
    }
    return FeatureEmbeddings(
      configuration: c, index: TrainingIndex(data), userSide: userSide, itemSide: itemSide, userEmbeddings: e,
      itemVectors: vectors, itemBiases: biases)
  }

  /// `p_u`: the sum of the user's feature embeddings; for an id with no row, the embeddings of
  /// the request's `features` and the intercept, plus the mean vector of `history`.
  func userVector(user: Int?, history: [Int], features: [String] = []) -> [Float] {
    let k = configuration.embeddingSize
    var p = [Float](repeating: 0, count: k)
    let rows = userSide.rows
    if let u = user {
      for q in rows.range(ofRow: u) {
        let a = Int(rows.columns[q])
        for n in 0..<k { p[n] += rows.values[q] * userEmbeddings[a, n] }
      }
      if seen.count(ofRow: u) > 0 || history.isEmpty { return p }
    } else {
      // Request-time features (weighted as in training), plus the intercept.
      let weight = configuration.userIdentity ? configuration.featureWeight : 1
      for (a, w) in userSide.cells(named: features, weight: weight) {
        for n in 0..<k { p[n] += w * userEmbeddings[a, n] }
      }
    }
    guard !history.isEmpty else { return p }
    let scale = 1 / Float(history.count)
    for j in history { for n in 0..<k { p[n] += scale * itemVectors[j, n] } }
    return p
  }

  func scores(forVector p: [Float]) -> [Float] {
    (0..<items.count).map { j in
      var s = itemBiases[j]
      for n in 0..<p.count { s += p[n] * itemVectors[j, n] }
      return s
    }
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    let u = query.user.flatMap { users.index(of: $0) }
    return scores(
      forVector: userVector(user: u, history: query.history.compactMap { items.index(of: $0) }, features: query.features))
  }

  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    scores(forVector: userVector(user: nil, history: history.compactMap { items.index(of: $0) }))
  }

  /// The user's features (identity included) that contributed most: `w_a · e_aᵀ q_i` for each
  /// of the user's features `a`, plus the item's bias.
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation {
    guard let j = items.index(of: item) else { throw .unknownItem(item) }
    let k = configuration.embeddingSize
    var contributions: [Explanation.Contribution] = [.init(source: "(item bias)", weight: itemBiases[j])]
    let rows = userSide.rows
    let cells: [(Int, Float)]
    if let u = query.user.flatMap({ users.index(of: $0) }) {
      cells = rows.range(ofRow: u).map { (Int(rows.columns[$0]), rows.values[$0]) }
    } else {
      cells = userSide.cells(named: query.features, weight: configuration.userIdentity ? configuration.featureWeight : 1)
    }
    for (a, w) in cells {
      var dot: Float = 0
      for n in 0..<k { dot += userEmbeddings[a, n] * itemVectors[j, n] }
      contributions.append(.init(source: userSide.names[a], weight: w * dot))
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: contributions.reduce(0) { $0 + $1.weight }, contributions: contributions)
  }
}

public import AffinityCore
public import AffinityLinalg
import Foundation

/// A weighted sum of several ranking models' per-user standardised scores, weights chosen on a
/// holdout carved from the training data.
///
/// Fitting: each user's latest `holdoutFraction` of interactions (by timestamp; random when the
/// data has no times) is held out; every member trains on the rest; the weights on the simplex
/// (step `weightStep`) that maximise NDCG@10 of the held-out items are kept; then every member
/// is retrained on all the training data. Scores are `Σ_m w_m · z_m(u, i)`, with `z_m` member m's
/// scores standardised over the user's candidate items. The test set is never seen.
///
/// - Complexity: about twice the members' fits, plus the weight search over cached top lists.
public struct RankBlend: Recommender {
  public struct Configuration: ModelConfiguration {
    /// Catalogue names of the members, separated by "," or "+", each with its defaults.
    public var models: String
    public var holdoutFraction: Float
    /// Grid step of the weight search on the simplex.
    public var weightStep: Float

    public init(models: String = "als,ease,item-knn", holdoutFraction: Float = 0.2, weightStep: Float = 0.1) {
      self.models = models
      self.holdoutFraction = holdoutFraction
      self.weightStep = weightStep
    }

    var memberNames: [String] {
      models.split(whereSeparator: { $0 == "," || $0 == "+" }).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
    }

    public func validate() throws(ConfigurationError) {
      if memberNames.count < 2 || memberNames.count > 4 {
        throw ConfigurationError(model: "RankBlend", parameter: "models", value: "'\(models)'", requirement: "2 to 4 ranking models")
      }
      if memberNames.contains(RankBlend.kind) {
        throw ConfigurationError(model: "RankBlend", parameter: "models", value: RankBlend.kind, requirement: "free of 'rank-blend' itself")
      }
      if !(holdoutFraction > 0 && holdoutFraction < 0.5) {
        throw ConfigurationError(model: "RankBlend", parameter: "holdoutFraction", value: holdoutFraction, requirement: "in (0, 0.5)")
      }
      if !(weightStep >= 0.05 && weightStep <= 0.5) {
        throw ConfigurationError(model: "RankBlend", parameter: "weightStep", value: weightStep, requirement: "in [0.05, 0.5]")
      }
    }
  }

  public static let kind = "rank-blend"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let members: [any Recommender]
  public let weights: [Float]
  /// Validation NDCG@10 of the chosen weights, for reports.
  public let validationNDCG: Double
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> RankBlend {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    var descriptors: [ModelDescriptor] = []
    for name in configuration.memberNames {
      guard let descriptor = try? ModelCatalog.descriptor(named: name), descriptor.tasks.contains(.ranking) else {
        throw .invalidConfiguration(
          ConfigurationError(model: "RankBlend", parameter: "models", value: name, requirement: "ranking models from `affinity models`"))
      }
      descriptors.append(descriptor)
    }
    let (rest, holdout) = try holdoutSplit(data, fraction: configuration.holdoutFraction, seed: options.seed)
    let steps = 2 * descriptors.count + 1
    var trained: [any Recommender] = []
    for (m, descriptor) in descriptors.enumerated() {
      trained.append(try EnsembleMembers.fit(descriptor, rest, options: options, ensemble: "RankBlend"))
      options.report(kind, step: m + 1, of: steps)
    }
    let (weights, ndcg) = searchWeights(members: trained, holdout: holdout, step: configuration.weightStep)
    options.report(kind, step: descriptors.count + 1, of: steps)
    var members: [any Recommender] = []
    for (m, descriptor) in descriptors.enumerated() {
      members.append(try EnsembleMembers.fit(descriptor, data, options: options, ensemble: "RankBlend"))
      options.report(kind, step: descriptors.count + 2 + m, of: steps)
    }
    return RankBlend(
      configuration: configuration, index: TrainingIndex(data), members: members, weights: weights, validationNDCG: ndcg)
  }

  /// Each user's latest `fraction` of rows (ties by row order) held out; users keep ≥ 1 row.
  static func holdoutSplit(_ data: InteractionData, fraction: Float, seed: UInt64) throws(FitError) -> (InteractionData, [UserID: Set<ItemID>]) {
    var generator = SeededGenerator(seed: seed, stream: 41)
    let hasTimes = data.timestamps.contains { $0 != 0 }
    var keep: [Int] = []
    var held: [UserID: Set<ItemID>] = [:]
    let order = data.interactionIndicesByUser()
    for u in 0..<data.users.count {
      var rows = data.byUser.range(ofRow: u).map { Int(order[$0]) }
      if hasTimes {
        rows.sort { (data.timestamps[$0], $0) < (data.timestamps[$1], $1) }
      } else {
        generator.shuffle(&rows)
      }
      let count = min(Int((Float(rows.count) * fraction).rounded()), rows.count - 1)
      keep.append(contentsOf: rows.prefix(rows.count - max(count, 0)))
      for row in rows.suffix(max(count, 0)) { held[data.users[u], default: []].insert(data.items[Int(data.itemIndices[row])]) }
    }
    keep.sort()
    do { return (try data.subset(keep), held) } catch { throw .invalidData(error) }
  }

  /// The simplex weights with the best mean NDCG@10 on the held-out items.
  static func searchWeights(members: [any Recommender], holdout: [UserID: Set<ItemID>], step: Float) -> ([Float], Double) {
    let users = holdout.keys.sorted()
    // Per user: the standardised scores of every member over the candidates, kept for the
    // union of the members' top 100 (anything else cannot enter a top 10).
    struct Cached { let candidates: [Int]; let z: [[Float]]; let relevant: Set<Int> }
    let reference = members[0]
    let cached: [Cached] = Parallel.mapChunks(count: users.count, chunkCount: 32, minimumParallelCount: 32) { range, _ in
      range.compactMap { n -> Cached? in
        let user = users[n]
        let standardised = members.map { standardisedScores($0, user: user, reference: reference) }
        var union = Set<Int>()
        for z in standardised { union.formUnion(TopK.indices(of: z, count: 100)) }
        let candidates = union.sorted()
        let relevant = Set((holdout[user] ?? []).compactMap { reference.items.index(of: $0) })
        guard !relevant.isEmpty else { return nil }
        return Cached(candidates: candidates, z: standardised.map { z in candidates.map { z[$0] } }, relevant: relevant)
      }
    }.flatMap { $0 }
    let grid = simplex(dimensions: members.count, step: step)
    var best = (grid.first ?? [], -1.0)
    for weights in grid {
      var total = 0.0
      for user in cached {
        var scores = [Float](repeating: 0, count: user.candidates.count)
        for (m, w) in weights.enumerated() where w > 0 {
          for c in 0..<scores.count { scores[c] += w * user.z[m][c] }
        }
        let top = TopK.indices(of: scores, count: 10).map { user.candidates[$0] }
        var dcg = 0.0
        for (rank, item) in top.enumerated() where user.relevant.contains(item) { dcg += 1 / log2(Double(rank) + 2) }
        var ideal = 0.0
        for rank in 0..<min(10, user.relevant.count) { ideal += 1 / log2(Double(rank) + 2) }
        total += dcg / ideal
      }
      let ndcg = total / Double(max(cached.count, 1))
      if ndcg > best.1 { best = (weights, ndcg) }
    }
    return best
  }

  /// Every weight vector on the simplex with coordinates in multiples of `step`.
  static func simplex(dimensions: Int, step: Float) -> [[Float]] {
    let units = Int((1 / step).rounded())
    var result: [[Float]] = []
    func extend(_ prefix: [Int], remaining: Int) {
      if prefix.count == dimensions - 1 {
        result.append((prefix + [remaining]).map { Float($0) / Float(units) })
        return
      }
      for k in 0...remaining { extend(prefix + [k], remaining: remaining - k) }
    }
    extend([], remaining: units)
    return result
  }

  /// Member scores over `reference`'s item order, seen items at −∞, the rest standardised.
  static func standardisedScores(_ model: any Recommender, user: UserID, reference: any Recommender) -> [Float] {
    let raw = (try? model.scores(for: RecommendationQuery(user: user))) ?? []
    var aligned = [Float](repeating: 0, count: reference.items.count)
    if model.items == reference.items, raw.count == aligned.count {
      aligned = raw
    } else {
      for i in 0..<aligned.count { if let j = model.items.index(of: reference.items[i]), j < raw.count { aligned[i] = raw[j] } }
    }
    if let u = reference.users.index(of: user) {
      for p in reference.seen.range(ofRow: u) { aligned[Int(reference.seen.columns[p])] = .nan }
    }
    var sum = 0.0
    var squares = 0.0
    var n = 0.0
    for v in aligned where v.isFinite {
      sum += Double(v)
      squares += Double(v) * Double(v)
      n += 1
    }
    let mean = n > 0 ? sum / n : 0
    let deviation = n > 1 ? max((squares / n - mean * mean).squareRoot(), 1e-12) : 1
    return aligned.map { $0.isFinite ? Float((Double($0) - mean) / deviation) : -.infinity }
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    var total = [Float](repeating: 0, count: items.count)
    for (m, member) in members.enumerated() where weights[m] > 0 {
      var raw = try member.scores(for: query)
      guard raw.count == total.count else { continue }
      let finite = raw.filter(\.isFinite)
      let mean = finite.reduce(0, +) / Float(max(finite.count, 1))
      let variance = finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(max(finite.count, 1))
      let deviation = max(variance.squareRoot(), 1e-12)
      for i in 0..<raw.count { raw[i] = (raw[i] - mean) / deviation }
      for i in 0..<total.count { total[i] += weights[m] * raw[i] }
    }
    return total
  }

  // MARK: - Codable: members are stored as (kind, JSON) and rebuilt through the catalogue.

  enum CodingKeys: String, CodingKey { case configuration, index, weights, validationNDCG, members }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    weights = try container.decode([Float].self, forKey: .weights)
    validationNDCG = try container.decode(Double.self, forKey: .validationNDCG)
    members = try EnsembleMembers.decode(container.decode([EnsembleMembers.Stored].self, forKey: .members))
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration, forKey: .configuration)
    try container.encode(index, forKey: .index)
    try container.encode(weights, forKey: .weights)
    try container.encode(validationNDCG, forKey: .validationNDCG)
    try container.encode(EnsembleMembers.encode(members), forKey: .members)
  }

  init(configuration: Configuration, index: TrainingIndex, members: [any Recommender], weights: [Float], validationNDCG: Double) {
    self.configuration = configuration
    self.index = index
    self.members = members
    self.weights = weights
    self.validationNDCG = validationNDCG
  }
}

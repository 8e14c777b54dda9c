public import AffinityCore
public import AffinityLinalg
import Foundation

/// Popularity within the user's segment: the items most interacted with by training users who
/// share the values of ``Configuration/segmentColumns`` (gender × age bucket by default). A
/// user whose segment has no training users gets global popularity; ties go to global popularity.
/// The cold-user baseline of the MovieLens literature.
public struct SegmentPopularity: FeatureAwareRecommender {
  public struct Configuration: ModelConfiguration {
    /// Source columns of the user features that define a segment, comma-separated.
    public var segmentColumns: String
    /// Interactions with a lower value are not counted (0 counts all): with star ratings, count
    /// only what the segment liked.
    public var minimumValue: Float
    /// Each interaction counts its value (less ``valueOffset``) instead of 1; values ≤ 0 never count.
    public var usesValues: Bool
    /// With `usesValues`, subtracted from every value; values at or below a positive offset do
    /// not count. With star ratings, 2 gives graded counts (5 → 3, 4 → 2, 3 → 1).
    public var valueOffset: Float

    public init(
      segmentColumns: String = "gender,age", minimumValue: Float = 0, usesValues: Bool = false, valueOffset: Float = 0
    ) {
      self.segmentColumns = segmentColumns
      self.minimumValue = minimumValue
      self.usesValues = usesValues
      self.valueOffset = valueOffset
    }

    public func validate() throws(ConfigurationError) {
      if segmentColumns.split(separator: ",").isEmpty {
        throw ConfigurationError(
          model: "SegmentPopularity", parameter: "segmentColumns", value: segmentColumns,
          requirement: "at least one user feature column, such as gender,age")
      }
      try targets.validate(model: "SegmentPopularity")
    }

    var targets: TargetWeighting { .init(minimumValue: minimumValue, usesValues: usesValues, valueOffset: valueOffset) }

    private enum CodingKeys: String, CodingKey { case segmentColumns, minimumValue, usesValues, valueOffset }

    /// Reads configurations saved before `usesValues` and `valueOffset` existed as counting 1 each.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      segmentColumns = try c.decode(String.self, forKey: .segmentColumns)
      minimumValue = try c.decode(Float.self, forKey: .minimumValue)
      usesValues = try c.decodeIfPresent(Bool.self, forKey: .usesValues) ?? false
      valueOffset = try c.decodeIfPresent(Float.self, forKey: .valueOffset) ?? 0
    }
  }

  public static let kind = "feature-popular"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// The segment of every user in ``users`` order (−1: none).
  let segmentOfUser: [Int32]
  /// `segments × items` interaction counts.
  let counts: SparseRowMatrix
  /// Global counts scaled below 1, added to break ties.
  let tieBreak: [Float]
  /// Each segment's key: its users' segment features, sorted and joined with `|`.
  let segmentNames: [String]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }


  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> SegmentPopularity {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    guard let userFeatures = features.users else { throw .missingFeatures(model: kind, needs: "user features") }
    let data = try FeatureVocabulary.extended(data, users: userFeatures, items: nil)
    var segmentIndex: [String: Int32] = [:]
    let segmentOfUser = (0..<data.users.count).map { u -> Int32 in
      guard let cells = userFeatures.features(of: data.users[u]) else { return -1 }
      let key = segmentKey(cells.map { userFeatures.names[$0.0] }, columns: c.segmentColumns)
      guard !key.isEmpty else { return -1 }
      if let known = segmentIndex[key] { return known }
      segmentIndex[key] = Int32(segmentIndex.count)
      return Int32(segmentIndex.count - 1)
    }
    var rows: [Int32] = []
    var columns: [Int32] = []
    var weights: [Float] = []
    var global = [Float](repeating: 0, count: data.items.count)
    // The tie-break stays below the smallest weight, so it only orders equal counts.
    var smallest: Float = 1
    let targets = c.targets
    for k in 0..<data.count {
      guard let weight = targets.weight(of: data.values[k]), weight > 0 else { continue }
      smallest = min(smallest, weight)
      global[Int(data.itemIndices[k])] += weight
      let s = segmentOfUser[Int(data.userIndices[k])]
      guard s >= 0 else { continue }
      rows.append(s)
      columns.append(data.itemIndices[k])
      weights.append(weight)
    }
    let counts = SparseRowMatrix(
      rowCount: segmentIndex.count, columnCount: data.items.count, rows: rows, columns: columns, values: weights)
    let top = max(global.max() ?? 0, smallest)
    var names = [String](repeating: "", count: segmentIndex.count)
    for (key, index) in segmentIndex { names[Int(index)] = key }
    return SegmentPopularity(
      configuration: c, index: TrainingIndex(data), segmentOfUser: segmentOfUser, counts: counts,
      tieBreak: global.map { $0 * smallest / (top + smallest) }, segmentNames: names)
  }

  /// The segment key of a list of encoded feature names: those of the segment columns, sorted.
  static func segmentKey(_ names: [String], columns: String) -> String {
    let wanted = Set(columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    return names.filter { name in wanted.contains(String(name.prefix { $0 != "=" }).lowercased()) }
      .sorted().joined(separator: "|")
  }

  func segmentKey(_ names: [String]) -> String { Self.segmentKey(names, columns: configuration.segmentColumns) }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    var scores = tieBreak
    let segment: Int
    if let u = query.user.flatMap({ users.index(of: $0) }), segmentOfUser[u] >= 0 {
      segment = Int(segmentOfUser[u])
    } else if let named = segmentNames.firstIndex(of: segmentKey(query.features)) {
      segment = named
    } else {
      return scores
    }
    for p in counts.range(ofRow: segment) { scores[Int(counts.columns[p])] += counts.values[p] }
    return scores
  }
}

/// Content-based recommendation: a user's profile is the sum of the normalised feature vectors
/// of the items they interacted with; items are ranked by cosine with it. Works with genres,
/// TF-IDF text and dense vectors alike, and scores items that no one has interacted with yet.
public struct ContentBased: FeatureAwareRecommender, ColdStartCapable, Explainable {
  public struct Configuration: ModelConfiguration {
    /// Weight history items by their interaction value.
    public var usesValues: Bool

    public init(usesValues: Bool = false) { self.usesValues = usesValues }

    public func validate() throws(ConfigurationError) {}
  }

  public static let kind = "content"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// Item feature rows, L2-normalised.
  let itemVectors: SparseRowMatrix
  let names: [String]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }


  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> ContentBased {
    guard let itemFeatures = features.items else { throw .missingFeatures(model: kind, needs: "item features") }
    let data = try FeatureVocabulary.extended(data, users: nil, items: itemFeatures)
    var rows: [Int32] = []
    var columns: [Int32] = []
    var values: [Float] = []
    for j in 0..<data.items.count {
      let cells = itemFeatures.features(of: data.items[j]) ?? []
      let norm = cells.reduce(Float(0)) { $0 + $1.1 * $1.1 }.squareRoot()
      for (f, v) in cells where norm > 0 {
        rows.append(Int32(j))
        columns.append(Int32(f))
        values.append(v / norm)
      }
    }
    let vectors = SparseRowMatrix(
      rowCount: data.items.count, columnCount: itemFeatures.featureCount, rows: rows, columns: columns, values: values)
    return ContentBased(configuration: c, index: TrainingIndex(data), itemVectors: vectors, names: itemFeatures.names)
  }

  func profile(_ history: [(Int, Float)]) -> [Float] {
    var p = [Float](repeating: 0, count: itemVectors.columnCount)
    for (j, w) in history {
      for q in itemVectors.range(ofRow: j) { p[Int(itemVectors.columns[q])] += w * itemVectors.values[q] }
    }
    let norm = p.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? p.map { $0 / norm } : p
  }

  func history(for query: RecommendationQuery) -> [(Int, Float)] {
    var list: [(Int, Float)] = []
    if let u = query.user.flatMap({ users.index(of: $0) }) {
      list = seen.range(ofRow: u).map { (Int(seen.columns[$0]), configuration.usesValues ? seen.values[$0] : 1) }
    }
    list += query.history.compactMap { items.index(of: $0) }.map { ($0, 1) }
    return list
  }

  func scores(profile p: [Float]) -> [Float] {
    (0..<items.count).map { j in
      itemVectors.range(ofRow: j).reduce(Float(0)) { $0 + itemVectors.values[$1] * p[Int(itemVectors.columns[$1])] }
    }
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    scores(profile: profile(history(for: query)))
  }

  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    scores(profile: profile(history.compactMap { items.index(of: $0) }.map { ($0, 1) }))
  }

  /// The item's features weighted by the user's profile.
  public func explanation(of item: ItemID, for query: RecommendationQuery) throws(QueryError) -> Explanation {
    guard let j = items.index(of: item) else { throw .unknownItem(item) }
    let p = profile(history(for: query))
    var contributions = itemVectors.range(ofRow: j).map {
      Explanation.Contribution(source: names[Int(itemVectors.columns[$0])], weight: itemVectors.values[$0] * p[Int(itemVectors.columns[$0])])
    }
    contributions.sort { abs($0.weight) > abs($1.weight) }
    return Explanation(item: item, score: contributions.reduce(0) { $0 + $1.weight }, contributions: contributions)
  }
}

public import AffinityCore
public import AffinityLinalg
import Foundation

/// The inductive ridge blended with segment popularity, for users known only by their features:
/// `s_uj = (1 − w) · z(x_uᵀ M y_j) + w · z(log(1 + c_{g(u), j}))`, where `z` standardises a score
/// vector over the items (mean 0, standard deviation 1), `M` is ``FeatureRidge``'s closed form and
/// `c_{g, j}` counts the interactions of segment `g`'s training users with item `j`
/// (``SegmentPopularity``). The ridge is additive in the features (gender, age, occupation); the
/// segment counts capture their interaction (gender × age) without a parameter, so the two
/// disagree where either one alone is wrong.
///
/// Both parts see the same `minimumValue`, `usesValues` and `valueOffset`, so with star ratings
/// one setting restricts both to liked interactions (`minimumValue` 4) or grades both by the
/// stars (`usesValues`, `valueOffset` 2: a 5 counts 3, a 4 counts 2, a 3 counts 1).
///
/// - Complexity: fit is ``FeatureRidge``'s plus one pass over the interactions; scoring is
///   O(items · features) per user.
public struct SegmentRidgeBlend: FeatureAwareRecommender {
  public struct Configuration: ModelConfiguration {
    /// w, the weight of the segment popularity part (0: the ridge alone, 1: popularity alone).
    public var popularityWeight: Float
    /// Interactions with a lower value are left out of both parts (0 keeps all).
    public var minimumValue: Float
    /// Both parts weigh each interaction by its value (less ``valueOffset``) instead of 1.
    public var usesValues: Bool
    /// With `usesValues`, subtracted from every value; values at or below a positive offset do
    /// not count.
    public var valueOffset: Float
    /// λ_u of the ridge part.
    public var userRegularization: Float
    /// λ_i of the ridge part (used when item features are given).
    public var itemRegularization: Float
    /// β of the ridge part: each user's targets are scaled by `n_u^−β`.
    public var userNormalization: Float
    /// Source columns of the user features that define a segment, comma-separated.
    public var segmentColumns: String

    /// Defaults chosen on cold-user validation splits carved from the training side of
    /// MovieLens-100k splits (`docs/benchmarks/coldstart.md`).
    public init(
      popularityWeight: Float = 0.7, minimumValue: Float = 0, userRegularization: Float = 300,
      itemRegularization: Float = 30, userNormalization: Float = 0, segmentColumns: String = "gender,age",
      usesValues: Bool = false, valueOffset: Float = 0
    ) {
      self.popularityWeight = popularityWeight
      self.minimumValue = minimumValue
      self.usesValues = usesValues
      self.valueOffset = valueOffset
      self.userRegularization = userRegularization
      self.itemRegularization = itemRegularization
      self.userNormalization = userNormalization
      self.segmentColumns = segmentColumns
    }

    var ridge: FeatureRidge.Configuration {
      .init(
        userRegularization: userRegularization, itemRegularization: itemRegularization, usesValues: usesValues,
        minimumValue: minimumValue, userNormalization: userNormalization, valueOffset: valueOffset)
    }

    var segments: SegmentPopularity.Configuration {
      .init(segmentColumns: segmentColumns, minimumValue: minimumValue, usesValues: usesValues, valueOffset: valueOffset)
    }

    public func validate() throws(ConfigurationError) {
      if !(popularityWeight >= 0 && popularityWeight <= 1) {
        throw ConfigurationError(
          model: "SegmentRidgeBlend", parameter: "popularityWeight", value: popularityWeight, requirement: "in [0, 1]")
      }
      let check = ConfigurationCheck("SegmentRidgeBlend")
      try check.nonNegative("minimumValue", minimumValue)
      try check.positive("userRegularization", userRegularization)
      try check.positive("itemRegularization", itemRegularization)
      try check.nonNegative("userNormalization", userNormalization)
      try check.nonNegative("valueOffset", valueOffset)
      if segmentColumns.split(separator: ",").isEmpty {
        throw ConfigurationError(
          model: "SegmentRidgeBlend", parameter: "segmentColumns", value: segmentColumns,
          requirement: "at least one user feature column, such as gender,age")
      }
    }

    private enum CodingKeys: String, CodingKey {
      case popularityWeight, minimumValue, usesValues, valueOffset, userRegularization, itemRegularization
      case userNormalization, segmentColumns
    }

    /// Reads configurations saved before `usesValues` and `valueOffset` existed as counting 1 each.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      popularityWeight = try c.decode(Float.self, forKey: .popularityWeight)
      minimumValue = try c.decode(Float.self, forKey: .minimumValue)
      usesValues = try c.decodeIfPresent(Bool.self, forKey: .usesValues) ?? false
      valueOffset = try c.decodeIfPresent(Float.self, forKey: .valueOffset) ?? 0
      userRegularization = try c.decode(Float.self, forKey: .userRegularization)
      itemRegularization = try c.decode(Float.self, forKey: .itemRegularization)
      userNormalization = try c.decode(Float.self, forKey: .userNormalization)
      segmentColumns = try c.decode(String.self, forKey: .segmentColumns)
    }
  }

  public static let kind = "segment-ridge"
  public let configuration: Configuration
  let ridge: FeatureRidge
  let segments: SegmentPopularity
  /// For each of the ridge's items, its index in the segment model's items (−1: not there).
  let segmentItem: [Int32]
  public var users: IDVocabulary<UserID> { ridge.users }
  public var items: IDVocabulary<ItemID> { ridge.items }
  public var seen: SparseRowMatrix { ridge.seen }

  public static func fit(
    _ data: InteractionData, features: SideInformation, configuration c: Configuration, options: FitOptions
  ) throws(FitError) -> SegmentRidgeBlend {
    do { try c.validate() } catch { throw .invalidConfiguration(error) }
    guard features.users != nil else { throw .missingFeatures(model: kind, needs: "user features") }
    let ridge = try FeatureRidge.fit(data, features: features, configuration: c.ridge, options: options)
    let segments = try SegmentPopularity.fit(data, features: features, configuration: c.segments, options: options)
    let segmentItem = (0..<ridge.items.count).map { j in Int32(segments.items.index(of: ridge.items[j]) ?? -1) }
    return SegmentRidgeBlend(configuration: c, ridge: ridge, segments: segments, segmentItem: segmentItem)
  }

  /// `values` shifted and scaled to mean 0 and standard deviation 1 (all zeros when constant).
  static func standardized(_ values: [Float]) -> [Float] {
    guard !values.isEmpty else { return values }
    let n = Double(values.count)
    let mean = values.reduce(0.0) { $0 + Double($1) } / n
    let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    guard variance > 0 else { return [Float](repeating: 0, count: values.count) }
    let scale = 1 / variance.squareRoot()
    return values.map { Float((Double($0) - mean) * scale) }
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    let w = configuration.popularityWeight
    let fromRidge = Self.standardized(try ridge.scores(for: query))
    let counts = try segments.scores(for: query)
    let fromSegment = Self.standardized(segmentItem.map { $0 >= 0 ? Float(Foundation.log1p(Double(counts[Int($0)]))) : 0 })
    return (0..<fromRidge.count).map { (1 - w) * fromRidge[$0] + w * fromSegment[$0] }
  }
}

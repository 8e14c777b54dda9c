public import AffinityCore
public import AffinityLinalg
import Foundation

/// Recommends the items with the most interactions, the same for every user.
///
/// Scores are interaction counts (optionally only values ≥ `minimumValue`), each interaction
/// discounted by its age when `halfLifeDays` is positive: it counts
/// `2^(−(t_max − t) / halfLife)`, with `t_max` the latest training timestamp, so an interaction
/// one half-life older than the newest counts ½. It is the floor every personalised ranking model
/// must beat, and the fallback for users with no history.
///
/// - Complexity: fit O(nnz); every query returns the same O(items) vector.
public struct MostPopular: Recommender {
  public struct Configuration: ModelConfiguration {
    /// Interactions with a value below this do not count; 0 counts everything.
    public var minimumValue: Float
    /// Days after which an interaction counts half; 0 turns the decay off.
    public var halfLifeDays: Float

    public init(minimumValue: Float = 0, halfLifeDays: Float = 0) {
      self.minimumValue = minimumValue
      self.halfLifeDays = halfLifeDays
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("MostPopular")
      try check.nonNegative("minimumValue", minimumValue)
      try check.nonNegative("halfLifeDays", halfLifeDays)
    }

    private enum CodingKeys: String, CodingKey { case minimumValue, halfLifeDays }

    /// Reads configurations saved before `halfLifeDays` existed as having no decay.
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      minimumValue = try container.decode(Float.self, forKey: .minimumValue)
      halfLifeDays = try container.decodeIfPresent(Float.self, forKey: .halfLifeDays) ?? 0
    }
  }

  public static let kind = "popular"
  public let configuration: Configuration
  public let index: TrainingIndex
  public let counts: [Float]
  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> MostPopular {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    var totals = [Double](repeating: 0, count: data.items.count)
    let halfLifeSeconds = Double(configuration.halfLifeDays) * 86_400
    let latest = data.timestamps.max() ?? 0
    for k in 0..<data.count where data.values[k] >= configuration.minimumValue {
      let weight =
        halfLifeSeconds > 0 ? exp2(-Double(latest - data.timestamps[k]) / halfLifeSeconds) : 1
      totals[Int(data.itemIndices[k])] += weight
    }
    return MostPopular(
      configuration: configuration, index: TrainingIndex(data), counts: totals.map { Float($0) })
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] { counts }
}

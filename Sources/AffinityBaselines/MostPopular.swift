public import AffinityCore
public import AffinityLinalg

/// Recommends the items with the most interactions, the same for every user.
///
/// Scores are interaction counts (optionally only values ≥ `minimumValue`). It is the floor
/// every personalised ranking model must beat, and the fallback for users with no history.
public struct MostPopular: Recommender {
  public struct Configuration: ModelConfiguration {
    /// Interactions with a value below this do not count; 0 counts everything.
    public var minimumValue: Float

    public init(minimumValue: Float = 0) { self.minimumValue = minimumValue }

    public func validate() throws(ConfigurationError) {
      try ConfigurationCheck("MostPopular").nonNegative("minimumValue", minimumValue)
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
    var counts = [Float](repeating: 0, count: data.items.count)
    for k in 0..<data.count where data.values[k] >= configuration.minimumValue {
      counts[Int(data.itemIndices[k])] += 1
    }
    return MostPopular(configuration: configuration, index: TrainingIndex(data), counts: counts)
  }

  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] { counts }
}

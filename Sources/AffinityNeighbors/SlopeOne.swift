public import AffinityCore
public import AffinityLinalg

/// Slope One: a user's mean plus the average deviation of the item from the user's items.
///
/// `r̂_ui = μ_u + (1 / |R_i(u)|) Σ_{j ∈ R_i(u)} dev(i, j)`, with
/// `dev(i, j) = (1 / |U_ij|) Σ_{v ∈ U_ij} (r_vi − r_vj)` over the users `U_ij` who rated both,
/// and `R_i(u)` the items `j` rated by `u` with `|U_ij| > 0` (Surprise's unweighted version).
/// With no such `j` the estimate is `μ_u`; an unknown user or item falls back to μ.
/// Ratings are used as given (Surprise's Cython truncates them to integers).
///
/// Deviations are stored sparsely (see ``PairRows``), one per co-rated item pair.
///
/// - Complexity: fit O(Σ_u |R(u)|²) time, O(co-rated item pairs) memory; one prediction
///   O(|R(u)| · log n) for a user with `|R(u)|` ratings.
///
/// Lemire, Maclachlan. "Slope One Predictors for Online Rating-Based Collaborative Filtering."
/// SDM 2005.
public struct SlopeOne: RatingPredictor {
  /// Slope One has no hyperparameters.
  public struct Configuration: ModelConfiguration {
    public init() {}
    public func validate() throws(ConfigurationError) {}
  }

  public static let kind = "slope-one"
  public let configuration: Configuration
  public let index: TrainingIndex
  /// `dev(i, j)` for every item pair with a common user, item × item by dense index.
  public let deviations: PairRows
  /// `μ_u`, each user's mean rating.
  public let userMeans: [Float]

  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }

  init(
    configuration: Configuration, index: TrainingIndex, deviations: PairRows, userMeans: [Float]
  ) {
    self.configuration = configuration
    self.index = index
    self.deviations = deviations
    self.userMeans = userMeans
  }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> SlopeOne {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let byUser = data.byUser
    let byItem = data.byItem
    let builder = PairRowsBuilder(statistic: .meanDifference, minimumSupport: 1, maximumPerRow: 0)
    let deviations = builder.build(
      rows: byItem, rowValues: byItem.values.map(Double.init), columns: byUser,
      columnValues: byUser.values.map(Double.init))
    var means = [Float](repeating: 0, count: data.users.count)
    for u in 0..<data.users.count {
      let range = byUser.range(ofRow: u)
      var sum = 0.0
      for p in range { sum += Double(byUser.values[p]) }
      means[u] = range.isEmpty ? data.globalMean : Float(sum / Double(range.count))
    }
    options.report(kind, step: 1, of: 1)
    return SlopeOne(
      configuration: configuration, index: TrainingIndex(data), deviations: deviations,
      userMeans: means)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    guard let u = userIndex, let i = itemIndex, (0..<users.count).contains(u),
      (0..<items.count).contains(i)
    else { return RatingPrediction(value: index.globalMean, isFallback: true) }
    var total = 0.0
    var relevant = 0
    deviations.withView { rows in
      let target = Int32(i)
      for p in seen.range(ofRow: u) {
        let j = seen.columns[p]
        if j == target {
          relevant += 1  // dev(i, i) = 0, and i has a common user with itself
        } else if let deviation = rows.value(row: i, column: j) {
          total += Double(deviation)
          relevant += 1
        }
      }
    }
    let mean = Double(userMeans[u])
    return RatingPrediction(value: Float(relevant > 0 ? mean + total / Double(relevant) : mean))
  }
}

extension SlopeOne: Codable {
  private enum CodingKeys: String, CodingKey {
    case configuration, index, deviations, userMeans
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    deviations = try container.decode(PairRows.self, forKey: .deviations)
    userMeans = try container.decode([Float].self, forKey: .userMeans)
    let itemCount = index.items.count
    guard deviations.rowCount == itemCount, deviations.columnCount == itemCount,
      userMeans.count == index.users.count, index.seen.rowCount == index.users.count,
      index.seen.isWellFormed
    else {
      throw DecodingError.dataCorruptedError(
        forKey: .deviations, in: container,
        debugDescription: "SlopeOne: stored deviations do not match the training index")
    }
  }
}

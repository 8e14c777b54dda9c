public import AffinityCore
public import AffinityLinalg

/// A k-nearest-neighbour rating predictor, as Surprise's k-NN family; one type per variant.
///
/// Use it through ``KNNBasic``, ``KNNWithMeans``, ``KNNWithZScore`` or ``KNNBaseline``.
/// The estimate of `r_ui` aggregates the ratings of `y` by the (at most) `neighborCount` users
/// `x'` (items, when item-based) most similar to `x` among those with a positive similarity,
/// by the variant's ``AggregationRule``. Ties in similarity go to the neighbour met first in the
/// training data, as Surprise's `heapq.nlargest` does, so predictions match Surprise 1.1.5 up to
/// floating-point rounding (ratings are not truncated to integers as Surprise's Cython does).
///
/// Similarities are stored sparsely (see ``PairRows``): only positive values of pairs with a
/// common rating.
///
/// - Complexity: fit O(Σ_y |R(y)|² ) time over the columns `R(y)` of raters (Surprise's cost),
///   O(co-rated pairs) memory; one prediction O(|R(y)| · log n); a full ``scores(for:)`` row
///   O(nnz · log n).
///
/// Surprise documentation, "k-NN inspired algorithms" (Hug 2020);
/// Koren. "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering." TKDD 2010.
public struct NeighborhoodModel<Variant: NeighborhoodVariant>: RatingPredictor,
  SimilarItemsProviding
{
  public static var kind: String { Variant.rule.kind }
  public let configuration: Configuration
  public let index: TrainingIndex
  let core: NeighborhoodCore

  public var users: IDVocabulary<UserID> { index.users }
  public var items: IDVocabulary<ItemID> { index.items }
  public var seen: SparseRowMatrix { index.seen }
  public var ratingScale: ClosedRange<Float> { index.ratingScale }
  /// `sim(x, x')` between users (user-based) or items, by dense index; only positive values.
  public var similarities: PairRows { core.similarities }
  /// The baselines, when the rule or the similarity needed them.
  public var baselines: BaselineEstimates? { core.baselines }

  init(configuration: Configuration, index: TrainingIndex, core: NeighborhoodCore) {
    self.configuration = configuration
    self.index = index
    self.core = core
  }

  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> NeighborhoodModel {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let rule = Variant.rule
    var baselines: BaselineEstimates?
    if configuration.needsBaselines {
      let fitted = BaselineEstimates(data, settings: configuration.baselineSettings)
      guard fitted.isFinite else {
        throw .diverged(model: rule.modelName, epoch: configuration.baselineEpochs)
      }
      baselines = fitted
    }
    options.report(kind, step: 1, of: 2)
    let sides = RatingSides(data, userBased: configuration.userBased)
    let similarities = SimilarityPlan(
      configuration: configuration, sides: sides, baselines: baselines,
      maximumPerRow: configuration.maximumStoredNeighbors
    ).buildAll()
    let (means, scales) = Self.moments(of: sides.xRows, data: data)
    options.report(kind, step: 2, of: 2)
    let core = NeighborhoodCore(
      rule: rule, userBased: configuration.userBased, neighborCount: configuration.neighborCount,
      minimumNeighbors: configuration.minimumNeighbors, globalMean: data.globalMean,
      similarities: similarities, neighborRatings: sides.yRows, means: means, scales: scales,
      baselines: baselines)
    return NeighborhoodModel(configuration: configuration, index: TrainingIndex(data), core: core)
  }

  public func estimate(userIndex: Int?, itemIndex: Int?) -> RatingPrediction {
    core.estimate(userIndex: userIndex, itemIndex: itemIndex)
  }

  /// The `count` items most similar to `item` under the configured similarity, best first.
  ///
  /// Item-based models read their stored row; user-based models compute the item's row on
  /// demand in O(Σ_{u ∈ R(i)} |R(u)|). Only items with a positive similarity are returned.
  public func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem] {
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    var heap = BoundedMinHeap(capacity: count)
    if configuration.userBased {
      // neighborRatings is item × user here, seen is user × item: the item-based sides.
      let sides = RatingSides(xRows: core.neighborRatings, yRows: index.seen, xAreUsers: false)
      let row = SimilarityPlan(
        configuration: configuration, sides: sides, baselines: core.baselines, maximumPerRow: 0
      ).buildRow(i)
      for (column, value) in zip(row.columns, row.values) {
        heap.offer(score: value, index: Int(column))
      }
    } else {
      let rows = core.similarities
      for p in rows.range(ofRow: i) {
        heap.offer(score: rows.values[p], index: Int(rows.columns[p]))
      }
    }
    return heap.sortedDescending().map { ScoredItem(item: items[$0.index], score: $0.score) }
  }

  /// Per-x means and population standard deviations, when `rule` uses them.
  ///
  /// A standard deviation of 0 is replaced by that of all ratings, as in Surprise 1.1.5 (and by
  /// 1 when all ratings are equal).
  private static func moments(of rows: SparseRowMatrix, data: InteractionData) -> (
    means: [Float], scales: [Float]
  ) {
    let rule = Variant.rule
    guard rule == .meanCentered || rule == .zScore else { return ([], []) }
    var means = [Float](repeating: 0, count: rows.rowCount)
    var scales = [Float](repeating: 1, count: rule == .zScore ? rows.rowCount : 0)
    let overall = standardDeviation(data.values[...])
    for x in 0..<rows.rowCount {
      let range = rows.range(ofRow: x)
      guard !range.isEmpty else { continue }
      var sum = 0.0
      for p in range { sum += Double(rows.values[p]) }
      let mean = sum / Double(range.count)
      means[x] = Float(mean)
      if rule == .zScore {
        let sigma = standardDeviation(rows.values[range])
        scales[x] = Float(sigma > 0 ? sigma : (overall > 0 ? overall : 1))
      }
    }
    return (means, scales)
  }

  private static func standardDeviation(_ values: ArraySlice<Float>) -> Double {
    guard !values.isEmpty else { return 0 }
    var sum = 0.0
    for v in values { sum += Double(v) }
    let mean = sum / Double(values.count)
    var squares = 0.0
    for v in values { squares += (Double(v) - mean) * (Double(v) - mean) }
    return (squares / Double(values.count)).squareRoot()
  }
}

extension NeighborhoodModel: Codable {
  private enum CodingKeys: String, CodingKey {
    case configuration, index, core
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    configuration = try container.decode(Configuration.self, forKey: .configuration)
    index = try container.decode(TrainingIndex.self, forKey: .index)
    core = try container.decode(NeighborhoodCore.self, forKey: .core)
    guard core.rule == Variant.rule, core.userBased == configuration.userBased,
      core.isConsistent(userCount: index.users.count, itemCount: index.items.count)
    else {
      throw DecodingError.dataCorruptedError(
        forKey: .core, in: container,
        debugDescription: "\(Variant.rule.modelName): stored neighbourhoods do not match the "
          + "training index")
    }
  }
}

/// The ratings seen from Surprise's `x` side (`xRows`, x × y) and `y` side (`yRows`, y × x).
struct RatingSides {
  let xRows: SparseRowMatrix
  /// y × x in training input order, which Surprise's tie-breaking follows.
  let yRows: SparseRowMatrix
  let xAreUsers: Bool

  init(xRows: SparseRowMatrix, yRows: SparseRowMatrix, xAreUsers: Bool) {
    self.xRows = xRows
    self.yRows = yRows
    self.xAreUsers = xAreUsers
  }

  init(_ data: InteractionData, userBased: Bool) {
    // Built from the triples, not `data.byItem`: a stable counting sort keeps each item's
    // raters in input order, as Surprise's `trainset.ir` does; the transpose orders them by
    // user index.
    let byItem = SparseRowMatrix(
      rowCount: data.items.count, columnCount: data.users.count, rows: data.itemIndices,
      columns: data.userIndices, values: data.values)
    if userBased {
      self.init(xRows: data.byUser, yRows: byItem, xAreUsers: true)
    } else {
      self.init(xRows: byItem, yRows: data.byUser, xAreUsers: false)
    }
  }
}

/// The builder and the values that one similarity needs over one orientation.
struct SimilarityPlan {
  let builder: PairRowsBuilder
  let sides: RatingSides
  let xValues: [Double]
  let yValues: [Double]

  init<Variant>(
    configuration: NeighborhoodModel<Variant>.Configuration, sides: RatingSides,
    baselines: BaselineEstimates?, maximumPerRow: Int
  ) {
    let statistic: PairStatistic =
      switch configuration.similarity {
      case .cosine: .cosine
      case .msd: .msd
      case .pearson: .pearson
      case .pearsonBaseline: .shrunkCosine(shrinkage: Double(configuration.shrinkage))
      }
    builder = PairRowsBuilder(
      statistic: statistic, minimumSupport: configuration.minimumSupport,
      maximumPerRow: maximumPerRow)
    self.sides = sides
    if configuration.similarity == .pearsonBaseline, let baselines {
      xValues = Self.residuals(sides.xRows, rowsAreUsers: sides.xAreUsers, baselines: baselines)
      yValues = Self.residuals(sides.yRows, rowsAreUsers: !sides.xAreUsers, baselines: baselines)
    } else {
      xValues = sides.xRows.values.map(Double.init)
      yValues = sides.yRows.values.map(Double.init)
    }
  }

  func buildAll() -> PairRows {
    builder.build(
      rows: sides.xRows, rowValues: xValues, columns: sides.yRows, columnValues: yValues)
  }

  func buildRow(_ x: Int) -> (columns: [Int32], values: [Float]) {
    builder.buildRow(
      x, rows: sides.xRows, rowValues: xValues, columns: sides.yRows, columnValues: yValues)
  }

  /// `r − (μ + b_u + b_i)` for every stored rating of `matrix`.
  private static func residuals(
    _ matrix: SparseRowMatrix, rowsAreUsers: Bool, baselines: BaselineEstimates
  ) -> [Double] {
    var residuals = [Double](repeating: 0, count: matrix.nonZeroCount)
    let mean = Double(baselines.globalMean)
    for row in 0..<matrix.rowCount {
      for p in matrix.range(ofRow: row) {
        let column = Int(matrix.columns[p])
        let (u, i) = rowsAreUsers ? (row, column) : (column, row)
        residuals[p] =
          Double(matrix.values[p])
          - (mean + Double(baselines.userBiases[u]) + Double(baselines.itemBiases[i]))
      }
    }
    return residuals
  }
}

/// How a neighbourhood model turns its k nearest neighbours' ratings into one estimate.
///
/// With `N` the (at most) `neighborCount` neighbours `x'` of `x` that rated `y` and have a
/// positive similarity `s = sim(x, x')` (notation as in Surprise's docs):
///
/// - `weightedMean` (KNNBasic): `r̂ = Σ s · r_x'y / Σ s`.
/// - `meanCentered` (KNNWithMeans): `r̂ = μ_x + Σ s · (r_x'y − μ_x') / Σ s`.
/// - `zScore` (KNNWithZScore): `r̂ = μ_x + σ_x · Σ s · (r_x'y − μ_x') / σ_x' / Σ s`.
/// - `baselineCentered` (KNNBaseline): `r̂ = b_xy + Σ s · (r_x'y − b_x'y) / Σ s`, with
///   `b_xy = μ + b_x + b_y`.
public enum AggregationRule: String, Sendable, Codable, Hashable, CaseIterable {
  case weightedMean
  case meanCentered
  case zScore
  case baselineCentered

  /// The model's stable name for bundles and the CLI, such as `"knn-basic"`.
  public var kind: String {
    switch self {
    case .weightedMean: "knn-basic"
    case .meanCentered: "knn-means"
    case .zScore: "knn-zscore"
    case .baselineCentered: "knn-baseline"
    }
  }

  /// The model's type name, used in error messages.
  public var modelName: String {
    switch self {
    case .weightedMean: "KNNBasic"
    case .meanCentered: "KNNWithMeans"
    case .zScore: "KNNWithZScore"
    case .baselineCentered: "KNNBaseline"
    }
  }

  /// The default similarity: item-based Pearson-baseline for the centred variants, which won a
  /// validation search on MovieLens-100k training data (`docs/benchmarks/tuning.md`); Surprise's
  /// `msd` for KNNBasic, where it won.
  public var defaultSimilarity: Similarity {
    self == .weightedMean ? .msd : .pearsonBaseline
  }

  /// The default orientation: user-based (Surprise's) for KNNBasic, item-based otherwise.
  public var defaultUserBased: Bool { self == .weightedMean }
}

/// Picks the ``AggregationRule`` of a ``NeighborhoodModel``; one caseless type per model.
public protocol NeighborhoodVariant: Sendable {
  static var rule: AggregationRule { get }
}

/// The variant of ``KNNBasic``.
public enum WeightedMean: NeighborhoodVariant {
  public static var rule: AggregationRule { .weightedMean }
}

/// The variant of ``KNNWithMeans``.
public enum MeanCentered: NeighborhoodVariant {
  public static var rule: AggregationRule { .meanCentered }
}

/// The variant of ``KNNWithZScore``.
public enum ZScoreCentered: NeighborhoodVariant {
  public static var rule: AggregationRule { .zScore }
}

/// The variant of ``KNNBaseline``.
public enum BaselineCentered: NeighborhoodVariant {
  public static var rule: AggregationRule { .baselineCentered }
}

/// k-NN with a similarity-weighted mean of the neighbours' ratings (Surprise's `KNNBasic`).
///
/// `r̂_ui = Σ_{v ∈ N_i^k(u)} sim(u, v) · r_vi / Σ_{v ∈ N_i^k(u)} sim(u, v)` (user-based).
/// Fewer than `minimumNeighbors` neighbours, or an unknown user or item, falls back to μ.
public typealias KNNBasic = NeighborhoodModel<WeightedMean>

/// k-NN on mean-centred ratings (Surprise's `KNNWithMeans`).
///
/// `r̂_ui = μ_u + Σ sim(u, v) · (r_vi − μ_v) / Σ sim(u, v)` (shown user-based; the default is
/// item-based with Pearson-baseline similarity). Fewer than
/// `minimumNeighbors` neighbours gives `μ_u`; an unknown user or item falls back to μ.
public typealias KNNWithMeans = NeighborhoodModel<MeanCentered>

/// k-NN on z-scored ratings (Surprise's `KNNWithZScore`).
///
/// `r̂_ui = μ_u + σ_u · Σ sim(u, v) · (r_vi − μ_v) / σ_v / Σ sim(u, v)` (shown user-based; the
/// default is item-based with Pearson-baseline similarity), σ the
/// population standard deviation; a σ of 0 is replaced by that of all ratings.
public typealias KNNWithZScore = NeighborhoodModel<ZScoreCentered>

/// k-NN on baseline residuals (Surprise's `KNNBaseline`, Koren 2010 eq. 3).
///
/// `r̂_ui = b_ui + Σ sim(i, j) · (r_uj − b_uj) / Σ sim(i, j)` (item-based, the default here),
/// `b_ui = μ + b_u + b_i`. An unknown user or item gives the baseline, not a fallback.
public typealias KNNBaseline = NeighborhoodModel<BaselineCentered>

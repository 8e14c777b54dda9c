/// How two users (or two items) are compared, over the items (or users) they have in common.
///
/// With `x`, `x'` the two users and `y` ranging over their `n` co-rated items (transposed for
/// item-based models), as in Surprise's `similarities` module:
///
/// - `cosine`: `Σ r_xy r_x'y / √(Σ r_xy² · Σ r_x'y²)`.
/// - `msd`: `1 / (Σ (r_xy − r_x'y)² / n + 1)`.
/// - `pearson`: `(n Σ r_xy r_x'y − Σ r_xy Σ r_x'y) / √((n Σ r_xy² − (Σ r_xy)²)(n Σ r_x'y² − (Σ r_x'y)²))`.
/// - `pearsonBaseline`: the cosine of the baseline residuals `d_xy = r_xy − (μ + b_x + b_y)`,
///   shrunk by `(n − 1) / (n − 1 + shrinkage)`; pairs with `n < max(2, minimumSupport)` get 0.
///
/// A pair with fewer than `minimumSupport` co-ratings, or a zero denominator, has similarity 0.
/// Encodes as its raw value; decoding also accepts Surprise's spelling `"pearson_baseline"`.
///
/// Koren. "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering." TKDD 2010
/// (for the shrunk Pearson-baseline correlation).
public enum Similarity: String, Sendable, Codable, Hashable, CaseIterable {
  case cosine
  case msd
  case pearson
  case pearsonBaseline = "pearson-baseline"

  /// The similarity named `text`: a raw value or Surprise's `"pearson_baseline"`.
  public init?(named text: String) {
    let name = text.lowercased()
    if let similarity = Similarity(rawValue: name) {
      self = similarity
    } else if name == "pearson_baseline" {
      self = .pearsonBaseline
    } else {
      return nil
    }
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let similarity = Similarity(named: text) else {
      throw DecodingError.dataCorruptedError(
        in: container,
        debugDescription: "similarity '\(text)' is unknown; use one of "
          + Similarity.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))
    }
    self = similarity
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

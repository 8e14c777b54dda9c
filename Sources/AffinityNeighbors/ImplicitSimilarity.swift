/// How ``ItemKNN`` and ``UserKNN`` compare two items (or two users) from implicit feedback.
///
/// With `a_x` the vector of `x`'s interaction weights over the other side (an item's users, or a
/// user's items), `a_x · a_x'` their dot product and `s` the configured `shrinkage`:
///
/// - `cosine`: `a_x · a_x' / (‖a_x‖ ‖a_x'‖ + s)` (implicit's `CosineRecommender`).
/// - `bm25`: `ŵ_x · ŵ_x'` with Okapi BM25 weights
///   `ŵ_xy = a_xy (K1 + 1) / (K1 · ((1 − B) + B · |a_x|₁ / avg |a|₁) + a_xy) · idf_y` and
///   `idf_y = ln N − ln(1 + df_y)`, `N` the number of rows `x` and `df_y` the number of rows
///   `y` appears in (implicit's `BM25Recommender`; not normalised, so `s` does not apply).
/// - `tfidf`: the cosine of `ŵ_xy = √a_xy · idf_y` (implicit's `TFIDFRecommender`).
/// - `jaccard`: `a_x · a_x' / (‖a_x‖² + ‖a_x'‖² − a_x · a_x' + s)`, which is
///   `|x ∩ x'| / |x ∪ x'|` for binary interactions (Tanimoto's extension to weights).
/// - `asymmetricCosine`: `a_c · a_h / ((‖a_c‖²)^α (‖a_h‖²)^(1 − α) + s)`, where `c` is the
///   candidate and `h` the history item (item-based) or `c` the user and `h` the neighbour
///   (user-based); α = 0.5 is the cosine, α = 0 the conditional probability `P(c | h)` for
///   binary data (Aiolli 2013).
///
/// Only positive similarities between two different rows are kept.
///
/// Aiolli. "Efficient Top-N Recommendation for Very Large Scale Binary Rated Datasets."
/// RecSys 2013. Robertson, Zaragoza. "The Probabilistic Relevance Framework: BM25 and Beyond."
/// 2009.
public enum ImplicitSimilarity: String, Sendable, Codable, Hashable, CaseIterable {
  case cosine
  case bm25
  case tfidf
  case jaccard
  case asymmetricCosine = "asymmetric-cosine"

  /// The similarity named `text`: a raw value, or `asymmetric_cosine` / `asymmetricCosine`.
  public init?(named text: String) {
    let name = String(text.lowercased().map { $0 == "_" ? "-" : $0 })
    if let similarity = ImplicitSimilarity(rawValue: name) {
      self = similarity
    } else if name == "asymmetriccosine" {
      self = .asymmetricCosine
    } else {
      return nil
    }
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let similarity = ImplicitSimilarity(named: text) else {
      throw DecodingError.dataCorruptedError(
        in: container,
        debugDescription: "similarity '\(text)' is unknown; use one of "
          + ImplicitSimilarity.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))
    }
    self = similarity
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

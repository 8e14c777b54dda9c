public import AffinityCore
import AffinityBaselines
import AffinityContent
import AffinityFactorization
import AffinityNeighbors
public import Foundation

/// What a model is for.
public enum ModelTask: String, Sendable, Codable, CaseIterable {
  case rating
  case ranking
}

/// One model the CLI and server can build by name.
public struct ModelDescriptor: Sendable {
  /// The CLI name, lower-case, as users know it from the peers (`svd`, `knn-baseline`).
  public let name: String
  public let tasks: [ModelTask]
  public let summary: String
  /// The configuration used when no parameter is given, as field → value text.
  public let defaults: @Sendable () -> [String: String]
  let build:
    @Sendable (InteractionData, [(String, String)], FitOptions, SideInformation) throws -> any Recommender
  /// Whether the model reads user or item features (`--user-features`, `--item-features`).
  public let usesFeatures: Bool
  let resolve: @Sendable ([(String, String)]) throws -> [String: String]
  let decoder: @Sendable (Data) throws -> any Recommender
  let nestedDecoder: @Sendable (any Decoder) throws -> any Recommender
  let documentDecoder: @Sendable (Data, [CodingUserInfoKey: any Sendable]) throws -> any Recommender

  /// Rebuilds a model of this kind from a ``ModelFile`` document or a bundle manifest; a
  /// bundle passes its tensors and vocabularies in `userInfo`.
  func decodeDocument(_ data: Data, userInfo: [CodingUserInfoKey: any Sendable]) throws -> any Recommender {
    try documentDecoder(data, userInfo)
  }

  /// Rebuilds a model of this kind from its JSON form.
  public func decode(_ data: Data) throws -> any Recommender { try decoder(data) }

  /// Rebuilds a model of this kind from a decoder positioned at its `Codable` form.
  func decode(from decoder: any Decoder) throws -> any Recommender { try nestedDecoder(decoder) }

  /// Trains the model on `data` with `parameters` applied over its defaults; models that use
  /// features read them from `features`, the others ignore it.
  public func fit(
    _ data: InteractionData, parameters: [(String, String)] = [], options: FitOptions,
    features: SideInformation = .none
  ) throws -> any Recommender {
    try build(data, parameters, options, features)
  }

  /// The full configuration that `parameters` produce, as field → value text.
  public func configuration(with parameters: [(String, String)]) throws -> [String: String] {
    try resolve(parameters)
  }
}

/// Every model this build knows, by CLI name.
public enum ModelCatalog {
  public static let all: [ModelDescriptor] = [
    entry(GlobalMean.self, .init(), [.rating], "predicts the global mean rating μ (the floor)"),
    entry(
      NormalPredictor.self, .init(), [.rating],
      "draws from N(μ̂, σ̂²) of the training ratings (Surprise's NormalPredictor)"),
    entry(
      BaselineOnly.self, .init(), [.rating, .ranking],
      "μ + b_u + b_i, biases by ALS (default) or SGD"),
    entry(
      MostPopular.self, .init(), [.ranking],
      "the most-interacted items, the same for everyone"),
    entry(KNNBasic.self, .init(), [.rating], "k-NN weighted mean of neighbours' ratings (MSD, user-based)"),
    entry(KNNWithMeans.self, .init(), [.rating], "k-NN on mean-centred ratings"),
    entry(KNNWithZScore.self, .init(), [.rating], "k-NN on z-score-normalised ratings"),
    entry(
      KNNBaseline.self, .init(), [.rating],
      "k-NN on baseline residuals, Pearson-baseline item similarity (Koren 2010)"),
    entry(
      BiasedMatrixFactorization.self, .init(), [.rating, .ranking],
      "biased matrix factorization by SGD (Funk SVD, Surprise's SVD)"),
    entry(
      ProbabilisticMatrixFactorization.self, ProbabilisticMatrixFactorization.defaultConfiguration,
      [.rating, .ranking], "unbiased matrix factorization by SGD (PMF)"),
    entry(
      SVDPlusPlus.self, .init(), [.rating, .ranking],
      "SVD with implicit feedback from who rated what (Koren 2008)"),
    entry(
      NonNegativeMatrixFactorization.self, .init(), [.rating],
      "non-negative matrix factorization, multiplicative updates"),
    entry(SlopeOne.self, .init(), [.rating], "Slope One: mean rating differences between items"),
    entry(
      ImplicitALS.self, .init(), [.ranking],
      "implicit-feedback matrix factorization by alternating least squares (Hu et al. 2008)"),
    entry(
      BayesianPersonalizedRanking.self, .init(), [.ranking],
      "matrix factorization with the BPR pairwise loss (Rendle et al. 2009)"),
    entry(
      WeightedApproximateRankPairwise.self, .init(), [.ranking],
      "matrix factorization with LightFM's WARP loss (Weston et al. 2011)"),
    entry(
      WeightedApproximateRankPairwise.self, .init(loss: .kosWARP), [.ranking],
      "WARP on the k-th best of sampled positives, k-OS WARP (Weston et al. 2013)", name: "kos-warp"),
    entry(
      LogisticMatrixFactorization.self, .init(), [.ranking],
      "logistic matrix factorization with sampled negatives (Johnson 2014)"),
    entry(ItemKNN.self, .init(), [.ranking], "item-item neighbours for implicit data (cosine, BM25, TF-IDF, Jaccard, asymmetric cosine)"),
    entry(UserKNN.self, .init(), [.ranking], "user-user neighbours for implicit data (cosine, BM25, TF-IDF, Jaccard, asymmetric cosine)"),
    entry(EASE.self, .init(), [.ranking], "closed-form item-item autoencoder, EASE (Steck 2019)"),
    entry(
      SegmentPopularity.self, .init(), [.ranking],
      "popularity among training users who share the user's segment (gender × age by default); needs user features"),
    entry(
      FeatureRidge.self, .init(), [.ranking],
      "inductive x_uᵀ M y_j by two-sided ridge over user and/or item features; scores cold users and cold items"),
    entry(
      SegmentRidgeBlend.self, .init(), [.ranking],
      "cold users: the inductive ridge blended with gender × age popularity (standardised scores); needs user features"),
    entry(
      FeatureEmbeddings.self, .init(), [.ranking],
      "LightFM-style hybrid: users and items are sums of feature (and identity) embeddings, WARP or BPR"),
    entry(
      HybridFactorization.self, .init(), [.ranking],
      "hybrid (x_iᵀW)(y_jᵀH)ᵀ + u_iᵀv_j: inductive feature part plus per-id part, joint implicit ALS; cold users and items"),
    entry(
      ContentBased.self, .init(), [.ranking],
      "content-based: cosine between item features and the user's profile (TF-IDF text, genres, vectors)"),
    entry(
      RankBlend.self, .init(), [.ranking],
      "weighted sum of standardised ranking scores (default als, ease, item-knn), weights fitted on a training holdout"),
    entry(
      LinearBlend.self, .init(), [.rating, .ranking],
      "ridge-weighted blend of rating models (default svd, svdpp, knn-baseline, knn-means, pmf)"),
  ]

  /// The names of every model.
  public static var names: [String] { all.map(\.name) }

  /// The model called `name`.
  public static func descriptor(named name: String) throws(CatalogError) -> ModelDescriptor {
    if let found = all.first(where: { $0.name == name }) { return found }
    let aliases = [
      "svd++": "svdpp", "slopeone": "slope-one", "knnbaseline": "knn-baseline",
      "knnbasic": "knn-basic", "knnwithmeans": "knn-means", "knnwithzscore": "knn-zscore",
      "baselineonly": "baseline", "normalpredictor": "normal", "mostpopular": "popular",
      "most-popular": "popular", "funk-svd": "svd",
    ]
    if let alias = aliases[name.lowercased()], let found = all.first(where: { $0.name == alias }) {
      return found
    }
    throw .unknownModel(name, known: names)
  }

  /// Splits `key=value` strings into pairs.
  public static func parseParameters(_ texts: [String]) throws(CatalogError) -> [(String, String)] {
    var pairs: [(String, String)] = []
    for text in texts {
      guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
        throw .malformedParameter(text)
      }
      pairs.append(
        (
          String(text[..<eq]).trimmingCharacters(in: .whitespaces),
          String(text[text.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
        ))
    }
    return pairs
  }

  static func entry<Model: Recommender>(
    _ type: Model.Type, _ defaults: Model.Configuration, _ tasks: [ModelTask], _ summary: String,
    name: String = Model.kind
  ) -> ModelDescriptor {
    return ModelDescriptor(
      name: name, tasks: tasks, summary: summary,
      defaults: { ConfigurationFields.fields(defaults).mapValues(\.text) },
      build: { data, parameters, options, features in
        let configuration = try ConfigurationFields.apply(parameters, to: defaults, model: name)
        if let featureModel = Model.self as? any FeatureAwareRecommender.Type {
          return try fitWithFeatures(featureModel, data, configuration, options, features)
        }
        return try Model.fit(data, configuration: configuration, options: options)
      },
      usesFeatures: Model.self is any FeatureAwareRecommender.Type,
      resolve: { parameters in
        let configuration = try ConfigurationFields.apply(parameters, to: defaults, model: name)
        try configuration.validate()
        return ConfigurationFields.fields(configuration).mapValues(\.text)
      },
      decoder: { data in try JSONDecoder().decode(Model.self, from: data) },
      nestedDecoder: { decoder in try Model(from: decoder) },
      documentDecoder: { data, userInfo in
        let decoder = JSONDecoder()
        decoder.userInfo = userInfo
        return try decoder.decode(ModelFile.Payload<Model>.self, from: data).model
      })
  }

  private static func fitWithFeatures<Model: FeatureAwareRecommender>(
    _ type: Model.Type, _ data: InteractionData, _ configuration: any ModelConfiguration, _ options: FitOptions,
    _ features: SideInformation
  ) throws -> any Recommender {
    guard let configuration = configuration as? Model.Configuration else {
      throw FitError.missingFeatures(model: Model.kind, needs: "its own configuration")
    }
    return try Model.fit(data, features: features, configuration: configuration, options: options)
  }
}

public import AffinityCore
public import Foundation

/// The served pipeline as one value: candidate sources → filters → business rules →
/// exploration → order.
///
/// The same value runs in the HTTP service, in `affinity evaluate --pipeline` and in
/// simulation, so offline figures measure what users get. It is plain data (JSON in a file or
/// in the server's configuration); ``ServedPipeline`` binds it to a model and an item catalogue.
public struct Pipeline: Sendable, Codable, Equatable {
  /// Where candidates come from. Sources form a fallback chain: each is asked in turn and
  /// tops up the pool with items the earlier ones did not give, so a cold user with no history
  /// still gets the popular items.
  public enum Source: String, Sendable, Codable, CaseIterable {
    /// The model's ranking for the user, their history or their features.
    case model
    /// The model's similar items to the request's history (models with similar items only).
    case similarToHistory = "similar-to-history"
    /// The most interacted-with items in the model's training data.
    case popular
    /// The newest items in the catalogue.
    case recent
  }

  /// What is never shown.
  public struct Filters: Sendable, Codable, Equatable {
    /// Items the user has interacted with (training data and the request's history).
    public var excludeSeen: Bool
    /// Items with the hidden flag.
    public var excludeHidden: Bool
    /// Items whose expiry time has passed.
    public var excludeExpired: Bool
    /// Items the user gave negative feedback.
    public var excludeNegative: Bool
    /// When non-empty, only these items.
    public var allow: [String]
    /// Never these items.
    public var deny: [String]
    /// When non-empty, only items in at least one of these categories.
    public var categories: [String]

    public init(
      excludeSeen: Bool = true, excludeHidden: Bool = true, excludeExpired: Bool = true, excludeNegative: Bool = true,
      allow: [String] = [], deny: [String] = [], categories: [String] = []
    ) {
      self.excludeSeen = excludeSeen
      self.excludeHidden = excludeHidden
      self.excludeExpired = excludeExpired
      self.excludeNegative = excludeNegative
      self.allow = allow
      self.deny = deny
      self.categories = categories
    }

    enum CodingKeys: String, CodingKey { case excludeSeen, excludeHidden, excludeExpired, excludeNegative, allow, deny, categories }
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      let defaults = Filters()
      excludeSeen = try c.decodeIfPresent(Bool.self, forKey: .excludeSeen) ?? defaults.excludeSeen
      excludeHidden = try c.decodeIfPresent(Bool.self, forKey: .excludeHidden) ?? defaults.excludeHidden
      excludeExpired = try c.decodeIfPresent(Bool.self, forKey: .excludeExpired) ?? defaults.excludeExpired
      excludeNegative = try c.decodeIfPresent(Bool.self, forKey: .excludeNegative) ?? defaults.excludeNegative
      allow = try c.decodeIfPresent([String].self, forKey: .allow) ?? []
      deny = try c.decodeIfPresent([String].self, forKey: .deny) ?? []
      categories = try c.decodeIfPresent([String].self, forKey: .categories) ?? []
    }
  }

  /// Which items a rule applies to: all given conditions must hold.
  public struct Match: Sendable, Codable, Equatable {
    /// The item is in this category.
    public var category: String?
    /// The item's feature `key` equals `value` (written `key=value`).
    public var feature: String?
    /// The item is one of these.
    public var items: [String]?

    public init(category: String? = nil, feature: String? = nil, items: [String]? = nil) {
      self.category = category
      self.feature = feature
      self.items = items
    }
  }

  /// A business rule over the ranked candidates, applied in order after filtering.
  public struct Rule: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
      /// Move matching items to ``position`` (0-based), best first.
      case pin
      /// Move matching items up by ``positions`` places.
      case boost
      /// Move matching items to the end of the candidates.
      case bury
    }
    public var action: Action
    public var match: Match
    /// For `pin`: the 0-based slot.
    public var position: Int?
    /// For `boost`: how many places to move up.
    public var positions: Int?

    public init(action: Action, match: Match, position: Int? = nil, positions: Int? = nil) {
      self.action = action
      self.match = match
      self.position = position
      self.positions = positions
    }
  }

  /// How the slate explores, and so what probability each shown item had.
  public struct Exploration: Sendable, Codable, Equatable {
    public enum Method: String, Sendable, Codable {
      /// The ranking as it is: every propensity is 1.
      case none
      /// Each slot takes the best remaining candidate with probability 1 − ε, otherwise a
      /// uniformly drawn remaining one.
      case epsilonGreedy = "epsilon-greedy"
      /// Each candidate's score is drawn from a normal centred on its rank score whose spread
      /// shrinks with the item's training evidence, σ = scale / √(1 + n), and the slate is the
      /// top of the drawn scores.
      case thompson
    }
    public var method: Method
    /// ε for epsilon-greedy.
    public var epsilon: Double
    /// Spread for thompson, in units of the rank score (the best candidate has 1, the last 0).
    public var scale: Double
    /// Monte-Carlo draws for the propensities that have no closed form.
    public var samples: Int

    public init(method: Method = .none, epsilon: Double = 0.1, scale: Double = 0.5, samples: Int = 256) {
      self.method = method
      self.epsilon = epsilon
      self.scale = scale
      self.samples = samples
    }

    public static let none = Exploration()

    enum CodingKeys: String, CodingKey { case method, epsilon, scale, samples }
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      let defaults = Exploration()
      method = try c.decodeIfPresent(Method.self, forKey: .method) ?? defaults.method
      epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? defaults.epsilon
      scale = try c.decodeIfPresent(Double.self, forKey: .scale) ?? defaults.scale
      samples = try c.decodeIfPresent(Int.self, forKey: .samples) ?? defaults.samples
    }
  }

  public var sources: [Source]
  /// How many candidates to gather before filtering by rules and exploring.
  public var candidates: Int
  public var filters: Filters
  public var rules: [Rule]
  public var exploration: Exploration

  public init(
    sources: [Source] = [.model, .popular], candidates: Int = 100, filters: Filters = Filters(), rules: [Rule] = [],
    exploration: Exploration = .none
  ) {
    self.sources = sources
    self.candidates = candidates
    self.filters = filters
    self.rules = rules
    self.exploration = exploration
  }

  enum CodingKeys: String, CodingKey { case sources, candidates, filters, rules, exploration }
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let defaults = Pipeline()
    sources = try c.decodeIfPresent([Source].self, forKey: .sources) ?? defaults.sources
    candidates = try c.decodeIfPresent(Int.self, forKey: .candidates) ?? defaults.candidates
    filters = try c.decodeIfPresent(Filters.self, forKey: .filters) ?? defaults.filters
    rules = try c.decodeIfPresent([Rule].self, forKey: .rules) ?? []
    exploration = try c.decodeIfPresent(Exploration.self, forKey: .exploration) ?? .none
  }

  /// Names the first field out of range.
  public func validate() throws(ConfigurationError) {
    guard !sources.isEmpty else {
      throw ConfigurationError(model: "pipeline", parameter: "sources", value: "[]", requirement: "at least one of model, similar-to-history, popular, recent")
    }
    guard (1...10_000).contains(candidates) else {
      throw ConfigurationError(model: "pipeline", parameter: "candidates", value: "\(candidates)", requirement: "1…10000")
    }
    for (k, rule) in rules.enumerated() {
      if rule.match.category == nil && rule.match.feature == nil && (rule.match.items ?? []).isEmpty {
        throw ConfigurationError(model: "pipeline", parameter: "rules[\(k)].match", value: "{}", requirement: "a category, a feature key=value or items")
      }
      if let feature = rule.match.feature, !feature.contains("=") {
        throw ConfigurationError(model: "pipeline", parameter: "rules[\(k)].match.feature", value: feature, requirement: "key=value")
      }
      switch rule.action {
      case .pin:
        guard let position = rule.position, position >= 0 else {
          throw ConfigurationError(model: "pipeline", parameter: "rules[\(k)].position", value: rule.position.map(String.init) ?? "missing", requirement: "a slot ≥ 0")
        }
      case .boost:
        guard let positions = rule.positions, positions > 0 else {
          throw ConfigurationError(model: "pipeline", parameter: "rules[\(k)].positions", value: rule.positions.map(String.init) ?? "missing", requirement: "places to move up, ≥ 1")
        }
      case .bury: break
      }
    }
    switch exploration.method {
    case .none: break
    case .epsilonGreedy:
      guard (0...1).contains(exploration.epsilon) else {
        throw ConfigurationError(model: "pipeline", parameter: "exploration.epsilon", value: "\(exploration.epsilon)", requirement: "0…1")
      }
    case .thompson:
      guard exploration.scale.isFinite, exploration.scale > 0 else {
        throw ConfigurationError(model: "pipeline", parameter: "exploration.scale", value: "\(exploration.scale)", requirement: "> 0")
      }
    }
    guard (1...100_000).contains(exploration.samples) else {
      throw ConfigurationError(model: "pipeline", parameter: "exploration.samples", value: "\(exploration.samples)", requirement: "1…100000")
    }
  }
}

/// What the pipeline knows of each item beyond the model: categories, features, visibility.
public struct CatalogItem: Sendable, Equatable {
  public var categories: [String]
  public var features: [String: String]
  public var hidden: Bool
  public var expiresAt: Date?
  /// When the item entered the catalogue, for the `recent` source.
  public var addedAt: Date?

  public init(categories: [String] = [], features: [String: String] = [:], hidden: Bool = false, expiresAt: Date? = nil, addedAt: Date? = nil) {
    self.categories = categories
    self.features = features
    self.hidden = hidden
    self.expiresAt = expiresAt
    self.addedAt = addedAt
  }

  func matches(_ match: Pipeline.Match, id: ItemID) -> Bool {
    if let category = match.category, !categories.contains(category) { return false }
    if let feature = match.feature {
      let parts = feature.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, features[String(parts[0])] == String(parts[1]) else { return false }
    }
    if let items = match.items, !items.contains(id.rawValue) { return false }
    return true
  }
}

/// One request to a served pipeline.
public struct PipelineRequest: Sendable {
  public var user: UserID?
  /// Recent items of the user (or of an anonymous session), newest last.
  public var history: [ItemID]
  /// Encoded user features for the feature models (`gender=F`).
  public var features: [String]
  public var count: Int
  /// Items the user gave negative feedback.
  public var negatives: Set<ItemID>
  /// Items never to show in this request.
  public var excluding: Set<ItemID>
  /// When non-empty, only items in one of these categories (on top of the pipeline's).
  public var categories: [String]
  public var now: Date
  /// Seed of this request's exploration draws: the same seed gives the same slate.
  public var seed: UInt64

  public init(
    user: UserID? = nil, history: [ItemID] = [], features: [String] = [], count: Int = 10, negatives: Set<ItemID> = [],
    excluding: Set<ItemID> = [], categories: [String] = [], now: Date = Date(), seed: UInt64 = 0
  ) {
    self.user = user
    self.history = history
    self.features = features
    self.count = count
    self.negatives = negatives
    self.excluding = excluding
    self.categories = categories
    self.now = now
    self.seed = seed
  }
}

/// A served slate: each item with where it came from and the probability it was shown there.
public struct PipelineSlate: Sendable, Equatable {
  public struct Entry: Sendable, Equatable {
    public var item: ItemID
    /// The source's score (model score, similarity or popularity count).
    public var score: Float
    public var source: Pipeline.Source
    /// The probability that the pipeline put this item in this slot (1 without exploration).
    public var propensity: Double
  }
  public var items: [Entry]
}

/// A pipeline file that cannot be used.
public struct PipelineFileError: Error, Equatable, Sendable, CustomStringConvertible {
  public var file: String
  public var reason: String
  public var description: String { "pipeline file \(file): \(reason); see docs/pipeline.md for the format" }
}

extension Pipeline {
  /// Reads and validates a pipeline from a JSON file.
  public static func load(contentsOf file: String) throws(PipelineFileError) -> Pipeline {
    guard let data = FileManager.default.contents(atPath: file) else {
      throw PipelineFileError(file: file, reason: FileManager.default.fileExists(atPath: file) ? "cannot be read" : "no such file")
    }
    let pipeline: Pipeline
    do {
      pipeline = try JSONDecoder().decode(Pipeline.self, from: data)
    } catch let error as DecodingError {
      let (field, detail) = error.location
      throw PipelineFileError(file: file, reason: field.isEmpty ? detail : "\(field): \(detail)")
    } catch {
      throw PipelineFileError(file: file, reason: "\(error)")
    }
    do { try pipeline.validate() } catch { throw PipelineFileError(file: file, reason: error.description) }
    return pipeline
  }
}

import Foundation

/// A seeded synthetic "movie world": users and items with latent tastes, genres, demographics,
/// a popularity long tail, timestamps and 1–5 ratings.
///
/// Generative story: each item has 1–3 of 19 genres, a latent vector `y_i` near the mean of its
/// genres' vectors, a quality bias `b_i` and a Zipf popularity. Each user has a gender, an age,
/// an occupation, a latent vector `x_u` (partly shared with users of the same age band) and a
/// leniency `b_u`. A user rates `n_u` items (log-normal activity), drawn by popularity and kept
/// with probability `σ(β · x_uᵀ y_i)`, so people mostly rate what they like; the rating is
/// `round(3.6 + b_u + b_i + x_uᵀ y_i + ε)` clipped to 1…5. Everything is a function of the seed,
/// so it serves as demo data, test fixture and (later) user simulator.
public struct SyntheticWorld: Sendable {
  /// Sizes and knobs; the defaults give about 1,000 users × 1,700 items × 100,000 ratings.
  public struct Configuration: Sendable, Hashable, Codable {
    public var userCount: Int
    public var itemCount: Int
    public var ratingCount: Int
    public var latentDimensions: Int
    /// Noise standard deviation ε on the rating scale.
    public var noise: Double
    /// Zipf exponent of item popularity.
    public var popularityExponent: Double
    /// How strongly taste steers what users choose to rate (β).
    public var selectionStrength: Double

    public init(
      userCount: Int = 1_000, itemCount: Int = 1_700, ratingCount: Int = 100_000,
      latentDimensions: Int = 8, noise: Double = 0.6, popularityExponent: Double = 0.9,
      selectionStrength: Double = 2.0
    ) {
      self.userCount = userCount
      self.itemCount = itemCount
      self.ratingCount = ratingCount
      self.latentDimensions = latentDimensions
      self.noise = noise
      self.popularityExponent = popularityExponent
      self.selectionStrength = selectionStrength
    }

    public func validate() throws(ConfigurationError) {
      let check = ConfigurationCheck("SyntheticWorld")
      try check.positive("userCount", userCount)
      try check.positive("itemCount", itemCount)
      try check.positive("ratingCount", ratingCount)
      try check.positive("latentDimensions", latentDimensions)
      if ratingCount > userCount * itemCount / 2 {
        throw ConfigurationError(
          model: "SyntheticWorld", parameter: "ratingCount", value: ratingCount,
          requirement: "at most half of userCount × itemCount (\(userCount * itemCount / 2))")
      }
    }
  }

  public struct Item: Sendable, Hashable, Codable {
    public var id: ItemID
    public var title: String
    public var genres: [String]
    public var year: Int
  }

  public struct User: Sendable, Hashable, Codable {
    public var id: UserID
    public var age: Int
    public var gender: String
    public var occupation: String
  }

  public static let genreNames = [
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western", "unknown",
  ]
  static let occupations = [
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
    "retired", "salesman", "scientist", "student", "technician", "writer",
  ]
  static let adjectives = [
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Distant", "Wild",
    "Frozen", "Secret", "Burning", "Lost", "Electric", "Quiet", "Iron", "Paper", "Velvet", "Lonely",
    "Brave",
  ]
  static let nouns = [
    "Harbor", "Garden", "Empire", "River", "Station", "Letter", "Mountain", "City", "Promise",
    "Voyage", "Kingdom", "Summer", "Detective", "Orchestra", "Frontier", "Machine", "Island",
    "Witness", "Carnival", "Horizon",
  ]

  public let configuration: Configuration
  public let seed: UInt64
  public let users: [User]
  public let items: [Item]
  public let ratings: InteractionData
  /// The latent user vectors `x_u` and item vectors `y_i`, for simulators and tests.
  public let userTastes: [[Double]]
  public let itemTraits: [[Double]]

  /// Generates the world for `seed`.
  public init(configuration: Configuration = Configuration(), seed: UInt64 = 42) throws(ConfigurationError) {
    try configuration.validate()
    self.configuration = configuration
    self.seed = seed
    let c = configuration
    let d = c.latentDimensions
    var rng = SeededGenerator(seed: seed, stream: 100)
    let scale = 0.9 / Double(d).squareRoot()

    let genreVectors = (0..<SyntheticWorld.genreNames.count - 1).map { _ in
      (0..<d).map { _ in rng.nextGaussian() * 1.4 * scale }
    }
    var items: [Item] = []
    var traits: [[Double]] = []
    var itemBias: [Double] = []
    items.reserveCapacity(c.itemCount)
    for i in 0..<c.itemCount {
      let genreCount = 1 + rng.nextInt(below: 3)
      var genres = Set<Int>()
      while genres.count < genreCount { genres.insert(rng.nextInt(below: genreVectors.count)) }
      let sortedGenres = genres.sorted()
      var y = (0..<d).map { _ in rng.nextGaussian() * 0.6 * scale }
      for g in sortedGenres { for f in 0..<d { y[f] += genreVectors[g][f] / Double(genreCount) } }
      traits.append(y)
      itemBias.append(rng.nextGaussian() * 0.35)
      let title =
        "The \(SyntheticWorld.adjectives[rng.nextInt(below: 20)]) \(SyntheticWorld.nouns[rng.nextInt(below: 20)])"
      let year = 1930 + Int(Double(68) * (1 - pow(rng.nextUniform(), 2.5)))
      items.append(
        Item(
          id: ItemID(String(i + 1)), title: "\(title) (\(year))",
          genres: sortedGenres.map { SyntheticWorld.genreNames[$0] }, year: year))
    }
    // Popularity: a Zipf law over a seeded permutation, nudged by quality.
    var rankOrder = Array(0..<c.itemCount)
    rng.shuffle(&rankOrder)
    var popularity = [Double](repeating: 0, count: c.itemCount)
    for (rank, i) in rankOrder.enumerated() {
      popularity[i] = pow(Double(rank + 1), -c.popularityExponent) * exp(0.8 * itemBias[i])
    }
    let alias = AliasTable(weights: popularity)

    let ageBands = (0..<6).map { _ in (0..<d).map { _ in rng.nextGaussian() * 0.5 * scale } }
    var users: [User] = []
    var tastes: [[Double]] = []
    var userBias: [Double] = []
    var activity: [Double] = []
    for u in 0..<c.userCount {
      let age = min(73, max(7, Int(34 + 12 * rng.nextGaussian())))
      let band = min(5, max(0, (age - 10) / 10))
      let x = (0..<d).map { f in ageBands[band][f] + rng.nextGaussian() * scale }
      tastes.append(x)
      userBias.append(rng.nextGaussian() * 0.4)
      activity.append(exp(1.0 * rng.nextGaussian()))
      users.append(
        User(
          id: UserID(String(u + 1)), age: age, gender: rng.nextUniform() < 0.71 ? "M" : "F",
          occupation: SyntheticWorld.occupations[rng.nextInt(below: SyntheticWorld.occupations.count)]))
    }
    // Each user rates at least 20 items (as in MovieLens) and at most half the catalogue.
    let minimum = min(20, max(1, c.ratingCount / c.userCount))
    let cap = max(minimum, c.itemCount / 2)
    let activityTotal = activity.reduce(0, +)
    let spare = Double(max(0, c.ratingCount - minimum * c.userCount))
    var counts = activity.map { min(cap, minimum + Int(spare * $0 / activityTotal)) }
    var shortfall = c.ratingCount - counts.reduce(0, +)
    var cursor = 0
    while shortfall > 0 {
      if counts[cursor % c.userCount] < cap {
        counts[cursor % c.userCount] += 1
        shortfall -= 1
      }
      cursor += 1
    }

    var builder = InteractionData.Builder(source: "synthetic world (seed \(seed))")
    builder.reserve(c.ratingCount)
    var takenBy = [Int32](repeating: -1, count: c.itemCount)
    let epoch: Int64 = 874_724_710
    for u in 0..<c.userCount {
      var start = epoch + Int64(rng.nextUniform() * 200 * 86_400)
      var chosen = 0
      var attempts = 0
      while chosen < counts[u] {
        attempts += 1
        let i = attempts < counts[u] * 60 ? alias.sample(&rng) : rng.nextInt(below: c.itemCount)
        if takenBy[i] == Int32(u) { continue }
        var affinity = 0.0
        for f in 0..<d { affinity += tastes[u][f] * traits[i][f] }
        let keep = 1 / (1 + exp(-c.selectionStrength * affinity * 2))
        if attempts < counts[u] * 60 && rng.nextUniform() > keep { continue }
        takenBy[i] = Int32(u)
        chosen += 1
        let raw = 3.5 + userBias[u] + itemBias[i] + affinity * 2.5 + c.noise * rng.nextGaussian()
        let rating = Float(min(5, max(1, raw.rounded())))
        start += Int64(1 + rng.nextUniform() * 3_600 * 6)
        builder.append(user: users[u].id, item: items[i].id, value: rating, timestamp: start)
      }
    }
    self.users = users
    self.items = items
    self.userTastes = tastes
    self.itemTraits = traits
    do { self.ratings = try builder.build() } catch {
      throw ConfigurationError(
        model: "SyntheticWorld", parameter: "ratingCount", value: c.ratingCount, requirement: "> 0")
    }
  }

  /// The item with id `id`, if any.
  public func item(_ id: ItemID) -> Item? {
    Int(id.rawValue).flatMap { $0 >= 1 && $0 <= items.count ? items[$0 - 1] : nil }
  }
}

/// Walker's alias method: O(1) draws from a fixed discrete distribution.
struct AliasTable: Sendable {
  let probability: [Double]
  let alias: [Int]

  init(weights: [Double]) {
    let n = weights.count
    let total = weights.reduce(0, +)
    var scaled = weights.map { $0 * Double(n) / total }
    var probability = [Double](repeating: 1, count: n)
    var alias = Array(0..<n)
    var small = scaled.indices.filter { scaled[$0] < 1 }
    var large = scaled.indices.filter { scaled[$0] >= 1 }
    while let s = small.popLast(), let l = large.popLast() {
      probability[s] = scaled[s]
      alias[s] = l
      scaled[l] -= 1 - scaled[s]
      if scaled[l] < 1 { small.append(l) } else { large.append(l) }
    }
    self.probability = probability
    self.alias = alias
  }

  func sample(_ rng: inout SeededGenerator) -> Int {
    let column = rng.nextInt(below: probability.count)
    return rng.nextUniform() < probability[column] ? column : alias[column]
  }
}

extension SyntheticWorld {
  /// The users' demographics as a feature table: gender, age, occupation.
  public func userFeatureTable() throws(DataError) -> FeatureTable<UserID> {
    try FeatureTable<UserID>(
      ids: IDVocabulary(users.map(\.id)),
      columns: [
        .init(name: "gender", kind: .categorical, values: users.map { .category($0.gender) }),
        .init(name: "age", kind: .numeric, values: users.map { .number(Double($0.age)) }),
        .init(name: "occupation", kind: .categorical, values: users.map { .category($0.occupation) }),
      ], source: "synthetic users")
  }

  /// The items' metadata as a feature table: genres, release year, title.
  public func itemFeatureTable() throws(DataError) -> FeatureTable<ItemID> {
    try FeatureTable<ItemID>(
      ids: IDVocabulary(items.map(\.id)),
      columns: [
        .init(name: "genres", kind: .multiLabel, values: items.map { .labels($0.genres) }),
        .init(name: "year", kind: .numeric, values: items.map { .number(Double($0.year)) }),
        .init(name: "title", kind: .text, values: items.map { .text($0.title) }),
      ], source: "synthetic items")
  }

  /// Both tables, encoded with the default ``FeatureEncoder``.
  public func encodedFeatures() throws(DataError) -> SideInformation {
    SideInformation(
      users: try FeatureEncoder().encode(userFeatureTable()), items: try FeatureEncoder().encode(itemFeatureTable()))
  }
}

public import AffinityCore
import AffinityLinalg
public import Foundation

/// A ``Pipeline`` bound to a trained model and an item catalogue, ready to answer requests.
///
/// Building it precomputes what does not change between requests (the items every request
/// must skip, popularity and recency orders, category members) so that a request costs one
/// model scoring pass plus work proportional to the candidate pool. It is an immutable value:
/// a retrain or a catalogue change builds a new one and swaps it in.
public struct ServedPipeline: Sendable {
  public let pipeline: Pipeline
  public let model: any Recommender
  let catalog: [ItemID: CatalogItem]
  /// In model item order: never shown whatever the request (hidden, denied, outside the
  /// pipeline's allow list or categories).
  let blocked: [Bool]
  /// Model items with an expiry time (checked against each request's clock).
  let expiring: [(index: Int, at: Date)]
  /// Training interactions per model item (the popularity source and Thompson's evidence).
  let popularity: [Float]
  /// Model item indices, most popular first.
  let popularOrder: [Int32]
  /// Catalogue items, newest first (those with an `addedAt`).
  let recentOrder: [ItemID]

  public init(pipeline: Pipeline, model: any Recommender, catalog: [ItemID: CatalogItem] = [:], now: Date = Date()) throws(ConfigurationError) {
    try pipeline.validate()
    self.pipeline = pipeline
    self.model = model
    self.catalog = catalog
    let items = model.items
    let allow = Set(pipeline.filters.allow.map { ItemID($0) })
    let deny = Set(pipeline.filters.deny.map { ItemID($0) })
    let categories = Set(pipeline.filters.categories)
    var blocked = [Bool](repeating: false, count: items.count)
    var expiring: [(Int, Date)] = []
    for i in 0..<items.count {
      let id = items[i]
      let entry = catalog[id]
      var block = deny.contains(id) || (!allow.isEmpty && !allow.contains(id))
      if pipeline.filters.excludeHidden, entry?.hidden == true { block = true }
      if !categories.isEmpty, !(entry?.categories.contains(where: categories.contains) ?? false) { block = true }
      blocked[i] = block
      if pipeline.filters.excludeExpired, let at = entry?.expiresAt { expiring.append((i, at)) }
    }
    self.blocked = blocked
    self.expiring = expiring
    var popularity = [Float](repeating: 0, count: items.count)
    let seen = model.seen
    for column in seen.columns where Int(column) < popularity.count { popularity[Int(column)] += 1 }
    self.popularity = popularity
    popularOrder = (0..<items.count).sorted { popularity[$0] != popularity[$1] ? popularity[$0] > popularity[$1] : $0 < $1 }.map(Int32.init)
    recentOrder = catalog.compactMap { id, item in item.addedAt.map { (id, $0) } }
      .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.rawValue < $1.0.rawValue }.map(\.0)
  }

  /// A candidate in the pool before the slate is drawn.
  struct Candidate {
    var item: ItemID
    var score: Float
    var source: Pipeline.Source
  }

  /// Runs the pipeline for one request.
  public func run(_ request: PipelineRequest) throws(QueryError) -> PipelineSlate {
    guard (1...10_000).contains(request.count) else { throw .invalidCount(request.count) }
    let filters = pipeline.filters
    let items = model.items
    let knownUser = request.user.flatMap { items.count > 0 ? model.users.index(of: $0) : nil }

    // Per-request exclusions, in model order where the item is known to the model.
    var mask = blocked
    for (i, at) in expiring where at <= request.now { mask[i] = true }
    var excluded = request.excluding
    if filters.excludeNegative { excluded.formUnion(request.negatives) }
    if filters.excludeSeen {
      excluded.formUnion(request.history)
      if let u = knownUser {
        let seen = model.seen
        for p in seen.range(ofRow: u) { mask[Int(seen.columns[p])] = true }
      }
    }
    for item in excluded { if let i = items.index(of: item) { mask[i] = true } }
    if !request.categories.isEmpty {
      let wanted = Set(request.categories)
      for i in 0..<items.count where !mask[i] {
        if !(catalog[items[i]]?.categories.contains(where: wanted.contains) ?? false) { mask[i] = true }
      }
    }
    /// Whether an item outside the model (from `recent`) may be shown.
    func admissibleOutsideModel(_ id: ItemID) -> Bool {
      if excluded.contains(id) { return false }
      guard let entry = catalog[id] else { return filters.allow.isEmpty && filters.categories.isEmpty && request.categories.isEmpty }
      if filters.excludeHidden && entry.hidden { return false }
      if filters.excludeExpired, let at = entry.expiresAt, at <= request.now { return false }
      if filters.deny.contains(id.rawValue) || (!filters.allow.isEmpty && !filters.allow.contains(id.rawValue)) { return false }
      if !filters.categories.isEmpty && !entry.categories.contains(where: filters.categories.contains) { return false }
      if !request.categories.isEmpty && !entry.categories.contains(where: request.categories.contains) { return false }
      return true
    }

    let wanted = max(pipeline.candidates, request.count)
    var pool: [Candidate] = []
    pool.reserveCapacity(wanted)
    func take(_ i: Int, score: Float, source: Pipeline.Source) {
      guard !mask[i] else { return }
      mask[i] = true
      pool.append(Candidate(item: items[i], score: score, source: source))
    }

    for source in pipeline.sources where pool.count < wanted {
      switch source {
      case .model:
        guard knownUser != nil || !request.history.isEmpty || !request.features.isEmpty else { continue }
        let query = RecommendationQuery(
          user: knownUser != nil ? request.user : nil, history: request.history, count: request.count, excludesHistory: false,
          features: request.features)
        guard var scores = try? model.scores(for: query), scores.count == items.count else { continue }
        scores.withUnsafeMutableBufferPointer { s in
          mask.withUnsafeBufferPointer { m in
            for i in 0..<s.count where m[i] || !s[i].isFinite { s[i] = -.infinity }
          }
        }
        for i in TopK.indices(of: scores, count: min(wanted - pool.count, scores.count)) where scores[i] > -.infinity {
          take(i, score: scores[i], source: .model)
        }
      case .similarToHistory:
        guard let provider = model as? any SimilarItemsProviding, !request.history.isEmpty else { continue }
        var summed: [Int: Float] = [:]
        for anchor in request.history.suffix(5) where items.index(of: anchor) != nil {
          guard let similar = try? provider.similarItems(to: anchor, count: wanted) else { continue }
          for entry in similar { if let i = items.index(of: entry.item) { summed[i, default: 0] += entry.score } }
        }
        for (i, score) in summed.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) where pool.count < wanted {
          take(i, score: score, source: .similarToHistory)
        }
      case .popular:
        for i in popularOrder where pool.count < wanted { take(Int(i), score: popularity[Int(i)], source: .popular) }
      case .recent:
        for id in recentOrder where pool.count < wanted {
          if let i = items.index(of: id) {
            take(i, score: 0, source: .recent)
          } else if admissibleOutsideModel(id), !pool.contains(where: { $0.item == id }) {
            pool.append(Candidate(item: id, score: 0, source: .recent))
          }
        }
      }
    }
    for rule in pipeline.rules { apply(rule, to: &pool) }
    return explore(pool, count: min(request.count, pool.count), seed: request.seed)
  }

  func apply(_ rule: Pipeline.Rule, to pool: inout [Candidate]) {
    let matching = pool.indices.filter { catalog[pool[$0].item, default: CatalogItem()].matches(rule.match, id: pool[$0].item) }
    guard !matching.isEmpty else { return }
    switch rule.action {
    case .bury:
      let set = Set(matching)
      pool = pool.indices.filter { !set.contains($0) }.map { pool[$0] } + matching.map { pool[$0] }
    case .pin:
      let set = Set(matching)
      var rest = pool.indices.filter { !set.contains($0) }.map { pool[$0] }
      rest.insert(contentsOf: matching.map { pool[$0] }, at: min(rule.position ?? 0, rest.count))
      pool = rest
    case .boost:
      let step = rule.positions ?? 1
      // Move each matching item up, best first, so boosted items keep their relative order.
      for (k, index) in matching.enumerated() {
        let target = max(k, index - step)
        let moved = pool.remove(at: index)
        pool.insert(moved, at: target)
      }
    }
  }

  /// Draws the slate from the ordered pool and the probability of each item in its slot.
  func explore(_ pool: [Candidate], count: Int, seed: UInt64) -> PipelineSlate {
    let exploration = pipeline.exploration
    guard count > 0 else { return PipelineSlate(items: []) }
    if exploration.method == .none || pool.count == 1 {
      return PipelineSlate(items: pool.prefix(count).map { .init(item: $0.item, score: $0.score, source: $0.source, propensity: 1) })
    }
    var generator = SeededGenerator(seed: seed, stream: 0x5E1EC7)
    let draw: (inout SeededGenerator) -> [Int]
    switch exploration.method {
    case .epsilonGreedy:
      draw = { g in Self.epsilonGreedySlate(poolSize: pool.count, count: count, epsilon: exploration.epsilon, &g) }
    case .thompson:
      let evidence = pool.map { popularityOf($0.item) }
      draw = { g in Self.thompsonSlate(evidence: evidence, count: count, scale: exploration.scale, &g) }
    case .none:
      draw = { _ in Array(0..<count) }
    }
    let shown = draw(&generator)
    // Marginal probability of each shown item in its slot: exact for ε-greedy's first slot,
    // otherwise the share of seeded Monte-Carlo slates (the shown one among them) that agree.
    var agree = [Int](repeating: 1, count: count)
    var sampler = SeededGenerator(seed: seed, stream: 0x5A3B1E)
    for _ in 1..<exploration.samples {
      let slate = draw(&sampler)
      for slot in 0..<count where slate[slot] == shown[slot] { agree[slot] += 1 }
    }
    let entries = (0..<count).map { slot -> PipelineSlate.Entry in
      var propensity = Double(agree[slot]) / Double(exploration.samples)
      if slot == 0, exploration.method == .epsilonGreedy {
        let uniform = exploration.epsilon / Double(pool.count)
        propensity = shown[0] == 0 ? 1 - exploration.epsilon + uniform : uniform
      }
      let candidate = pool[shown[slot]]
      return .init(item: candidate.item, score: candidate.score, source: candidate.source, propensity: propensity)
    }
    return PipelineSlate(items: entries)
  }

  func popularityOf(_ item: ItemID) -> Float {
    model.items.index(of: item).map { popularity[$0] } ?? 0
  }

  /// Slot by slot: the best remaining pool position with probability 1 − ε, else a uniform one.
  static func epsilonGreedySlate(poolSize: Int, count: Int, epsilon: Double, _ generator: inout SeededGenerator) -> [Int] {
    var remaining = Array(0..<poolSize)
    var slate: [Int] = []
    slate.reserveCapacity(count)
    for _ in 0..<count {
      let pick = generator.nextUniform() < epsilon ? generator.nextInt(below: remaining.count) : 0
      slate.append(remaining.remove(at: pick))
    }
    return slate
  }

  /// Rank scores (1 for the first, 0 for the last) perturbed by N(0, (scale / √(1 + n))²).
  static func thompsonSlate(evidence: [Float], count: Int, scale: Double, _ generator: inout SeededGenerator) -> [Int] {
    let n = evidence.count
    let drawn = (0..<n).map { i -> Float in
      let rank = n > 1 ? 1 - Double(i) / Double(n - 1) : 1
      return Float(rank + scale / (1 + Double(evidence[i])).squareRoot() * generator.nextGaussian())
    }
    return TopK.indices(of: drawn, count: count)
  }
}

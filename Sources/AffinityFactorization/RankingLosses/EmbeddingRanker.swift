public import AffinityCore
public import AffinityLinalg

/// What BPR and WARP learn: user and item vectors and item biases, scored `x_uᵀ y_i + b_i`.
///
/// Users not in the training data are folded in from their history as the mean of the
/// history items' vectors (LightFM-style feature-sum with identity features only), which
/// ranks items by their similarity to what the user consumed.
public struct EmbeddingTable: Sendable, Codable, Equatable {
  public let userFactors: DenseMatrix
  public let itemFactors: DenseMatrix
  public let itemBiases: [Float]

  public init(userFactors: DenseMatrix, itemFactors: DenseMatrix, itemBiases: [Float]) {
    self.userFactors = userFactors
    self.itemFactors = itemFactors
    self.itemBiases = itemBiases
  }

  /// `x_uᵀ y_i + b_i` for every item, for a user vector `x` of length `stride`.
  func scores(forVector x: [Float]) -> [Float] {
    let stride = itemFactors.stride
    var out = [Float](repeating: 0, count: itemFactors.rows)
    x.withUnsafeBufferPointer { xb in
      itemFactors.storage.withUnsafeBufferPointer { yb in
        guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
        for i in 0..<itemFactors.rows { out[i] = Vector.dot(xp, yp + i * stride, count: stride) + itemBiases[i] }
      }
    }
    return out
  }

  /// The user's row padded to the stride, or the mean of `history`'s item rows.
  func userVector(user: Int?, history: [Int]) -> [Float] {
    let stride = itemFactors.stride
    if let u = user { return Array(userFactors.storage[(u * stride)..<((u + 1) * stride)]) }
    var x = [Float](repeating: 0, count: stride)
    guard !history.isEmpty else { return x }
    for i in history { for f in 0..<stride { x[f] += itemFactors.storage[i * stride + f] } }
    let scale = 1 / Float(history.count)
    return x.map { $0 * scale }
  }

  /// Items nearest to `item` by cosine of their vectors.
  func similar(to i: Int, count: Int) -> [(Int, Float)] {
    let stride = itemFactors.stride
    var norms = [Float](repeating: 0, count: itemFactors.rows)
    itemFactors.storage.withUnsafeBufferPointer { yb in
      guard let y = yb.baseAddress else { return }
      for j in 0..<itemFactors.rows { norms[j] = Vector.dot(y + j * stride, y + j * stride, count: stride).squareRoot() }
    }
    var cosine = scores(forVector: Array(itemFactors.storage[(i * stride)..<((i + 1) * stride)]))
    for j in 0..<cosine.count {
      let d = norms[i] * norms[j]
      cosine[j] = d > 0 ? (cosine[j] - itemBiases[j]) / d : 0
    }
    cosine[i] = -.infinity
    return TopK.indices(of: cosine, count: count).map { ($0, cosine[$0]) }
  }
}

/// The sorted item list of each user, for checking "is this negative actually a positive?".
struct PositiveSets: Sendable {
  let starts: [Int]
  let items: [Int32]

  init(_ seen: SparseRowMatrix) {
    starts = seen.rowStarts
    var items = seen.columns
    for u in 0..<seen.rowCount { items[seen.range(ofRow: u)].sort() }
    self.items = items
  }

  @inline(__always)
  func contains(user u: Int, item i: Int32) -> Bool {
    var lo = starts[u]
    var hi = starts[u + 1]
    while lo < hi {
      let mid = (lo + hi) / 2
      let v = items[mid]
      if v == i { return true }
      if v < i { lo = mid + 1 } else { hi = mid }
    }
    return false
  }
}

/// Per-parameter Adagrad as LightFM applies it: accumulators start at 1 and the step uses the
/// accumulator before adding the current squared gradient.
enum Adagrad {
  /// `p ← p − lr/√G · g`, `G ← G + g²` with `g = scale · v + decay · p`.
  @inline(__always)
  static func step(
    _ p: UnsafeMutablePointer<Float>, _ squares: UnsafeMutablePointer<Float>, scaled: Float,
    by v: UnsafePointer<Float>, decay: Float, lr: Float, count: Int
  ) {
    // count is a row stride, a multiple of 8 (padding stays zero: g = 0 there).
    let rp = UnsafeMutableRawPointer(p)
    let rs = UnsafeMutableRawPointer(squares)
    let rv = UnsafeRawPointer(v)
    let a = SIMD8<Float>(repeating: scaled)
    let d = SIMD8<Float>(repeating: decay)
    let l = SIMD8<Float>(repeating: lr)
    var f = 0
    while f + 8 <= count {
      let pv = rp.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let sv = rs.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let g = a * rv.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self) + d * pv
      rp.storeBytes(of: pv - l / sv.squareRoot() * g, toByteOffset: f * 4, as: SIMD8<Float>.self)
      rs.storeBytes(of: sv + g * g, toByteOffset: f * 4, as: SIMD8<Float>.self)
      f += 8
    }
    while f < count {
      let g = scaled * v[f] + decay * p[f]
      p[f] -= lr / squares[f].squareRoot() * g
      squares[f] += g * g
      f += 1
    }
  }

  /// One scalar parameter.
  @inline(__always)
  static func step(_ p: inout Float, _ square: inout Float, gradient g: Float, lr: Float) {
    p -= lr / square.squareRoot() * g
    square += g * g
  }
}

/// A ranking model whose scores are `x_uᵀ y_i + b_i` from an ``EmbeddingTable``: BPR, WARP and
/// logistic MF share their scoring, fold-in and similar items through it.
public protocol EmbeddingRecommender: Recommender, SimilarItemsProviding, ColdStartCapable {
  var embeddings: EmbeddingTable { get }
}

extension EmbeddingRecommender {
  /// The user's vector if known; else the mean of the history items' vectors.
  public func scores(for query: RecommendationQuery) throws(QueryError) -> [Float] {
    if let user = query.user, let u = users.index(of: user) {
      return embeddings.scores(forVector: embeddings.userVector(user: u, history: []))
    }
    return try scores(forHistory: query.history)
  }

  public func scores(forHistory history: [ItemID]) throws(QueryError) -> [Float] {
    embeddings.scores(forVector: embeddings.userVector(user: nil, history: history.compactMap { items.index(of: $0) }))
  }

  public func similarItems(to item: ItemID, count: Int) throws(QueryError) -> [ScoredItem] {
    guard let i = items.index(of: item) else { throw .unknownItem(item) }
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    return embeddings.similar(to: i, count: count).map { ScoredItem(item: items[$0.0], score: $0.1) }
  }
}

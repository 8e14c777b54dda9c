public import AffinityCore
public import AffinityLinalg
import Foundation

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
package struct PositiveSets: Sendable {
  let starts: [Int]
  let items: [Int32]

  package init(_ seen: SparseRowMatrix) {
    starts = seen.rowStarts
    var items = seen.columns
    for u in 0..<seen.rowCount { items[seen.range(ofRow: u)].sort() }
    self.items = items
  }

  @inline(__always)
  package func contains(user u: Int, item i: Int32) -> Bool {
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

/// How the ranking losses turn a gradient into a step.
public enum OptimizerKind: String, Sendable, Codable, Hashable, CaseIterable {
  /// Plain stochastic gradient descent.
  case sgd
  /// Per-parameter Adagrad with accumulators starting at 1, as LightFM applies it.
  case adagrad
  /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) with bias correction counted per row, the "lazy" Adam of
  /// sparse embeddings: a row's moments and step count move only when the row is updated.
  case adam
}

/// Optimizer state laid out like a parameter buffer of `rows × width` values.
package struct OptimizerState: Sendable {
  let kind: OptimizerKind
  let width: Int
  var first: [Float]
  var second: [Float]
  var steps: [Int32]

  package init(_ kind: OptimizerKind, rows: Int, width: Int) {
    self.kind = kind
    self.width = width
    let count = rows * width
    switch kind {
    case .sgd:
      first = []
      second = []
      steps = []
    case .adagrad:
      first = [Float](repeating: 1, count: count)
      second = []
      steps = []
    case .adam:
      first = [Float](repeating: 0, count: count)
      second = [Float](repeating: 0, count: count)
      steps = [Int32](repeating: 0, count: rows)
    }
  }

  /// Raw access for a training loop; the pointers live as long as `body` runs.
  package mutating func withPointers<R>(_ body: (OptimizerPointers) -> R) -> R {
    let kind = self.kind
    let width = self.width
    return first.withUnsafeMutableBufferPointer { f in
      second.withUnsafeMutableBufferPointer { s in
        steps.withUnsafeMutableBufferPointer { t in
          body(OptimizerPointers(kind: kind, width: width, first: f.baseAddress, second: s.baseAddress, steps: t.baseAddress))
        }
      }
    }
  }
}

/// The optimizer steps on raw rows. Rows written by one thread only (the stratified schedule
/// guarantees it), so the state needs no locking.
package struct OptimizerPointers: @unchecked Sendable {
  let kind: OptimizerKind
  let width: Int
  let first: UnsafeMutablePointer<Float>?
  let second: UnsafeMutablePointer<Float>?
  let steps: UnsafeMutablePointer<Int32>?

  /// `p ← p − step(g)` for row `row` (`width` values, a multiple of 8) with
  /// `g = scaled · v + decay · p`.
  @inline(__always)
  package func step(
    row: Int, _ p: UnsafeMutablePointer<Float>, scaled: Float, by v: UnsafePointer<Float>, decay: Float, lr: Float
  ) {
    typealias V8 = SIMD8<Float>
    let rp = UnsafeMutableRawPointer(p)
    let rv = UnsafeRawPointer(v)
    let a = V8(repeating: scaled)
    let d = V8(repeating: decay)
    switch kind {
    case .sgd:
      let l = V8(repeating: lr)
      for f in stride(from: 0, to: width, by: 8) {
        let pv = rp.loadUnaligned(fromByteOffset: f * 4, as: V8.self)
        let g = a * rv.loadUnaligned(fromByteOffset: f * 4, as: V8.self) + d * pv
        rp.storeBytes(of: pv - l * g, toByteOffset: f * 4, as: V8.self)
      }
    case .adagrad:
      guard let first else { return }
      let rs = UnsafeMutableRawPointer(first + row * width)
      let l = V8(repeating: lr)
      for f in stride(from: 0, to: width, by: 8) {
        let pv = rp.loadUnaligned(fromByteOffset: f * 4, as: V8.self)
        let sv = rs.loadUnaligned(fromByteOffset: f * 4, as: V8.self)
        let g = a * rv.loadUnaligned(fromByteOffset: f * 4, as: V8.self) + d * pv
        rp.storeBytes(of: pv - l / sv.squareRoot() * g, toByteOffset: f * 4, as: V8.self)
        rs.storeBytes(of: sv + g * g, toByteOffset: f * 4, as: V8.self)
      }
    case .adam:
      guard let first, let second, let steps else { return }
      let (alpha, b1, b2) = adamRates(row: row, lr: lr, steps: steps)
      let rm = UnsafeMutableRawPointer(first + row * width)
      let rs = UnsafeMutableRawPointer(second + row * width)
      let epsilon = V8(repeating: 1e-8)
      for f in stride(from: 0, to: width, by: 8) {
        let pv = rp.loadUnaligned(fromByteOffset: f * 4, as: V8.self)
        let g = a * rv.loadUnaligned(fromByteOffset: f * 4, as: V8.self) + d * pv
        let m = b1 * rm.loadUnaligned(fromByteOffset: f * 4, as: V8.self) + (1 - b1) * g
        let s = b2 * rs.loadUnaligned(fromByteOffset: f * 4, as: V8.self) + (1 - b2) * g * g
        rm.storeBytes(of: m, toByteOffset: f * 4, as: V8.self)
        rs.storeBytes(of: s, toByteOffset: f * 4, as: V8.self)
        rp.storeBytes(of: pv - alpha * m / (s.squareRoot() + epsilon), toByteOffset: f * 4, as: V8.self)
      }
    }
  }

  /// One scalar parameter (a bias), row `row` of a width-1 state.
  @inline(__always)
  package func step(row: Int, _ p: UnsafeMutablePointer<Float>, gradient g: Float, lr: Float) {
    switch kind {
    case .sgd:
      p.pointee -= lr * g
    case .adagrad:
      guard let first else { return }
      p.pointee -= lr / first[row].squareRoot() * g
      first[row] += g * g
    case .adam:
      guard let first, let second, let steps else { return }
      let (alpha, b1, b2) = adamRates(row: row, lr: lr, steps: steps)
      first[row] = b1 * first[row] + (1 - b1) * g
      second[row] = b2 * second[row] + (1 - b2) * g * g
      p.pointee -= alpha * first[row] / (second[row].squareRoot() + 1e-8)
    }
  }

  /// Counts the row's step and returns the bias-corrected step size and the decay rates.
  @inline(__always)
  private func adamRates(row: Int, lr: Float, steps: UnsafeMutablePointer<Int32>) -> (Float, Float, Float) {
    let b1: Float = 0.9
    let b2: Float = 0.999
    steps[row] &+= 1
    let t = Float(steps[row])
    return (lr * (1 - Foundation.pow(b2, t)).squareRoot() / (1 - Foundation.pow(b1, t)), b1, b2)
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

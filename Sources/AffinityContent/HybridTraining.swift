import AffinityCore
import AffinityLinalg

/// One side of a training run: its features, positives and the blocks it learns.
struct HybridBlock {
  /// X (`ids × d`) and its transpose.
  let features: SparseRowMatrix
  let byFeature: SparseRowMatrix
  /// This side × the other side, values = confidences `c`.
  let positives: SparseRowMatrix
  /// The ids with at least one positive: the only ones in the loss.
  let active: [Int]
  /// Every row's identity column (−1: none), and which columns are identity features.
  let identityColumns: [Int32]
  let isIdentityColumn: [Bool]
  /// λ per row of the embeddings (the per-id λ for identity rows) and the per-id λ.
  let embeddingRegularization: [Float]
  let regularization: Float
  /// W or H (`d × k_f`), U or V (`ids × k_c`).
  var embeddings: DenseMatrix
  var factors: DenseMatrix

  init(
    side: HybridSide, positives: SparseRowMatrix, regularization: Float, featureRegularization: Float,
    embeddings: DenseMatrix, factors: DenseMatrix
  ) {
    features = side.rows
    byFeature = side.rows.transposed()
    self.positives = positives
    active = (0..<positives.rowCount).filter { positives.count(ofRow: $0) > 0 }
    identityColumns = side.identityColumns
    var isIdentity = [Bool](repeating: false, count: side.dimension)
    for column in side.identityColumns where column >= 0 { isIdentity[Int(column)] = true }
    isIdentityColumn = isIdentity
    embeddingRegularization = isIdentity.map { $0 ? regularization : featureRegularization }
    self.regularization = regularization
    self.embeddings = embeddings
    self.factors = factors
  }

  /// `a_r = [x_rᵀE | f_r]` for every row `r`: this side's vectors in the score `a_iᵀb_j`.
  var vectors: DenseMatrix { HybridTraining.combined(features, embeddings: embeddings, factors: factors) }

  var isFinite: Bool { embeddings.isFinite && factors.isFinite }

  /// `Σ λ_r ‖e_r‖²` over the embeddings plus `λ ‖f_r‖²` over the per-id vectors.
  var ridge: Double {
    var sum = 0.0
    for r in 0..<embeddings.rows {
      var norm = 0.0
      for f in 0..<embeddings.columns { norm += Double(embeddings[r, f]) * Double(embeddings[r, f]) }
      sum += Double(embeddingRegularization[r]) * norm
    }
    var norm = 0.0
    for value in factors.storage { norm += Double(value) * Double(value) }
    return sum + Double(regularization) * norm
  }
}

/// One training run of ``HybridFactorization``: the two sides and the alternating steps.
///
/// Rows are solved in fixed chunks that write only their own rows (an identity row belongs to
/// one id), and every sum over rows is taken in row order or by
/// ``DenseKernels/gram(_:regularization:parallel:)``, which reduces in chunk order, so the
/// result is the same bytes at any thread count.
struct HybridTraining {
  var users: HybridBlock
  var items: HybridBlock
  let steps: Int
  let parallel: Bool

  /// The positives of `data` as a user × item matrix of confidences.
  static func positives(
    _ data: InteractionData, configuration c: HybridFactorization.Configuration
  ) -> SparseRowMatrix {
    var rows: [Int32] = []
    var columns: [Int32] = []
    var values: [Float] = []
    for k in 0..<data.count {
      guard let confidence = c.confidence(of: data.values[k]) else { continue }
      rows.append(data.userIndices[k])
      columns.append(data.itemIndices[k])
      values.append(confidence)
    }
    return SparseRowMatrix(
      rowCount: data.users.count, columnCount: data.items.count, rows: rows, columns: columns, values: values)
  }

  init(
    configuration c: HybridFactorization.Configuration, userSide: HybridSide, itemSide: HybridSide,
    byUser: SparseRowMatrix, userEmbeddings: DenseMatrix, itemEmbeddings: DenseMatrix, userFactors: DenseMatrix,
    itemFactors: DenseMatrix, parallel: Bool
  ) {
    users = HybridBlock(
      side: userSide, positives: byUser, regularization: c.userRegularization,
      featureRegularization: c.userFeatureRegularization, embeddings: userEmbeddings, factors: userFactors)
    items = HybridBlock(
      side: itemSide, positives: byUser.transposed(), regularization: c.itemRegularization,
      featureRegularization: c.itemFeatureRegularization, embeddings: itemEmbeddings, factors: itemFactors)
    steps = c.cgSteps
    self.parallel = parallel
  }

  /// A fresh run: every block uniform in [0, 0.01) (implicit's initialisation), the per-id
  /// vectors of ids without positives zero.
  init(
    configuration c: HybridFactorization.Configuration, userSide: HybridSide, itemSide: HybridSide,
    byUser: SparseRowMatrix, seed: UInt64, parallel: Bool
  ) {
    func uniform(rows: Int, columns: Int, stream: UInt64, keeps: (Int) -> Bool = { _ in true }) -> DenseMatrix {
      var generator = SeededGenerator(seed: seed, stream: stream)
      return DenseMatrix(rows: rows, columns: columns) { r, _ in
        let value = Float(generator.nextUniform()) * 0.01
        return keeps(r) ? value : 0
      }
    }
    let byItem = byUser.transposed()
    self.init(
      configuration: c, userSide: userSide, itemSide: itemSide, byUser: byUser,
      userEmbeddings: uniform(rows: userSide.dimension, columns: c.featureEmbeddingSize, stream: 21),
      itemEmbeddings: uniform(rows: itemSide.dimension, columns: c.featureEmbeddingSize, stream: 22),
      userFactors: uniform(rows: byUser.rowCount, columns: c.embeddingSize, stream: 23) { byUser.count(ofRow: $0) > 0 },
      itemFactors: uniform(rows: byItem.rowCount, columns: c.embeddingSize, stream: 24) { byItem.count(ofRow: $0) > 0 },
      parallel: parallel)
  }

  var isFinite: Bool { users.isFinite && items.isFinite }

  /// One epoch: the user side with the item side fixed, then the reverse. Returns the loss.
  mutating func epoch() -> Double {
    Self.step(&users, against: items, rows: users.active, featureSteps: steps, parallel: parallel)
    Self.step(&items, against: users, rows: items.active, featureSteps: steps, parallel: parallel)
    return loss()
  }

  /// Re-solves the per-id vectors (and identity rows) of `rows` of users against the items.
  mutating func solveUsers(_ rows: [Int]) {
    Self.step(&users, against: items, rows: rows, featureSteps: 0, parallel: parallel)
  }

  /// Re-solves the per-id vectors (and identity rows) of `rows` of items against the users.
  mutating func solveItems(_ rows: [Int]) {
    Self.step(&items, against: users, rows: rows, featureSteps: 0, parallel: parallel)
  }

  /// The item vectors and their Gram over the items with positives, for serving.
  func serving() -> (vectors: DenseMatrix, gram: DenseMatrix) {
    let vectors = items.vectors
    return (vectors, Self.gram(of: vectors, rows: items.active, parallel: parallel))
  }

  /// Solves `rows` of `side` exactly for their per-id parts with `other` fixed, then takes
  /// `featureSteps` conjugate-gradient steps on the side's shared feature embeddings.
  static func step(
    _ side: inout HybridBlock, against other: HybridBlock, rows: [Int], featureSteps: Int, parallel: Bool
  ) {
    let fixed = other.vectors
    let gram = gram(of: fixed, rows: other.active, parallel: parallel)
    var own = side.vectors
    solveRows(rows, of: &side, own: &own, fixed: fixed, gram: gram, parallel: parallel)
    if featureSteps > 0 {
      HybridTraining.featureSteps(
        side: &side, own: own, fixed: fixed, gram: gram, steps: featureSteps, parallel: parallel)
    }
  }

  /// The loss: `Σ_ij c_ij (p_ij − a_iᵀb_j)²` over active users and items, as
  /// `Σ_i a_iᵀGa_i + Σ_(i,j) positive [c (1 − s)² − s²]`, plus every ridge term.
  func loss() -> Double {
    let a = users.vectors
    let (b, g) = serving()
    let s = a.stride
    let width = a.columns
    let positives = users.positives
    let active = users.active
    let partials: [Double] = a.storage.withUnsafeBufferPointer { ab in
      b.storage.withUnsafeBufferPointer { bb in
        g.storage.withUnsafeBufferPointer { gb in
          guard let ap = ab.baseAddress, let bp = bb.baseAddress, let gp = gb.baseAddress else { return [] }
          return Parallel.mapChunks(count: active.count, chunkCount: 16, minimumParallelCount: parallel ? 128 : .max) {
            range, _ in
            var sum = 0.0
            for position in range {
              let row = active[position]
              let ai = ap + row * s
              for r in 0..<width { sum += Double(ai[r]) * Double(Vector.dot(gp + r * s, ai, count: width)) }
              for p in positives.range(ofRow: row) {
                let score = Double(Vector.dot(bp + Int(positives.columns[p]) * s, ai, count: width))
                let c = Double(positives.values[p])
                sum += c * (1 - score) * (1 - score) - score * score
              }
            }
            return sum
          }
        }
      }
    }
    return partials.reduce(0, +) + users.ridge + items.ridge
  }
}

import AffinityCore
import AffinityLinalg

/// Shared pieces of the factor models: initialisation, the rating loss, the divergence check.
enum FactorTraining {
  /// A `rows × k` matrix with entries drawn from N(mean, std²), one seeded stream per matrix.
  static func gaussian(rows: Int, columns: Int, mean: Float, standardDeviation: Float, seed: UInt64, stream: UInt64)
    -> DenseMatrix
  {
    var generator = SeededGenerator(seed: seed, stream: stream)
    var matrix = DenseMatrix(rows: rows, columns: columns)
    for r in 0..<rows {
      for c in 0..<columns {
        matrix[r, c] = mean + standardDeviation * Float(generator.nextGaussian())
      }
    }
    return matrix
  }

  /// A `rows × k` matrix with entries uniform in `low..<high`.
  static func uniform(rows: Int, columns: Int, low: Float, high: Float, seed: UInt64, stream: UInt64)
    -> DenseMatrix
  {
    var generator = SeededGenerator(seed: seed, stream: stream)
    var matrix = DenseMatrix(rows: rows, columns: columns)
    for r in 0..<rows {
      for c in 0..<columns { matrix[r, c] = low + (high - low) * Float(generator.nextUniform()) }
    }
    return matrix
  }

  /// User and item vectors uniform in `[−1/(2k), 1/(2k))`, LightFM's and implicit's BPR start.
  static func initialEmbeddings(_ data: InteractionData, embeddingSize k: Int, seed: UInt64) -> (DenseMatrix, DenseMatrix) {
    let half = 0.5 / Float(k)
    return (
      uniform(rows: data.users.count, columns: k, low: -half, high: half, seed: seed, stream: 1),
      uniform(rows: data.items.count, columns: k, low: -half, high: half, seed: seed, stream: 2)
    )
  }

  /// The order in which one epoch visits the ratings: positions into the user × item CSR.
  ///
  /// Users come in a fresh seeded order and each user's ratings in a seeded order, so the
  /// user's factor row stays in cache while their ratings are visited (at 5M ratings a fully
  /// random order was 5× slower) and the visit order still changes every epoch.
  static func epochOrder(_ ratings: SparseRowMatrix, generator: inout SeededGenerator) -> [Int32] {
    var users = Array(0..<ratings.rowCount)
    generator.shuffle(&users)
    var order = [Int32]()
    order.reserveCapacity(ratings.nonZeroCount)
    var block: [Int32] = []
    for u in users {
      block.removeAll(keepingCapacity: true)
      for p in ratings.range(ofRow: u) { block.append(Int32(p)) }
      generator.shuffle(&block)
      order.append(contentsOf: block)
    }
    return order
  }

  /// The row of every stored position of `matrix`.
  static func rowOfPosition(_ matrix: SparseRowMatrix) -> [Int32] {
    var rows = [Int32](repeating: 0, count: matrix.nonZeroCount)
    for r in 0..<matrix.rowCount { for p in matrix.range(ofRow: r) { rows[p] = Int32(r) } }
    return rows
  }
}

/// The schedule of stratified SGD: each user's ratings grouped by the block of their item.
///
/// Users and items fall in ``blocks`` contiguous index ranges (contiguous, so that biases of
/// neighbouring indices, which share a cache line, are written by one thread). Stratum `s` pairs user
/// block `b` with item block `(b + s) % blocks`, so the blocks of a stratum touch disjoint rows
/// of both factor matrices and can run in parallel without changing the result.
///
/// Gemulla, Nijkamp, Haas, Sismanis. "Large-Scale Matrix Factorization with Distributed
/// Stochastic Gradient Descent." KDD 2011.
struct StratifiedSchedule: Sendable {
  /// Fixed, never derived from the core count, so results do not depend on the machine.
  let blocks = 4
  /// CSR positions, grouped by user, then by item block, input order within a group.
  let positions: [Int32]
  /// `users · blocks + 1` offsets into ``positives``.
  let starts: [Int]

  let userCount: Int
  let itemCount: Int

  init(_ ratings: SparseRowMatrix, itemCount: Int) {
    self.userCount = ratings.rowCount
    self.itemCount = itemCount
    let blocks = self.blocks
    var positions = [Int32]()
    positions.reserveCapacity(ratings.nonZeroCount)
    var starts = [Int]()
    starts.reserveCapacity(ratings.rowCount * blocks + 1)
    for u in 0..<ratings.rowCount {
      for b in 0..<blocks {
        starts.append(positions.count)
        for p in ratings.range(ofRow: u) where Int(ratings.columns[p]) * blocks / max(itemCount, 1) == b {
          positions.append(Int32(p))
        }
      }
    }
    starts.append(positions.count)
    self.positions = positions
    self.starts = starts
  }

  func userBlock(_ u: Int) -> Int { u * blocks / max(userCount, 1) }

  func range(user u: Int, itemBlock b: Int) -> Range<Int> {
    starts[u * blocks + b]..<starts[u * blocks + b + 1]
  }
}

/// The stratified schedule of the pairwise ranking losses (BPR, WARP): one epoch is `blocks`
/// strata; in stratum `s`, user block `b` trains on its positives whose item lies in item block
/// `(b + s) % blocks` and draws its negatives from that item block only, so the blocks of a
/// stratum touch disjoint users and items and run on all cores with the same result as on one.
///
/// Users fall in contiguous index ranges (visited in shuffled runs of 32); items are dealt to blocks by a fresh seeded
/// permutation every epoch, so each block's negatives are a uniform sample of the catalogue and
/// every pair of items meets over the epochs. Each (epoch, stratum, block) has its own random
/// stream; nothing depends on the thread count.
struct RankingStrata {
  /// Derived from the catalogue, never from the core count: up to 8 blocks (which keep two
  /// cores evenly busy) with at least 512 items each, so each block's negatives are a fair sample.
  let blocks: Int
  /// The items of each block, for drawing negatives.
  let itemsOfBlock: [[Int32]]
  /// The item of every positive, grouped by user, then by item block.
  let positives: [Int32]
  /// `users · blocks + 1` offsets into ``positives``.
  let starts: [Int]
  /// Each user block's users, in a seeded order.
  let usersOfBlock: [[Int]]

  init(_ ratings: SparseRowMatrix, itemCount: Int, generator: inout SeededGenerator) {
    let blocks = min(8, max(1, itemCount / 512))
    self.blocks = blocks
    var permutation = Array(0..<itemCount)
    generator.shuffle(&permutation)
    var blockOf = [UInt8](repeating: 0, count: itemCount)
    var itemsOfBlock = [[Int32]](repeating: [], count: blocks)
    for (rank, item) in permutation.enumerated() {
      let b = rank * blocks / max(itemCount, 1)
      blockOf[item] = UInt8(b)
      itemsOfBlock[b].append(Int32(item))
    }
    var counts = [Int](repeating: 0, count: ratings.rowCount * blocks + 1)
    for u in 0..<ratings.rowCount {
      for p in ratings.range(ofRow: u) { counts[u * blocks + Int(blockOf[Int(ratings.columns[p])]) + 1] += 1 }
    }
    for n in 1..<counts.count { counts[n] += counts[n - 1] }
    var next = counts
    var positives = [Int32](repeating: 0, count: ratings.nonZeroCount)
    for u in 0..<ratings.rowCount {
      for p in ratings.range(ofRow: u) {
        let slot = u * blocks + Int(blockOf[Int(ratings.columns[p])])
        positives[next[slot]] = ratings.columns[p]
        next[slot] += 1
      }
    }
    // Each user block is a contiguous index range visited in runs of 32 consecutive users, the
    // runs in a seeded order: a user comes back once per stratum, and consecutive rows of the
    // factor, positive and CSR arrays make those returns cheap (a fully shuffled order made
    // BPR 1.5× slower at 5M interactions).
    let userCount = ratings.rowCount
    self.usersOfBlock = (0..<blocks).map { b in
      let lower = userCount * b / blocks
      let upper = userCount * (b + 1) / blocks
      var runs = Array(stride(from: lower, to: upper, by: 32))
      generator.shuffle(&runs)
      return runs.flatMap { $0..<min($0 + 32, upper) }
    }
    self.itemsOfBlock = itemsOfBlock
    self.positives = positives
    self.starts = counts
  }

  /// Where user `u`'s positives in item block `b` are in ``positives``.
  func range(user u: Int, itemBlock b: Int) -> Range<Int> {
    starts[u * blocks + b]..<starts[u * blocks + b + 1]
  }

  /// Runs one epoch: for every stratum, every user block in parallel (when `parallel`), calling
  /// `step(user, item, userPositivesInBlock, negativeCandidates, &generator)` for each of
  /// the block's positives (a user's positives in a seeded order); `userPositivesInBlock` is a
  /// range of ``positives``. Returns the sum of `step`'s results in a fixed order.
  @inline(__always)
  func runEpoch(
    epoch: Int, seed: UInt64, parallel: Bool,
    step: (Int, Int, Range<Int>, UnsafeBufferPointer<Int32>, inout SeededGenerator) -> Int
  ) -> Int {
    var total = 0
    for stratum in 0..<blocks {
      let results = Parallel.mapChunks(
        count: blocks, chunkCount: blocks, minimumParallelCount: parallel ? 0 : Int.max
      ) { _, userBlock -> Int in
        let itemBlock = (userBlock + stratum) % blocks
        var generator = SeededGenerator(
          seed: seed, stream: 0x5157_0000 + UInt64(epoch) * 64 + UInt64(stratum * blocks + userBlock))
        var local: [Int32] = []
        var sum = 0
        itemsOfBlock[itemBlock].withUnsafeBufferPointer { candidates in
          guard !candidates.isEmpty else { return }
          for u in usersOfBlock[userBlock] {
            let range = self.range(user: u, itemBlock: itemBlock)
            guard !range.isEmpty else { continue }
            local.removeAll(keepingCapacity: true)
            local.append(contentsOf: positives[range])
            generator.shuffle(&local)
            for item in local { sum += step(u, Int(item), range, candidates, &generator) }
          }
        }
        return sum
      }
      total += results.reduce(0, +)
    }
    return total
  }
}

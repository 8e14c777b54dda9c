public import AffinityCore
import AffinityLinalg

extension ImplicitALS {
  /// Top-`count` lists for many users: blocks of 64 users are scored with one packed, tiled
  /// `X_block Yᵀ` product, then each row is masked and selected with a bounded heap.
  ///
  /// Unknown users get the fold-in of an empty history (all zero scores, so the most
  /// frequent index order); blocks run on all cores and the result does not depend on it.
  public func recommend(users requested: [UserID], count: Int, excludesHistory: Bool) throws(QueryError)
    -> [[ScoredItem]]
  {
    guard (1...10_000).contains(count) else { throw .invalidCount(count) }
    let block = 64
    let n = items.count
    let stride = userFactors.stride
    let indices = requested.map { users.index(of: $0) }
    let blocks = (requested.count + block - 1) / block
    let packed = PackedFactors(itemFactors)
    let width = packed.paddedRows
    // 32 fixed chunks of blocks: each allocates its score buffer once.
    let results = Parallel.mapChunks(count: blocks, chunkCount: 32, minimumParallelCount: 2) {
      range, _ -> [[ScoredItem]] in
      var lists: [[ScoredItem]] = []
      var gathered = [Float](repeating: 0, count: block * stride)
      var scores = [Float](repeating: 0, count: block * width)
      for b in range {
        let lower = b * block
        let upper = min(requested.count, lower + block)
        let m = upper - lower
        for r in 0..<m {
          for f in 0..<stride {
            gathered[r * stride + f] = indices[lower + r].map { userFactors.storage[$0 * stride + f] } ?? 0
          }
        }
        gathered.withUnsafeBufferPointer { xb in
          scores.withUnsafeMutableBufferPointer { sb in
            guard let x = xb.baseAddress, let out = sb.baseAddress else { return }
            DenseKernels.scores(users: x, userCount: m, stride: stride, packed: packed, out: out)
            for r in 0..<m {
              let row = out + r * width
              if excludesHistory, let u = indices[lower + r] {
                for p in seen.range(ofRow: u) { row[Int(seen.columns[p])] = -.infinity }
              }
              let top = TopK.indices(of: UnsafeBufferPointer(start: row, count: n), count: count)
              lists.append(top.map { ScoredItem(item: items[$0], score: row[$0]) })
            }
          }
        }
      }
      return lists
    }
    return results.flatMap { $0 }
  }
}

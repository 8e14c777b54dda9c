public import AffinityCore
import AffinityLinalg
import Foundation

extension ImplicitALS {
  public static func fit(
    _ data: InteractionData, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> ImplicitALS {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    let c = configuration
    let k = c.embeddingSize
    // implicit initialises both sides uniform in [0, 0.01).
    var x = FactorTraining.uniform(
      rows: data.users.count, columns: k, low: 0, high: 0.01, seed: options.seed, stream: 1)
    var y = FactorTraining.uniform(
      rows: data.items.count, columns: k, low: 0, high: 0.01, seed: options.seed, stream: 2)
    let (byUser, byItem) = confidenceMatrices(data, configuration: c)
    for epoch in 1...c.epochs {
      let itemGram = DenseKernels.gram(y, regularization: c.regularization, parallel: options.isParallel)
      halfStep(solving: &x, fixed: y, gram: itemGram, rows: byUser, configuration: c, parallel: options.isParallel)
      let userGram = DenseKernels.gram(x, regularization: c.regularization, parallel: options.isParallel)
      halfStep(solving: &y, fixed: x, gram: userGram, rows: byItem, configuration: c, parallel: options.isParallel)
      guard x.isFinite, y.isFinite else { throw .diverged(model: "ImplicitALS", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs)
    }
    return ImplicitALS(
      configuration: c, index: TrainingIndex(data), userFactors: x, itemFactors: y,
      itemGram: DenseKernels.gram(y, regularization: c.regularization, parallel: options.isParallel),
      confidence: byUser)
  }

  /// `c = 1 + α w` or `1 + α log(1 + w/ε)`.
  static func confidence(of w: Float, configuration c: Configuration) -> Float {
    switch c.confidenceScaling {
    case .linear: 1 + c.confidenceWeight * w
    case .log: 1 + c.confidenceWeight * Foundation.log(1 + w / c.logEpsilon)
    }
  }

  /// Confidences `c_ui` of every pair, as user × item and item × user CSR.
  static func confidenceMatrices(_ data: InteractionData, configuration c: Configuration)
    -> (SparseRowMatrix, SparseRowMatrix)
  {
    var weights = c.usesValues ? data.values.map { max($0, 0) } : [Float](repeating: 1, count: data.count)
    switch c.weighting {
    case .none: break
    case .bm25, .tfidf:
      // implicit's bm25_weight / tfidf_weight over the user × item matrix.
      let n = Double(data.users.count)
      var itemCounts = [Double](repeating: 0, count: data.items.count)
      for p in 0..<data.count { itemCounts[Int(data.itemIndices[p])] += 1 }
      let idf = itemCounts.map { Float(Foundation.log(n) - Foundation.log1p($0)) }
      if c.weighting == .tfidf {
        for p in 0..<data.count { weights[p] = weights[p].squareRoot() * idf[Int(data.itemIndices[p])] }
      } else {
        var rowSums = [Double](repeating: 0, count: data.users.count)
        for p in 0..<data.count { rowSums[Int(data.userIndices[p])] += Double(weights[p]) }
        let average = rowSums.reduce(0, +) / max(1, Double(rowSums.count))
        for p in 0..<data.count {
          let lengthNorm = Float((1 - Double(c.bm25B)) + Double(c.bm25B) * rowSums[Int(data.userIndices[p])] / average)
          weights[p] = weights[p] * (c.bm25K1 + 1) / (c.bm25K1 * lengthNorm + weights[p]) * idf[Int(data.itemIndices[p])]
        }
      }
    }
    let confidences = weights.map { confidence(of: $0, configuration: c) }
    // Reuse the data's CSR structure: only the values are new (saves 16 bytes per interaction).
    let byUser = data.byUser.withValues(data.byUser.entries.map { confidences[Int($0)] })
    let byItem = data.byItem.withValues(data.byItem.entries.map { confidences[Int($0)] })
    return (byUser, byItem)
  }

  /// Re-solves every row of `solving` (or only `onlyRows`) against the fixed factors.
  ///
  /// Rows are split into fixed chunks and every row's solve reads only the fixed side, so the
  /// result does not depend on how many threads run the chunks.
  static func halfStep(
    solving target: inout DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix, rows: SparseRowMatrix,
    configuration c: Configuration, parallel: Bool, onlyRows: [Int]? = nil
  ) {
    let k = c.embeddingSize
    let stride = target.stride
    let rowList = onlyRows
    let count = rowList?.count ?? target.rows
    target.storage.withUnsafeMutableBufferPointer { tb in
      guard let targetBase = tb.baseAddress else { return }
      let out = UncheckedBox(targetBase)
      fixed.storage.withUnsafeBufferPointer { fb in
        gram.storage.withUnsafeBufferPointer { gb in
          rows.columns.withUnsafeBufferPointer { cb in
            rows.values.withUnsafeBufferPointer { vb in
              guard let y = fb.baseAddress, let g = gb.baseAddress, let columns = cb.baseAddress,
                let confidences = vb.baseAddress
              else { return }
              Parallel.forEachChunk(
                count: count, chunkCount: 64, minimumParallelCount: parallel ? 256 : Int.max
              ) { range, _ in
                var workspace = ALSSolver.Workspace(stride: stride)
                for position in range {
                  let row = rowList?[position] ?? position
                  let x = out.value + row * stride
                  let start = rows.rowStarts[row]
                  let n = rows.rowStarts[row + 1] - start
                  if n == 0 {
                    for f in 0..<stride { x[f] = 0 }
                    continue
                  }
                  switch c.solver {
                  case .conjugateGradient:
                    ALSSolver.conjugateGradient(
                      x: x, gram: g, factors: y, columns: columns + start, confidences: confidences + start,
                      count: n, k: k, stride: stride, steps: c.cgSteps, workspace: &workspace)
                  case .cholesky:
                    ALSSolver.cholesky(
                      x: x, gram: g, factors: y, columns: columns + start, confidences: confidences + start,
                      count: n, k: k, stride: stride, workspace: &workspace)
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// A copy updated with `interactions` without a full refit (implicit's `partial_fit_users` /
  /// `partial_fit_items`): new users and items get rows; the users and items the new
  /// interactions touch are re-solved (users, then items, then users again) against the
  /// other side; every other row is kept.
  public func updated(with interactions: [Interaction], options: FitOptions) throws(FitError) -> ImplicitALS {
    var builder = InteractionData.Builder(source: "updated training data", users: users, items: items)
    for u in 0..<seen.rowCount {
      for p in seen.range(ofRow: u) {
        builder.append(user: users[u], item: items[Int(seen.columns[p])], value: seen.values[p], timestamp: 0)
      }
    }
    for interaction in interactions {
      do { try builder.append(interaction) } catch { throw .invalidData(error) }
    }
    let data: InteractionData
    do { data = try builder.build() } catch { throw .invalidData(error) }
    let c = configuration
    // Existing rows keep their index (the vocabularies grow at the end).
    var x = DenseMatrix(rows: data.users.count, columns: c.embeddingSize)
    var y = DenseMatrix(rows: data.items.count, columns: c.embeddingSize)
    x.storage.replaceSubrange(0..<userFactors.storage.count, with: userFactors.storage)
    y.storage.replaceSubrange(0..<itemFactors.storage.count, with: itemFactors.storage)
    let touchedUsers = Array(Set(interactions.compactMap { data.users.index(of: $0.user) })).sorted()
    let touchedItems = Array(Set(interactions.compactMap { data.items.index(of: $0.item) })).sorted()
    let (byUser, byItem) = ImplicitALS.confidenceMatrices(data, configuration: c)
    let parallel = options.isParallel
    ImplicitALS.halfStep(
      solving: &x, fixed: y, gram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel),
      rows: byUser, configuration: c, parallel: parallel, onlyRows: touchedUsers)
    ImplicitALS.halfStep(
      solving: &y, fixed: x, gram: DenseKernels.gram(x, regularization: c.regularization, parallel: parallel),
      rows: byItem, configuration: c, parallel: parallel, onlyRows: touchedItems)
    ImplicitALS.halfStep(
      solving: &x, fixed: y, gram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel),
      rows: byUser, configuration: c, parallel: parallel, onlyRows: touchedUsers)
    guard x.isFinite, y.isFinite else { throw .diverged(model: "ImplicitALS", epoch: 1) }
    return ImplicitALS(
      configuration: c, index: TrainingIndex(data), userFactors: x, itemFactors: y,
      itemGram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel), confidence: byUser)
  }
}

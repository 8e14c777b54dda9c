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
    let confidence = ALSConfidence(byUser: data.byUser, configuration: c)
    for epoch in 1...c.epochs {
      let itemGram = DenseKernels.gram(y, regularization: c.regularization, parallel: options.isParallel)
      halfStep(
        solving: &x, fixed: y, gram: itemGram, rows: data.byUser, rowsAreUsers: true, confidence: confidence,
        configuration: c, parallel: options.isParallel)
      let userGram = DenseKernels.gram(x, regularization: c.regularization, parallel: options.isParallel)
      halfStep(
        solving: &y, fixed: x, gram: userGram, rows: data.byItem, rowsAreUsers: false, confidence: confidence,
        configuration: c, parallel: options.isParallel)
      guard x.isFinite, y.isFinite else { throw .diverged(model: "ImplicitALS", epoch: epoch) }
      options.report(kind, step: epoch, of: c.epochs)
    }
    return ImplicitALS(
      configuration: c, index: TrainingIndex(data), userFactors: x, itemFactors: y,
      itemGram: DenseKernels.gram(y, regularization: c.regularization, parallel: options.isParallel),
      confidence: confidence)
  }

  /// Re-solves every row of `solving` (or only `onlyRows`) against the fixed factors.
  ///
  /// Rows are split into fixed chunks and every row's solve reads only the fixed side, so the
  /// result does not depend on how many threads run the chunks.
  static func halfStep(
    solving target: inout DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix, rows: SparseRowMatrix,
    rowsAreUsers: Bool, confidence: ALSConfidence, configuration c: Configuration, parallel: Bool,
    onlyRows: [Int]? = nil
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
              guard let y = fb.baseAddress, let g = gb.baseAddress, let columns = cb.baseAddress else { return }
              Parallel.forEachChunk(
                count: count, chunkCount: 64, minimumParallelCount: parallel ? 256 : Int.max
              ) { range, _ in
                var workspace = ALSSolver.Workspace(stride: stride)
                var confidences: [Float] = []
                for position in range {
                  let row = rowList?[position] ?? position
                  let x = out.value + row * stride
                  let start = rows.rowStarts[row]
                  let n = rows.rowStarts[row + 1] - start
                  if n == 0 {
                    for f in 0..<stride { x[f] = 0 }
                    continue
                  }
                  if confidences.count < n { confidences = [Float](repeating: 0, count: n * 5 / 4) }
                  confidences.withUnsafeMutableBufferPointer { buffer in
                    guard let weights = buffer.baseAddress else { return }
                    confidence.fill(row: row, of: rows, rowsAreUsers: rowsAreUsers, into: weights)
                    switch c.solver {
                    case .conjugateGradient:
                      ALSSolver.conjugateGradient(
                        x: x, gram: g, factors: y, columns: columns + start, confidences: weights,
                        count: n, k: k, stride: stride, steps: c.cgSteps, workspace: &workspace)
                    case .cholesky:
                      ALSSolver.cholesky(
                        x: x, gram: g, factors: y, columns: columns + start, confidences: weights,
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
    let data = try index.appending(interactions)
    let c = configuration
    // Existing rows keep their index (the vocabularies grow at the end).
    var x = DenseMatrix(rows: data.users.count, columns: c.embeddingSize)
    var y = DenseMatrix(rows: data.items.count, columns: c.embeddingSize)
    x.storage.replaceSubrange(0..<userFactors.storage.count, with: userFactors.storage)
    y.storage.replaceSubrange(0..<itemFactors.storage.count, with: itemFactors.storage)
    let touchedUsers = Array(Set(interactions.compactMap { data.users.index(of: $0.user) })).sorted()
    let touchedItems = Array(Set(interactions.compactMap { data.items.index(of: $0.item) })).sorted()
    let confidence = ALSConfidence(byUser: data.byUser, configuration: c)
    let parallel = options.isParallel
    ImplicitALS.halfStep(
      solving: &x, fixed: y, gram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel),
      rows: data.byUser, rowsAreUsers: true, confidence: confidence, configuration: c, parallel: parallel,
      onlyRows: touchedUsers)
    ImplicitALS.halfStep(
      solving: &y, fixed: x, gram: DenseKernels.gram(x, regularization: c.regularization, parallel: parallel),
      rows: data.byItem, rowsAreUsers: false, confidence: confidence, configuration: c, parallel: parallel,
      onlyRows: touchedItems)
    ImplicitALS.halfStep(
      solving: &x, fixed: y, gram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel),
      rows: data.byUser, rowsAreUsers: true, confidence: confidence, configuration: c, parallel: parallel,
      onlyRows: touchedUsers)
    guard x.isFinite, y.isFinite else { throw .diverged(model: "ImplicitALS", epoch: 1) }
    return ImplicitALS(
      configuration: c, index: TrainingIndex(data), userFactors: x, itemFactors: y,
      itemGram: DenseKernels.gram(y, regularization: c.regularization, parallel: parallel), confidence: confidence)
  }
}

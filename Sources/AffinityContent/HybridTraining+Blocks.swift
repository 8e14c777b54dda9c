import AffinityCore
import AffinityLinalg

// The building blocks of ``HybridTraining``: combined vectors, Gram matrices, the per-row
// Cholesky solves and the feature-side conjugate-gradient steps.
extension HybridTraining {

  /// `[x_rᵀE | f_r]` for every row `r`.
  static func combined(_ side: SparseRowMatrix, embeddings e: DenseMatrix, factors f: DenseMatrix) -> DenseMatrix {
    let kf = e.columns
    let kc = f.columns
    var out = DenseMatrix(rows: side.rowCount, columns: kf + kc)
    let s = out.stride
    out.storage.withUnsafeMutableBufferPointer { ob in
      e.storage.withUnsafeBufferPointer { eb in
        f.storage.withUnsafeBufferPointer { fb in
          side.values.withUnsafeBufferPointer { vb in
            side.columns.withUnsafeBufferPointer { cb in
              guard let o = ob.baseAddress, let ep = eb.baseAddress, let fp = fb.baseAddress else { return }
              for r in 0..<side.rowCount {
                let row = o + r * s
                for p in side.range(ofRow: r) { Vector.axpy(vb[p], ep + Int(cb[p]) * e.stride, row, count: kf) }
                (row + kf).update(from: fp + r * f.stride, count: kc)
              }
            }
          }
        }
      }
    }
    return out
  }

  /// `Σ_r m_r m_rᵀ` over `rows`.
  static func gram(of m: DenseMatrix, rows: [Int], parallel: Bool) -> DenseMatrix {
    guard rows.count != m.rows else { return DenseKernels.gram(m, regularization: 0, parallel: parallel) }
    var subset = DenseMatrix(rows: rows.count, columns: m.columns)
    let s = m.stride
    for (n, r) in rows.enumerated() {
      subset.storage.replaceSubrange((n * s)..<((n + 1) * s), with: m.storage[(r * s)..<((r + 1) * s)])
    }
    return DenseKernels.gram(subset, regularization: 0, parallel: parallel)
  }

  /// The ridge system of one row's per-id part `z` (the last `n` of the `K` columns) with the
  /// shared part `p` (the first `k_f` entries of `a`) fixed, so that the row's vector is
  /// `[p | 0] + [0 | z]` padded on the left, against the other side's rows `entries`
  /// (`b_j`, `c_j`) and their Gram `G`:
  /// `m = G_zz + λI + Σ (c − 1) b_z b_zᵀ` (`n` rows of stride `paddedStride(n)`),
  /// `rhs = Σ (c − (c − 1) pᵀq) b_z − G_zq p`.
  @inline(__always)
  static func buildRowSystem<Entries: Sequence<(UnsafePointer<Float>, Float)>>(
    m: UnsafeMutablePointer<Float>, rhs: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, entries: Entries,
    gram g: UnsafePointer<Float>, gramStride gs: Int, kf: Int, width: Int, count n: Int, regularization: Float
  ) {
    let o = width - n
    let sn = DenseMatrix.paddedStride(n)
    for r in 0..<n {
      let row = m + r * sn
      row.update(from: g + (o + r) * gs + o, count: n)
      for f in n..<sn { row[f] = 0 }
      row[r] += regularization
      rhs[r] = -Vector.dot(g + (o + r) * gs, a, count: kf)
    }
    for f in n..<sn { rhs[f] = 0 }
    for (b, c) in entries {
      let s = Vector.dot(b, a, count: kf)
      let z = b + o
      Vector.axpy(c - (c - 1) * s, z, rhs, count: n)
      let weight = c - 1
      guard weight != 0 else { continue }
      for r in 0..<n where z[r] != 0 { Vector.axpy(weight * z[r], z, m + r * sn, count: n) }
    }
  }

  /// Solves every row in `list` exactly for its per-id part: `f_r` (`k_c`), or with an
  /// identity feature `[e_id | f_r]` (`K`), the rest of `x_rᵀE` fixed; a row without positives
  /// gets zeros. Writes the embeddings' identity rows, the factors and `own`.
  static func solveRows(
    _ list: [Int], of side: inout HybridBlock, own: inout DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix,
    parallel: Bool
  ) {
    let kc = side.factors.columns
    let kf = side.embeddings.columns
    let width = own.columns
    let s = own.stride
    let sc = side.factors.stride
    let sf = side.embeddings.stride
    let sk = DenseMatrix.paddedStride(width)
    let λ = side.regularization
    let positives = side.positives
    let identity = side.identityColumns
    own.storage.withUnsafeMutableBufferPointer { ob in
      side.factors.storage.withUnsafeMutableBufferPointer { fb in
        side.embeddings.storage.withUnsafeMutableBufferPointer { eb in
          fixed.storage.withUnsafeBufferPointer { bb in
            gram.storage.withUnsafeBufferPointer { gb in
              positives.columns.withUnsafeBufferPointer { cb in
                positives.values.withUnsafeBufferPointer { vb in
                  guard let o = ob.baseAddress, let factors = fb.baseAddress, let embeddings = eb.baseAddress,
                    let b = bb.baseAddress, let g = gb.baseAddress
                  else { return }
                  Parallel.forEachChunk(
                    count: list.count, chunkCount: 64, minimumParallelCount: parallel ? 128 : .max
                  ) { range, _ in
                    var m = [Float](repeating: 0, count: width * sk)
                    var rhs = [Float](repeating: 0, count: sk)
                    var workspace: [Double] = []
                    for position in range {
                      let row = list[position]
                      let a = o + row * s
                      let column = Int(identity[row])
                      let e: UnsafeMutablePointer<Float>? = column >= 0 ? embeddings + column * sf : nil
                      if let e { for f in 0..<kf { a[f] -= e[f] } }
                      let n = e == nil ? kc : width
                      let entries = positives.range(ofRow: row)
                      var solved = false
                      if !entries.isEmpty {
                        solved = m.withUnsafeMutableBufferPointer { mb in
                          rhs.withUnsafeMutableBufferPointer { rb -> Bool in
                            guard let mp = mb.baseAddress, let rp = rb.baseAddress else { return false }
                            buildRowSystem(
                              m: mp, rhs: rp, a: a, entries: entries.lazy.map { (b + Int(cb[$0]) * s, vb[$0]) },
                              gram: g, gramStride: s, kf: kf, width: width, count: n, regularization: λ)
                            return DenseKernels.choleskySolve(
                              mp, stride: DenseMatrix.paddedStride(n), k: n, b: rp, workspace: &workspace)
                          }
                        }
                      }
                      if !solved {
                        guard entries.isEmpty else {
                          // Not positive definite (cannot happen with λ > 0): keep the old values.
                          if let e { for f in 0..<kf { a[f] += e[f] } }
                          continue
                        }
                        for f in 0..<n { rhs[f] = 0 }
                      }
                      if let e {
                        for f in 0..<kf {
                          e[f] = rhs[f]
                          a[f] += rhs[f]
                        }
                      }
                      let start = n - kc
                      for f in 0..<kc {
                        a[kf + f] = rhs[start + f]
                        factors[row * sc + f] = rhs[start + f]
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// `steps` Jacobi-preconditioned conjugate-gradient steps on the side's shared feature
  /// embeddings `E` (identity rows are solved per row instead and stay fixed here), with the
  /// per-id parts and the other side fixed, warm-started from `E`.
  ///
  /// The normal equations are `Σ_i x_i t_i(E)ᵀ + ΛE = Σ_i x_i r_iᵀ` over active rows `i`, with
  /// `t_i(E) = G_qq Eᵀx_i + Σ_j (c_ij − 1)(q_jᵀEᵀx_i) q_j` and, at the current `a_i`,
  /// `r_i − t_i = Σ_j (c_ij − (c_ij − 1) b_jᵀa_i) q_j − G_q· a_i`. Every product with the
  /// `d · k_f` system goes through X and the rows' positives, never forming it; the
  /// preconditioner is its exact diagonal.
  static func featureSteps(
    side: inout HybridBlock, own: DenseMatrix, fixed: DenseMatrix, gram: DenseMatrix, steps: Int, parallel: Bool
  ) {
    let kf = side.embeddings.columns
    let sf = side.embeddings.stride
    let d = side.embeddings.rows
    let n = side.features.rowCount
    let width = own.columns
    let threshold = parallel ? 128 : Int.max
    let positives = side.positives
    let active = side.active
    let x = side.features
    // Per active row: r_i − t_i(E) (the negative gradient) and the diagonal of its block.
    var z = [Float](repeating: 0, count: n * sf)
    var rowDiagonal = [Float](repeating: 0, count: n * sf)
    own.storage.withUnsafeBufferPointer { ob in
      fixed.storage.withUnsafeBufferPointer { bb in
        gram.storage.withUnsafeBufferPointer { gb in
          positives.columns.withUnsafeBufferPointer { cb in
            positives.values.withUnsafeBufferPointer { vb in
              z.withUnsafeMutableBufferPointer { zb in
                rowDiagonal.withUnsafeMutableBufferPointer { db in
                  guard let o = ob.baseAddress, let b = bb.baseAddress, let g = gb.baseAddress,
                    let zp = zb.baseAddress, let dp = db.baseAddress
                  else { return }
                  let s = own.stride
                  Parallel.forEachChunk(count: active.count, chunkCount: 64, minimumParallelCount: threshold) {
                    range, _ in
                    for position in range {
                      let row = active[position]
                      let a = o + row * s
                      let zi = zp + row * sf
                      let di = dp + row * sf
                      for r in 0..<kf {
                        zi[r] = -Vector.dot(g + r * s, a, count: width)
                        di[r] = g[r * s + r]
                      }
                      for p in positives.range(ofRow: row) {
                        let bj = b + Int(cb[p]) * s
                        let c = vb[p]
                        Vector.axpy(c - (c - 1) * Vector.dot(bj, a, count: width), bj, zi, count: kf)
                        for r in 0..<kf { di[r] += (c - 1) * bj[r] * bj[r] }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    var residual = [Float](repeating: 0, count: d * sf)
    var diagonal = [Float](repeating: 1, count: d * sf)
    transposedProduct(side.byFeature, z, into: &residual, stride: sf, kf: kf, squared: false, parallel: parallel)
    transposedProduct(side.byFeature, rowDiagonal, into: &diagonal, stride: sf, kf: kf, squared: true, parallel: parallel)
    let λ = side.embeddingRegularization
    let free = side.isIdentityColumn.map { !$0 }
    for a in 0..<d {
      for f in 0..<kf {
        residual[a * sf + f] = free[a] ? residual[a * sf + f] - λ[a] * side.embeddings[a, f] : 0
        diagonal[a * sf + f] += λ[a]
      }
    }
    var preconditioned = (0..<(d * sf)).map { residual[$0] / diagonal[$0] }
    var direction = preconditioned
    var product = [Float](repeating: 0, count: d * sf)
    var rz = dot(residual, preconditioned)
    var t = [Float](repeating: 0, count: n * sf)
    for _ in 0..<steps {
      guard rz > 1e-30, rz.isFinite else { return }
      // t_i = Dᵀx_i, then z_i = G_qq t_i + Σ (c − 1)(q_jᵀt_i) q_j.
      x.values.withUnsafeBufferPointer { xv in
        x.columns.withUnsafeBufferPointer { xc in
          direction.withUnsafeBufferPointer { db in
            t.withUnsafeMutableBufferPointer { tb in
              z.withUnsafeMutableBufferPointer { zb in
                fixed.storage.withUnsafeBufferPointer { bb in
                  gram.storage.withUnsafeBufferPointer { gb in
                    positives.columns.withUnsafeBufferPointer { cb in
                      positives.values.withUnsafeBufferPointer { vb in
                        guard let dp = db.baseAddress, let tp = tb.baseAddress, let zp = zb.baseAddress,
                          let b = bb.baseAddress, let g = gb.baseAddress
                        else { return }
                        let s = fixed.stride
                        Parallel.forEachChunk(count: active.count, chunkCount: 64, minimumParallelCount: threshold) {
                          range, _ in
                          for position in range {
                            let row = active[position]
                            let ti = tp + row * sf
                            let zi = zp + row * sf
                            for f in 0..<sf { ti[f] = 0 }
                            for p in x.range(ofRow: row) { Vector.axpy(xv[p], dp + Int(xc[p]) * sf, ti, count: kf) }
                            for r in 0..<kf { zi[r] = Vector.dot(g + r * s, ti, count: kf) }
                            for p in positives.range(ofRow: row) {
                              let c = vb[p]
                              guard c != 1 else { continue }
                              let qj = b + Int(cb[p]) * s
                              Vector.axpy((c - 1) * Vector.dot(qj, ti, count: kf), qj, zi, count: kf)
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
      transposedProduct(side.byFeature, z, into: &product, stride: sf, kf: kf, squared: false, parallel: parallel)
      for a in 0..<d {
        for f in 0..<kf {
          product[a * sf + f] = free[a] ? product[a * sf + f] + λ[a] * direction[a * sf + f] : 0
        }
      }
      let denominator = dot(direction, product)
      guard denominator > 0, denominator.isFinite else { return }
      let alpha = Float(rz / denominator)
      for q in 0..<(d * sf) {
        side.embeddings.storage[q] += alpha * direction[q]
        residual[q] -= alpha * product[q]
        preconditioned[q] = residual[q] / diagonal[q]
      }
      let next = dot(residual, preconditioned)
      let beta = Float(next / rz)
      for q in 0..<(d * sf) { direction[q] = preconditioned[q] + beta * direction[q] }
      rz = next
    }
  }

  /// `out_a = Σ_i x_ia z_i` (or `Σ_i x_ia² z_i` when `squared`) over the first `kf` columns,
  /// for every feature `a`: each feature's row summed in row order by one chunk.
  static func transposedProduct(
    _ xt: SparseRowMatrix, _ z: [Float], into out: inout [Float], stride sf: Int, kf: Int, squared: Bool,
    parallel: Bool
  ) {
    xt.values.withUnsafeBufferPointer { xv in
      xt.columns.withUnsafeBufferPointer { xc in
        z.withUnsafeBufferPointer { zb in
          out.withUnsafeMutableBufferPointer { ob in
            guard let zp = zb.baseAddress, let op = ob.baseAddress else { return }
            Parallel.forEachChunk(count: xt.rowCount, chunkCount: 64, minimumParallelCount: parallel ? 64 : .max) {
              range, _ in
              for a in range {
                let oa = op + a * sf
                for f in 0..<kf { oa[f] = 0 }
                for p in xt.range(ofRow: a) {
                  Vector.axpy(squared ? xv[p] * xv[p] : xv[p], zp + Int(xc[p]) * sf, oa, count: kf)
                }
              }
            }
          }
        }
      }
    }
  }

  /// `Σ a_q b_q` in Double, in index order.
  static func dot(_ a: [Float], _ b: [Float]) -> Double {
    var sum = 0.0
    for q in 0..<a.count { sum += Double(a[q]) * Double(b[q]) }
    return sum
  }
}

import AffinityLinalg

/// The row solves of implicit ALS: `(G + Σ_j (c_j − 1) y_j y_jᵀ) x = Σ_j c_j y_j` with
/// `G = YᵀY + λI` precomputed once per half-step.
enum ALSSolver {
  /// Scratch space for one worker, reused across rows.
  struct Workspace {
    var r: [Float]
    var p: [Float]
    var ap: [Float]
    var a: [Float]
    var cholesky: [Double] = []

    init(stride: Int) {
      r = [Float](repeating: 0, count: stride)
      p = [Float](repeating: 0, count: stride)
      ap = [Float](repeating: 0, count: stride)
      a = [Float](repeating: 0, count: stride * stride)
    }
  }

  /// `out = G v` for a symmetric `k × k` Gram matrix with row stride `stride` (padding stays
  /// zero), as `Σ_a v_a · G_a`: row axpys need no horizontal sums, about twice as fast as dots.
  @inline(__always)
  static func gramTimes(
    _ g: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, k: Int, stride: Int
  ) {
    for a in 0..<stride { out[a] = 0 }
    for a in 0..<k where v[a] != 0 { Vector.axpy(v[a], g + a * stride, out, count: stride) }
  }

  /// `steps` conjugate-gradient steps on one row, warm-started from `x` (implicit's
  /// `_least_squares_cg`, Takács et al. 2011).
  static func conjugateGradient(
    x: UnsafeMutablePointer<Float>, gram g: UnsafePointer<Float>, factors y: UnsafePointer<Float>,
    columns: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count n: Int, k: Int, stride: Int,
    steps: Int, workspace w: inout Workspace
  ) {
    w.r.withUnsafeMutableBufferPointer { rb in
      w.p.withUnsafeMutableBufferPointer { pb in
        w.ap.withUnsafeMutableBufferPointer { apb in
          guard let r = rb.baseAddress, let p = pb.baseAddress, let ap = apb.baseAddress else { return }
          // r = b − A x = −G x + Σ_j (c_j − (c_j − 1) y_jᵀx) y_j
          gramTimes(g, x, r, k: k, stride: stride)
          for f in 0..<stride { r[f] = -r[f] }
          for e in 0..<n {
            let yj = y + Int(columns[e]) * stride
            let c = confidences[e]
            Vector.axpy(c - (c - 1) * Vector.dot(yj, x, count: stride), yj, r, count: stride)
          }
          var rsOld = Vector.dot(r, r, count: stride)
          if rsOld < 1e-20 { return }
          for f in 0..<stride { p[f] = r[f] }
          for _ in 0..<steps {
            gramTimes(g, p, ap, k: k, stride: stride)
            for e in 0..<n {
              let yj = y + Int(columns[e]) * stride
              Vector.axpy((confidences[e] - 1) * Vector.dot(yj, p, count: stride), yj, ap, count: stride)
            }
            let denominator = Vector.dot(p, ap, count: stride)
            guard denominator > 0, denominator.isFinite else { return }
            let alpha = rsOld / denominator
            Vector.axpy(alpha, p, x, count: stride)
            Vector.axpy(-alpha, ap, r, count: stride)
            let rsNew = Vector.dot(r, r, count: stride)
            if rsNew < 1e-20 { return }
            Vector.axpby(1, r, rsNew / rsOld, p, count: stride)
            rsOld = rsNew
          }
        }
      }
    }
  }

  /// The exact solve of one row by Cholesky; leaves `x` unchanged if the system is singular.
  static func cholesky(
    x: UnsafeMutablePointer<Float>, gram g: UnsafePointer<Float>, factors y: UnsafePointer<Float>,
    columns: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count n: Int, k: Int, stride: Int,
    rightHandSide: UnsafePointer<Float>? = nil, workspace w: inout Workspace
  ) {
    var solved = false
    w.a.withUnsafeMutableBufferPointer { ab in
      w.r.withUnsafeMutableBufferPointer { bb in
        guard let a = ab.baseAddress, let b = bb.baseAddress else { return }
        a.update(from: g, count: k * stride)
        for f in 0..<stride { b[f] = 0 }
        for e in 0..<n {
          let yj = y + Int(columns[e]) * stride
          let c = confidences[e]
          for row in 0..<k where yj[row] != 0 {
            Vector.axpy((c - 1) * yj[row], yj, a + row * stride, count: stride)
          }
          if rightHandSide == nil { Vector.axpy(c, yj, b, count: stride) }
        }
        if let rightHandSide { b.update(from: rightHandSide, count: stride) }
        solved = DenseKernels.choleskySolve(a, stride: stride, k: k, b: b, workspace: &w.cholesky)
        if solved { x.update(from: b, count: k) }
      }
    }
  }

  /// A fresh exact row solve from zero, for fold-in.
  static func exactRow(gram: DenseMatrix, factors: DenseMatrix, columns: [Int32], confidences: [Float]) -> [Float] {
    guard !columns.isEmpty else { return [Float](repeating: 0, count: factors.columns) }
    return solve(gram: gram, factors: factors, columns: columns, confidences: confidences, rightHandSide: nil)
  }

  /// Solves `A_u x = rhs` (or `= Σ c_j y_j` when `rhs` is nil) with `A_u` built from `columns`.
  static func solve(
    gram: DenseMatrix, factors: DenseMatrix, columns: [Int32], confidences: [Float], rightHandSide: [Float]?
  ) -> [Float] {
    let k = factors.columns
    let stride = factors.stride
    guard factors.rows > 0, !columns.isEmpty || rightHandSide != nil else {
      return [Float](repeating: 0, count: k)
    }
    // An empty history still needs valid pointers: row 0 with confidence 1 adds nothing to A_u.
    let columns = columns.isEmpty ? [0] : columns
    let confidences = confidences.isEmpty ? [1] : confidences
    var x = [Float](repeating: 0, count: stride)
    var workspace = Workspace(stride: stride)
    var rhs = rightHandSide ?? []
    rhs.append(contentsOf: repeatElement(0, count: max(0, stride - rhs.count)))
    x.withUnsafeMutableBufferPointer { xb in
      gram.storage.withUnsafeBufferPointer { gb in
        factors.storage.withUnsafeBufferPointer { yb in
          columns.withUnsafeBufferPointer { cb in
            confidences.withUnsafeBufferPointer { wb in
              rhs.withUnsafeBufferPointer { rb in
                guard let xp = xb.baseAddress, let gp = gb.baseAddress, let yp = yb.baseAddress,
                  let cp = cb.baseAddress, let wp = wb.baseAddress
                else { return }
                cholesky(
                  x: xp, gram: gp, factors: yp, columns: cp, confidences: wp, count: columns.count, k: k,
                  stride: stride, rightHandSide: rightHandSide == nil ? nil : rb.baseAddress, workspace: &workspace)
              }
            }
          }
        }
      }
    }
    return Array(x.prefix(k))
  }
}

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
    /// The rows `y_j` of the current row's history, copied next to each other.
    var gathered: [Float] = []

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

  /// `out += Σ_e scale(e, y_eᵀv) · y_e` over `n` consecutive rows `y_e`: the sparse part of
  /// every CG product, one pass over the gathered rows.
  ///
  /// For a 64-wide stride (64 factors) the row's eight `SIMD8` chunks stay in registers between
  /// the dot and the update and `out` is accumulated in eight registers instead of being
  /// loaded and stored per row; other strides take the plain dot + axpy loop.
  @inline(__always)
  static func accumulateGathered(
    _ y: UnsafePointer<Float>, _ n: Int, stride: Int,
    v: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, scale: (Int, Float) -> Float
  ) {
    guard stride == 64 else {
      for e in 0..<n {
        let yj = y + e * stride
        Vector.axpy(scale(e, Vector.dot(yj, v, count: stride)), yj, out, count: stride)
      }
      return
    }
    typealias V8 = SIMD8<Float>
    let rv = UnsafeRawPointer(v)
    let ro = UnsafeMutableRawPointer(out)
    var a0 = ro.loadUnaligned(fromByteOffset: 0, as: V8.self)
    var a1 = ro.loadUnaligned(fromByteOffset: 32, as: V8.self)
    var a2 = ro.loadUnaligned(fromByteOffset: 64, as: V8.self)
    var a3 = ro.loadUnaligned(fromByteOffset: 96, as: V8.self)
    var a4 = ro.loadUnaligned(fromByteOffset: 128, as: V8.self)
    var a5 = ro.loadUnaligned(fromByteOffset: 160, as: V8.self)
    var a6 = ro.loadUnaligned(fromByteOffset: 192, as: V8.self)
    var a7 = ro.loadUnaligned(fromByteOffset: 224, as: V8.self)
    for e in 0..<n {
      let row = UnsafeRawPointer(y + e * 64)
      let y0 = row.loadUnaligned(fromByteOffset: 0, as: V8.self)
      let y1 = row.loadUnaligned(fromByteOffset: 32, as: V8.self)
      let y2 = row.loadUnaligned(fromByteOffset: 64, as: V8.self)
      let y3 = row.loadUnaligned(fromByteOffset: 96, as: V8.self)
      let y4 = row.loadUnaligned(fromByteOffset: 128, as: V8.self)
      let y5 = row.loadUnaligned(fromByteOffset: 160, as: V8.self)
      let y6 = row.loadUnaligned(fromByteOffset: 192, as: V8.self)
      let y7 = row.loadUnaligned(fromByteOffset: 224, as: V8.self)
      let d0 = y0 * rv.loadUnaligned(fromByteOffset: 0, as: V8.self) + y1 * rv.loadUnaligned(fromByteOffset: 32, as: V8.self)
      let d1 = y2 * rv.loadUnaligned(fromByteOffset: 64, as: V8.self) + y3 * rv.loadUnaligned(fromByteOffset: 96, as: V8.self)
      let d2 = y4 * rv.loadUnaligned(fromByteOffset: 128, as: V8.self) + y5 * rv.loadUnaligned(fromByteOffset: 160, as: V8.self)
      let d3 = y6 * rv.loadUnaligned(fromByteOffset: 192, as: V8.self) + y7 * rv.loadUnaligned(fromByteOffset: 224, as: V8.self)
      let s = V8(repeating: scale(e, Vector.horizontalSum((d0 + d1) + (d2 + d3))))
      a0 = a0 + s * y0
      a1 = a1 + s * y1
      a2 = a2 + s * y2
      a3 = a3 + s * y3
      a4 = a4 + s * y4
      a5 = a5 + s * y5
      a6 = a6 + s * y6
      a7 = a7 + s * y7
    }
    ro.storeBytes(of: a0, toByteOffset: 0, as: V8.self)
    ro.storeBytes(of: a1, toByteOffset: 32, as: V8.self)
    ro.storeBytes(of: a2, toByteOffset: 64, as: V8.self)
    ro.storeBytes(of: a3, toByteOffset: 96, as: V8.self)
    ro.storeBytes(of: a4, toByteOffset: 128, as: V8.self)
    ro.storeBytes(of: a5, toByteOffset: 160, as: V8.self)
    ro.storeBytes(of: a6, toByteOffset: 192, as: V8.self)
    ro.storeBytes(of: a7, toByteOffset: 224, as: V8.self)
  }

  /// `steps` conjugate-gradient steps on one row, warm-started from `x` (implicit's
  /// `_least_squares_cg`, Takács et al. 2011).
  static func conjugateGradient(
    x: UnsafeMutablePointer<Float>, gram g: UnsafePointer<Float>, factors y: UnsafePointer<Float>,
    columns: UnsafePointer<Int32>, confidences: UnsafePointer<Float>, count n: Int, k: Int, stride: Int,
    steps: Int, workspace w: inout Workspace
  ) {
    // Copying the history's rows next to each other first turns the random reads of `y` into
    // independent loads the CPU overlaps (the dependent dot → update chain of the CG pass
    // cannot), and the 1 + steps passes then stream from L1/L2.
    var buffer: [Float] = []
    swap(&buffer, &w.gathered)
    defer { swap(&buffer, &w.gathered) }
    if buffer.count < n * stride { buffer = [Float](repeating: 0, count: n * stride * 5 / 4) }
    buffer.withUnsafeMutableBufferPointer { gatheredBuffer in
      guard let gathered = gatheredBuffer.baseAddress else { return }
      for e in 0..<n {
        (gathered + e * stride).update(from: y + Int(columns[e]) * stride, count: stride)
      }
      conjugateGradientSteps(
        x: x, gram: g, rows: UnsafePointer(gathered), confidences: confidences, count: n, k: k, stride: stride,
        steps: steps, workspace: &w)
    }
  }

  private static func conjugateGradientSteps(
    x: UnsafeMutablePointer<Float>, gram g: UnsafePointer<Float>, rows y: UnsafePointer<Float>,
    confidences: UnsafePointer<Float>, count n: Int, k: Int, stride: Int,
    steps: Int, workspace w: inout Workspace
  ) {
    w.r.withUnsafeMutableBufferPointer { rb in
      w.p.withUnsafeMutableBufferPointer { pb in
        w.ap.withUnsafeMutableBufferPointer { apb in
          guard let r = rb.baseAddress, let p = pb.baseAddress, let ap = apb.baseAddress else { return }
          // r = b − A x = −G x + Σ_j (c_j − (c_j − 1) y_jᵀx) y_j
          gramTimes(g, x, r, k: k, stride: stride)
          for f in 0..<stride { r[f] = -r[f] }
          accumulateGathered(y, n, stride: stride, v: x, into: r) { e, d in
            let c = confidences[e]
            return c - (c - 1) * d
          }
          var rsOld = Vector.dot(r, r, count: stride)
          if rsOld < 1e-20 { return }
          for f in 0..<stride { p[f] = r[f] }
          for _ in 0..<steps {
            gramTimes(g, p, ap, k: k, stride: stride)
            accumulateGathered(y, n, stride: stride, v: p, into: ap) { e, d in
              (confidences[e] - 1) * d
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

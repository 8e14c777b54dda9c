/// SIMD kernels over raw `Float` buffers: the inner loops of every model.
///
/// Each kernel processes eight lanes at a time with `SIMD8<Float>` and finishes the tail with
/// scalar code, so `count` need not be a multiple of 8. Sums use a tree-shaped horizontal add,
/// which keeps them fast without `-march` flags (see `PERFORMANCE.md`, rule 1).
public enum Vector {
  /// The dot product `Σ a[f] · b[f]` over `count` elements.
  @inlinable @inline(__always)
  public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc0 = SIMD8<Float>()
    var acc1 = SIMD8<Float>()
    var f = 0
    let ra = UnsafeRawPointer(a)
    let rb = UnsafeRawPointer(b)
    while f + 16 <= count {
      let a0 = ra.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let b0 = rb.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let a1 = ra.loadUnaligned(fromByteOffset: (f + 8) * 4, as: SIMD8<Float>.self)
      let b1 = rb.loadUnaligned(fromByteOffset: (f + 8) * 4, as: SIMD8<Float>.self)
      acc0 = acc0 + a0 * b0
      acc1 = acc1 + a1 * b1
      f += 16
    }
    while f + 8 <= count {
      let a0 = ra.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let b0 = rb.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      acc0 = acc0 + a0 * b0
      f += 8
    }
    var sum = horizontalSum(acc0 + acc1)
    while f < count {
      sum += a[f] * b[f]
      f += 1
    }
    return sum
  }

  /// `y ← y + alpha · x` over `count` elements.
  @inlinable @inline(__always)
  public static func axpy(
    _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    let a = SIMD8<Float>(repeating: alpha)
    let rx = UnsafeRawPointer(x)
    let ry = UnsafeMutableRawPointer(y)
    var f = 0
    while f + 8 <= count {
      let xv = rx.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let yv = ry.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      ry.storeBytes(of: yv + a * xv, toByteOffset: f * 4, as: SIMD8<Float>.self)
      f += 8
    }
    while f < count {
      y[f] += alpha * x[f]
      f += 1
    }
  }

  /// `y ← beta · y + alpha · x` over `count` elements.
  @inlinable @inline(__always)
  public static func axpby(
    _ alpha: Float, _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    let a = SIMD8<Float>(repeating: alpha)
    let b = SIMD8<Float>(repeating: beta)
    let rx = UnsafeRawPointer(x)
    let ry = UnsafeMutableRawPointer(y)
    var f = 0
    while f + 8 <= count {
      let xv = rx.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let yv = ry.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      ry.storeBytes(of: b * yv + a * xv, toByteOffset: f * 4, as: SIMD8<Float>.self)
      f += 8
    }
    while f < count {
      y[f] = beta * y[f] + alpha * x[f]
      f += 1
    }
  }

  /// The simultaneous SGD step of matrix factorization for one rating.
  ///
  /// With the old values `p` and `q`: `p ← p + lr · (err · q − reg · p)` and
  /// `q ← q + lr · (err · p − reg · q)`, as in Funk's SVD and Surprise's `SVD`.
  @inlinable
  public static func factorStep(
    _ p: UnsafeMutablePointer<Float>, _ q: UnsafeMutablePointer<Float>, count: Int,
    error: Float, learningRateP: Float, regularizationP: Float,
    learningRateQ: Float, regularizationQ: Float
  ) {
    let e = SIMD8<Float>(repeating: error)
    let lp = SIMD8<Float>(repeating: learningRateP)
    let rp = SIMD8<Float>(repeating: regularizationP)
    let lq = SIMD8<Float>(repeating: learningRateQ)
    let rq = SIMD8<Float>(repeating: regularizationQ)
    let pp = UnsafeMutableRawPointer(p)
    let qp = UnsafeMutableRawPointer(q)
    var f = 0
    while f + 8 <= count {
      let pv = pp.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      let qv = qp.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      pp.storeBytes(of: pv + lp * (e * qv - rp * pv), toByteOffset: f * 4, as: SIMD8<Float>.self)
      qp.storeBytes(of: qv + lq * (e * pv - rq * qv), toByteOffset: f * 4, as: SIMD8<Float>.self)
      f += 8
    }
    while f < count {
      let pv = p[f]
      let qv = q[f]
      p[f] = pv + learningRateP * (error * qv - regularizationP * pv)
      q[f] = qv + learningRateQ * (error * pv - regularizationQ * qv)
      f += 1
    }
  }

  /// The sum of the eight lanes as a balanced tree: three adds, not seven in a chain.
  @inlinable @inline(__always)
  public static func horizontalSum(_ v: SIMD8<Float>) -> Float {
    let h = v.lowHalf + v.highHalf
    let q = h.lowHalf + h.highHalf
    return q[0] + q[1]
  }
}

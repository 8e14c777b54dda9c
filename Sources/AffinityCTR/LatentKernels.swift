/// The SIMD inner loops of FM and FFM over latent vectors padded to a multiple of 4 floats
/// (``paddedWidth(_:)``): SIMD8 blocks and at most one SIMD4 tail, on raw pointers.
///
/// Padding lanes start at 0 and every update keeps them at 0 (their gradient is 0), so they
/// never change a score.
enum LatentKernels {
  /// `s ← s + x·v` and `q ← q + (x·v)²` over `width` floats (FM's two running sums).
  @inline(__always)
  static func accumulate(
    _ s: UnsafeMutablePointer<Float>, _ q: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, x: Float,
    width: Int
  ) {
    let rs = UnsafeMutableRawPointer(s)
    let rq = UnsafeMutableRawPointer(q)
    let rv = UnsafeRawPointer(v)
    @inline(__always) func block<V: SIMD>(_ f: Int, _: V.Type) where V.Scalar == Float {
      let xv = x * rv.loadUnaligned(fromByteOffset: f * 4, as: V.self)
      rs.storeBytes(of: rs.loadUnaligned(fromByteOffset: f * 4, as: V.self) + xv, toByteOffset: f * 4, as: V.self)
      rq.storeBytes(of: rq.loadUnaligned(fromByteOffset: f * 4, as: V.self) + xv * xv, toByteOffset: f * 4, as: V.self)
    }
    forEachLaneBlock(width, { block($0, SIMD8<Float>.self) }, { block($0, SIMD4<Float>.self) })
  }

  /// `½ Σ_f (s_f² − q_f)`: FM's pairwise term from the running sums.
  @inline(__always)
  static func halfPairSum(_ s: UnsafePointer<Float>, _ q: UnsafePointer<Float>, width: Int) -> Float {
    let rs = UnsafeRawPointer(s)
    let rq = UnsafeRawPointer(q)
    var wide = SIMD8<Float>()
    var narrow = SIMD4<Float>()
    forEachLaneBlock(
      width,
      { f in
        let sv = rs.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
        wide += sv * sv - rq.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      },
      { f in
        let sv = rs.loadUnaligned(fromByteOffset: f * 4, as: SIMD4<Float>.self)
        narrow += sv * sv - rq.loadUnaligned(fromByteOffset: f * 4, as: SIMD4<Float>.self)
      })
    let four = wide.lowHalf + wide.highHalf + narrow
    let two = four.lowHalf + four.highHalf
    return 0.5 * (two[0] + two[1])
  }

  /// `⟨a, b⟩` over `width` floats.
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, width: Int) -> Float {
    let ra = UnsafeRawPointer(a)
    let rb = UnsafeRawPointer(b)
    var wide = SIMD8<Float>()
    var narrow = SIMD4<Float>()
    forEachLaneBlock(
      width,
      { f in
        wide += ra.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
          * rb.loadUnaligned(fromByteOffset: f * 4, as: SIMD8<Float>.self)
      },
      { f in
        narrow += ra.loadUnaligned(fromByteOffset: f * 4, as: SIMD4<Float>.self)
          * rb.loadUnaligned(fromByteOffset: f * 4, as: SIMD4<Float>.self)
      })
    let four = wide.lowHalf + wide.highHalf + narrow
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
  }

  /// One FM step on `v_j`: `g = κ x (s − x v_j) + λ v_j`, then SGD or Adagrad (`G` given).
  @inline(__always)
  static func factorStep(
    _ v: UnsafeMutablePointer<Float>, accumulators G: UnsafeMutablePointer<Float>?, sum s: UnsafePointer<Float>,
    x: Float, kappa: Float, lambda: Float, learningRate lr: Float, width: Int
  ) {
    let rv = UnsafeMutableRawPointer(v)
    let rs = UnsafeRawPointer(s)
    let rg = G.map(UnsafeMutableRawPointer.init)
    let kx = kappa * x
    @inline(__always) func block<V: SIMD>(_ f: Int, _: V.Type) where V.Scalar == Float {
      let old = rv.loadUnaligned(fromByteOffset: f * 4, as: V.self)
      let g = kx * (rs.loadUnaligned(fromByteOffset: f * 4, as: V.self) - x * old) + lambda * old
      if let rg {
        let sum = rg.loadUnaligned(fromByteOffset: f * 4, as: V.self) + g * g
        rg.storeBytes(of: sum, toByteOffset: f * 4, as: V.self)
        rv.storeBytes(of: old - lr * g / sum.squareRoot(), toByteOffset: f * 4, as: V.self)
      } else {
        rv.storeBytes(of: old - lr * g, toByteOffset: f * 4, as: V.self)
      }
    }
    forEachLaneBlock(width, { block($0, SIMD8<Float>.self) }, { block($0, SIMD4<Float>.self) })
  }

  /// One FFM step on a pair of latent vectors from the same old values:
  /// `g₁ = λ w₁ + c w₂`, `g₂ = λ w₂ + c w₁`, then SGD or Adagrad (`G₁`, `G₂` given).
  @inline(__always)
  static func pairStep(
    _ w1: UnsafeMutablePointer<Float>, _ w2: UnsafeMutablePointer<Float>, accumulators G1: UnsafeMutablePointer<Float>?,
    _ G2: UnsafeMutablePointer<Float>?, scale c: Float, lambda: Float, learningRate lr: Float, width: Int
  ) {
    let r1 = UnsafeMutableRawPointer(w1)
    let r2 = UnsafeMutableRawPointer(w2)
    let a1 = G1.map(UnsafeMutableRawPointer.init)
    let a2 = G2.map(UnsafeMutableRawPointer.init)
    @inline(__always) func block<V: SIMD>(_ f: Int, _: V.Type) where V.Scalar == Float {
      let o = f * 4
      let v1 = r1.loadUnaligned(fromByteOffset: o, as: V.self)
      let v2 = r2.loadUnaligned(fromByteOffset: o, as: V.self)
      let g1 = lambda * v1 + c * v2
      let g2 = lambda * v2 + c * v1
      if let a1, let a2 {
        let s1 = a1.loadUnaligned(fromByteOffset: o, as: V.self) + g1 * g1
        let s2 = a2.loadUnaligned(fromByteOffset: o, as: V.self) + g2 * g2
        a1.storeBytes(of: s1, toByteOffset: o, as: V.self)
        a2.storeBytes(of: s2, toByteOffset: o, as: V.self)
        r1.storeBytes(of: v1 - lr * g1 / s1.squareRoot(), toByteOffset: o, as: V.self)
        r2.storeBytes(of: v2 - lr * g2 / s2.squareRoot(), toByteOffset: o, as: V.self)
      } else {
        r1.storeBytes(of: v1 - lr * g1, toByteOffset: o, as: V.self)
        r2.storeBytes(of: v2 - lr * g2, toByteOffset: o, as: V.self)
      }
    }
    forEachLaneBlock(width, { block($0, SIMD8<Float>.self) }, { block($0, SIMD4<Float>.self) })
  }
}

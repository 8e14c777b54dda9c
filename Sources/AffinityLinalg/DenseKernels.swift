/// Dense kernels for factor models: Gram matrices, SPD solves and the user × item score product.
///
/// All operate on ``DenseMatrix`` rows padded to a multiple of 8, so SIMD loops run over whole
/// strides without scalar tails; padding entries are zero and stay zero.
public enum DenseKernels {
  /// `AᵀA + λI` for an `n × k` matrix, as a `k × k` matrix.
  ///
  /// Rows are split into fixed chunks whose partial sums are added in chunk order, so the
  /// result is the same bytes at any thread count. O(n k²).
  public static func gram(_ a: DenseMatrix, regularization: Float, parallel: Bool = true) -> DenseMatrix {
    let k = a.columns
    let stride = a.stride
    let chunks = 16
    let partials: [[Float]] = Parallel.mapChunks(
      count: a.rows, chunkCount: chunks, minimumParallelCount: parallel ? 4_096 : Int.max
    ) { range, _ in
      var g = [Float](repeating: 0, count: k * stride)
      a.storage.withUnsafeBufferPointer { ab in
        g.withUnsafeMutableBufferPointer { gb in
          guard let base = ab.baseAddress, let out = gb.baseAddress else { return }
          for r in range {
            let row = base + r * stride
            for i in 0..<k where row[i] != 0 {
              Vector.axpy(row[i], row, out + i * stride, count: stride)
            }
          }
        }
      }
      return g
    }
    var result = DenseMatrix(rows: k, columns: k)
    for partial in partials {
      for n in 0..<(k * stride) { result.storage[n] += partial[n] }
    }
    for i in 0..<k { result[i, i] += regularization }
    return result
  }

  /// Solves `A x = b` for a symmetric positive definite `k × k` matrix by Cholesky, in Double.
  ///
  /// `a` is row-major with row stride `stride` and is not modified. Returns nil when `A` is not
  /// positive definite (a pivot ≤ 0), so callers can report it instead of trapping.
  public static func choleskySolve(
    _ a: UnsafePointer<Float>, stride: Int, k: Int, b: UnsafeMutablePointer<Float>,
    workspace: inout [Double]
  ) -> Bool {
    if workspace.count < k * k + k { workspace = [Double](repeating: 0, count: k * k + k) }
    return workspace.withUnsafeMutableBufferPointer { wb -> Bool in
      guard let l = wb.baseAddress else { return false }
      let y = l + k * k
      // L Lᵀ = A, lower triangle of L stored row-major.
      for i in 0..<k {
        for j in 0...i {
          var sum = Double(a[i * stride + j])
          var p = 0
          let li = l + i * k
          let lj = l + j * k
          while p < j {
            sum -= li[p] * lj[p]
            p += 1
          }
          if i == j {
            guard sum > 0 else { return false }
            li[i] = sum.squareRoot()
          } else {
            li[j] = sum / lj[j]
          }
        }
      }
      // L y = b, then Lᵀ x = y.
      for i in 0..<k {
        var sum = Double(b[i])
        for p in 0..<i { sum -= l[i * k + p] * y[p] }
        y[i] = sum / l[i * k + i]
      }
      for i in Swift.stride(from: k - 1, through: 0, by: -1) {
        var sum = y[i]
        for p in (i + 1)..<k { sum -= l[p * k + i] * Double(b[p]) }
        b[i] = Float(sum / l[i * k + i])
      }
      return true
    }
  }

  /// `C = X Yᵀ` for `X` (`m × k`) and `Y` (`n × k`): the scores of `m` users against `n` items,
  /// written row-major into `out` (`m × n`).
  ///
  /// A 4 × 4 register tile with SIMD8 accumulators along k: 8 loads feed 16 fused
  /// multiply-adds, and each output is one horizontal sum.
  public static func scores(
    users x: UnsafePointer<Float>, userCount m: Int, items y: UnsafePointer<Float>, itemCount n: Int,
    stride: Int, out: UnsafeMutablePointer<Float>
  ) {
    let rx = UnsafeRawPointer(x)
    let ry = UnsafeRawPointer(y)
    var u = 0
    while u < m {
      let ur = min(4, m - u)
      var i = 0
      while i < n {
        let ir = min(4, n - i)
        if ur == 4 && ir == 4 {
          var acc = (
            SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
            SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
            SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
            SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>()
          )
          var f = 0
          while f < stride {
            let o = f * 4
            let x0 = rx.loadUnaligned(fromByteOffset: (u * stride) * 4 + o, as: SIMD8<Float>.self)
            let x1 = rx.loadUnaligned(fromByteOffset: ((u + 1) * stride) * 4 + o, as: SIMD8<Float>.self)
            let x2 = rx.loadUnaligned(fromByteOffset: ((u + 2) * stride) * 4 + o, as: SIMD8<Float>.self)
            let x3 = rx.loadUnaligned(fromByteOffset: ((u + 3) * stride) * 4 + o, as: SIMD8<Float>.self)
            let y0 = ry.loadUnaligned(fromByteOffset: (i * stride) * 4 + o, as: SIMD8<Float>.self)
            let y1 = ry.loadUnaligned(fromByteOffset: ((i + 1) * stride) * 4 + o, as: SIMD8<Float>.self)
            let y2 = ry.loadUnaligned(fromByteOffset: ((i + 2) * stride) * 4 + o, as: SIMD8<Float>.self)
            let y3 = ry.loadUnaligned(fromByteOffset: ((i + 3) * stride) * 4 + o, as: SIMD8<Float>.self)
            acc.0 = acc.0 + x0 * y0
            acc.1 = acc.1 + x0 * y1
            acc.2 = acc.2 + x0 * y2
            acc.3 = acc.3 + x0 * y3
            acc.4 = acc.4 + x1 * y0
            acc.5 = acc.5 + x1 * y1
            acc.6 = acc.6 + x1 * y2
            acc.7 = acc.7 + x1 * y3
            acc.8 = acc.8 + x2 * y0
            acc.9 = acc.9 + x2 * y1
            acc.10 = acc.10 + x2 * y2
            acc.11 = acc.11 + x2 * y3
            acc.12 = acc.12 + x3 * y0
            acc.13 = acc.13 + x3 * y1
            acc.14 = acc.14 + x3 * y2
            acc.15 = acc.15 + x3 * y3
            f += 8
          }
          let row0 = out + u * n + i
          let row1 = row0 + n
          let row2 = row1 + n
          let row3 = row2 + n
          row0[0] = Vector.horizontalSum(acc.0)
          row0[1] = Vector.horizontalSum(acc.1)
          row0[2] = Vector.horizontalSum(acc.2)
          row0[3] = Vector.horizontalSum(acc.3)
          row1[0] = Vector.horizontalSum(acc.4)
          row1[1] = Vector.horizontalSum(acc.5)
          row1[2] = Vector.horizontalSum(acc.6)
          row1[3] = Vector.horizontalSum(acc.7)
          row2[0] = Vector.horizontalSum(acc.8)
          row2[1] = Vector.horizontalSum(acc.9)
          row2[2] = Vector.horizontalSum(acc.10)
          row2[3] = Vector.horizontalSum(acc.11)
          row3[0] = Vector.horizontalSum(acc.12)
          row3[1] = Vector.horizontalSum(acc.13)
          row3[2] = Vector.horizontalSum(acc.14)
          row3[3] = Vector.horizontalSum(acc.15)
        } else {
          for a in 0..<ur {
            for b in 0..<ir {
              out[(u + a) * n + i + b] = Vector.dot(x + (u + a) * stride, y + (i + b) * stride, count: stride)
            }
          }
        }
        i += 4
      }
      u += 4
    }
  }
}

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
            acc.0 = acc.0.addingProduct(x0, y0)
            acc.1 = acc.1.addingProduct(x0, y1)
            acc.2 = acc.2.addingProduct(x0, y2)
            acc.3 = acc.3.addingProduct(x0, y3)
            acc.4 = acc.4.addingProduct(x1, y0)
            acc.5 = acc.5.addingProduct(x1, y1)
            acc.6 = acc.6.addingProduct(x1, y2)
            acc.7 = acc.7.addingProduct(x1, y3)
            acc.8 = acc.8.addingProduct(x2, y0)
            acc.9 = acc.9.addingProduct(x2, y1)
            acc.10 = acc.10.addingProduct(x2, y2)
            acc.11 = acc.11.addingProduct(x2, y3)
            acc.12 = acc.12.addingProduct(x3, y0)
            acc.13 = acc.13.addingProduct(x3, y1)
            acc.14 = acc.14.addingProduct(x3, y2)
            acc.15 = acc.15.addingProduct(x3, y3)
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

/// A factor matrix packed for the score product: panels of 16 rows, each stored as `k` runs of
/// 16 values (`panel[f · 16 + c] = y[16p + c][f]`), zero-padded to a whole panel.
///
/// Packing turns `X Yᵀ` into broadcasts of `x_uf` times contiguous SIMD8 loads, with no
/// horizontal sums: the layout of a packed GEMM micro-kernel (Goto & van de Geijn 2008).
public struct PackedFactors: Sendable {
  public let rows: Int
  public let k: Int
  public let panelCount: Int
  public let storage: [Float]

  public init(_ m: DenseMatrix) {
    rows = m.rows
    k = m.columns
    panelCount = (m.rows + 15) / 16
    var storage = [Float](repeating: 0, count: panelCount * k * 16)
    for r in 0..<m.rows {
      let p = r / 16
      let c = r % 16
      for f in 0..<m.columns { storage[(p * k + f) * 16 + c] = m.storage[r * m.stride + f] }
    }
    self.storage = storage
  }

  /// Row length of the score matrix ``DenseKernels/scores(users:userCount:stride:packed:out:)`` writes.
  public var paddedRows: Int { panelCount * 16 }
}

extension DenseKernels {
  /// `out = X Yᵀ` with `Y` packed: `m` users (rows of `x`, stride `stride`) against every packed
  /// row; `out` is `m × packed.paddedRows`, row-major.
  ///
  /// A 6 × 16 register tile: per step of k, two SIMD8 loads and six broadcasts feed twelve
  /// fused multiply-adds held in registers.
  public static func scores(
    users x: UnsafePointer<Float>, userCount m: Int, stride: Int, packed: PackedFactors,
    out: UnsafeMutablePointer<Float>
  ) {
    let k = packed.k
    let width = packed.paddedRows
    packed.storage.withUnsafeBufferPointer { pb in
      guard let panelsBase = pb.baseAddress else { return }
      let rp = UnsafeRawPointer(panelsBase)
      for p in 0..<packed.panelCount {
        let panelOffset = p * k * 16 * 4
        var u = 0
        while u + 6 <= m {
          var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
          var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
          var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
          let x0 = x + u * stride
          let x1 = x0 + stride
          let x2 = x1 + stride
          let x3 = x2 + stride
          let x4 = x3 + stride
          let x5 = x4 + stride
          for f in 0..<k {
            let b0 = rp.loadUnaligned(fromByteOffset: panelOffset + f * 64, as: SIMD8<Float>.self)
            let b1 = rp.loadUnaligned(fromByteOffset: panelOffset + f * 64 + 32, as: SIMD8<Float>.self)
            var a = SIMD8<Float>(repeating: x0[f])
            c00 = c00.addingProduct(a, b0)
            c01 = c01.addingProduct(a, b1)
            a = SIMD8<Float>(repeating: x1[f])
            c10 = c10.addingProduct(a, b0)
            c11 = c11.addingProduct(a, b1)
            a = SIMD8<Float>(repeating: x2[f])
            c20 = c20.addingProduct(a, b0)
            c21 = c21.addingProduct(a, b1)
            a = SIMD8<Float>(repeating: x3[f])
            c30 = c30.addingProduct(a, b0)
            c31 = c31.addingProduct(a, b1)
            a = SIMD8<Float>(repeating: x4[f])
            c40 = c40.addingProduct(a, b0)
            c41 = c41.addingProduct(a, b1)
            a = SIMD8<Float>(repeating: x5[f])
            c50 = c50.addingProduct(a, b0)
            c51 = c51.addingProduct(a, b1)
          }
          let o = UnsafeMutableRawPointer(out + u * width + p * 16)
          let rowBytes = width * 4
          o.storeBytes(of: c00, toByteOffset: 0, as: SIMD8<Float>.self)
          o.storeBytes(of: c01, toByteOffset: 32, as: SIMD8<Float>.self)
          o.storeBytes(of: c10, toByteOffset: rowBytes, as: SIMD8<Float>.self)
          o.storeBytes(of: c11, toByteOffset: rowBytes + 32, as: SIMD8<Float>.self)
          o.storeBytes(of: c20, toByteOffset: 2 * rowBytes, as: SIMD8<Float>.self)
          o.storeBytes(of: c21, toByteOffset: 2 * rowBytes + 32, as: SIMD8<Float>.self)
          o.storeBytes(of: c30, toByteOffset: 3 * rowBytes, as: SIMD8<Float>.self)
          o.storeBytes(of: c31, toByteOffset: 3 * rowBytes + 32, as: SIMD8<Float>.self)
          o.storeBytes(of: c40, toByteOffset: 4 * rowBytes, as: SIMD8<Float>.self)
          o.storeBytes(of: c41, toByteOffset: 4 * rowBytes + 32, as: SIMD8<Float>.self)
          o.storeBytes(of: c50, toByteOffset: 5 * rowBytes, as: SIMD8<Float>.self)
          o.storeBytes(of: c51, toByteOffset: 5 * rowBytes + 32, as: SIMD8<Float>.self)
          u += 6
        }
        while u < m {
          var c0 = SIMD8<Float>()
          var c1 = SIMD8<Float>()
          let xr = x + u * stride
          for f in 0..<k {
            let a = SIMD8<Float>(repeating: xr[f])
            c0 = c0.addingProduct(a, rp.loadUnaligned(fromByteOffset: panelOffset + f * 64, as: SIMD8<Float>.self))
            c1 = c1.addingProduct(a, rp.loadUnaligned(fromByteOffset: panelOffset + f * 64 + 32, as: SIMD8<Float>.self))
          }
          let o = UnsafeMutableRawPointer(out + u * width + p * 16)
          o.storeBytes(of: c0, toByteOffset: 0, as: SIMD8<Float>.self)
          o.storeBytes(of: c1, toByteOffset: 32, as: SIMD8<Float>.self)
          u += 1
        }
      }
    }
  }
}

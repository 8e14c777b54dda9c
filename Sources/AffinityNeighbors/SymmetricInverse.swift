import AffinityLinalg

/// The inverse of a symmetric positive definite matrix by Cholesky, in place, in `Double`.
///
/// With `A = L Lᵀ`, `V = L⁻ᵀ` (upper triangular) and `A⁻¹ = V Vᵀ`, every entry of each step is
/// one dot product of two contiguous rows, so all three steps run on the same SIMD kernel:
///
/// 1. `L[i][j] = (A[i][j] − Σ_{k<j} L[i][k] L[j][k]) / L[j][j]` (row-oriented Cholesky, blocked
///    so the rows of a block are computed in parallel),
/// 2. `V[i][j] = −Σ_{i≤k<j} V[i][k] L[j][k] / L[j][j]` for `j > i`, `V[i][i] = 1 / L[i][i]`,
/// 3. `P[i][j] = Σ_{k≥j} V[i][k] V[j][k]` for `j ≥ i`.
///
/// The matrix is stored row-major with row stride `stride`. Only the lower triangle (with the
/// diagonal) of `A` is read; `L` overwrites it, `V` lives in the strict upper triangle and a
/// separate diagonal, and `P` finally overwrites the lower triangle, so the whole inversion needs
/// no second `n × n` buffer. Rows are processed in fixed groups of four against pairs of rows
/// (a 4 × 2 tile of `SIMD4<Double>` accumulators), and every entry is one fixed sequence of
/// operations, so the result is the same bytes on one thread or many.
///
/// - Complexity: n³ floating-point operations (n³/3 per step), O(n) extra memory.
enum SymmetricInverse {
  /// Rows per Cholesky block; the rows of a block are split across threads.
  static let blockRows = 64

  /// Replaces the lower triangle of `a` (`n × n`, row stride `stride`) by that of `A⁻¹`.
  ///
  /// Returns false, leaving `a` in an unspecified state, when a pivot is not positive (the
  /// matrix is not numerically positive definite). `progress` is called after each step.
  static func invertLower(
    _ a: UnsafeMutablePointer<Double>, count n: Int, stride: Int, parallel: Bool,
    progress: (Int) -> Void = { _ in }
  ) -> Bool {
    guard n > 0 else { return true }
    guard cholesky(a, n: n, stride: stride, parallel: parallel) else { return false }
    progress(1)
    let diagonal = UnsafeMutablePointer<Double>.allocate(capacity: n)
    defer { diagonal.deallocate() }
    invertFactor(a, diagonal: diagonal, n: n, stride: stride, parallel: parallel)
    progress(2)
    multiplyInverse(a, diagonal: diagonal, n: n, stride: stride, parallel: parallel)
    progress(3)
    return true
  }

  // MARK: - Step 1: Cholesky

  static func cholesky(
    _ a: UnsafeMutablePointer<Double>, n: Int, stride s: Int, parallel: Bool
  ) -> Bool {
    var r0 = 0
    while r0 < n {
      let r1 = min(r0 + blockRows, n)
      if r0 > 0 {
        // The block's rows against every finished column: independent per row.
        let groups = (r1 - r0 + 3) / 4
        forEach(count: groups, parallel: parallel) { g in
          let i0 = r0 + 4 * g
          panel(a, rows: i0..<min(i0 + 4, r1), columns: 0..<r0, stride: s)
        }
        // Subtract the finished columns' part from the block's own triangle.
        forEach(count: r1 - r0, parallel: parallel) { t in
          let i = r0 + t
          for j in r0...i {
            a[i * s + j] -= dot(a + i * s, a + j * s, 0, r0)
          }
        }
      }
      // The block's triangle, serially; the dots now run over the block's columns only.
      for i in r0..<r1 {
        let row = a + i * s
        for j in r0..<i {
          let other = a + j * s
          row[j] = (row[j] - dot(row, other, r0, j)) / other[j]
        }
        let pivot = row[i] - dot(row, row, r0, i)
        guard pivot > 0, pivot.isFinite else { return false }
        row[i] = pivot.squareRoot()
      }
      r0 = r1
    }
    return true
  }

  /// `L[i][j]` for the rows `rows` (up to four) and the finished columns `columns`.
  private static func panel(
    _ a: UnsafeMutablePointer<Double>, rows: Range<Int>, columns: Range<Int>, stride s: Int
  ) {
    guard rows.count == 4 else {
      for i in rows {
        let row = a + i * s
        for j in columns {
          let other = a + j * s
          row[j] = (row[j] - dot(row, other, 0, j)) / other[j]
        }
      }
      return
    }
    let i0 = rows.lowerBound
    let r = (a + i0 * s, a + (i0 + 1) * s, a + (i0 + 2) * s, a + (i0 + 3) * s)
    var j = columns.lowerBound
    while j + 1 < columns.upperBound {
      let b0 = a + j * s
      let b1 = b0 + s
      let t = dot4x2(r, b0, b1, 0, j)
      @inline(__always) func finish(_ row: UnsafeMutablePointer<Double>, _ s0: Double, _ s1: Double)
      {
        row[j] = (row[j] - s0) / b0[j]
        row[j + 1] = (row[j + 1] - (s1 + row[j] * b1[j])) / b1[j + 1]
      }
      finish(r.0, t.0, t.4)
      finish(r.1, t.1, t.5)
      finish(r.2, t.2, t.6)
      finish(r.3, t.3, t.7)
      j += 2
    }
    if j < columns.upperBound {
      let other = a + j * s
      for i in rows {
        let row = a + i * s
        row[j] = (row[j] - dot(row, other, 0, j)) / other[j]
      }
    }
  }

  // MARK: - Step 2: V = L⁻ᵀ

  /// Writes `V[i][j]` (`j > i`) into the strict upper triangle and `1 / L[i][i]` into `diagonal`.
  static func invertFactor(
    _ a: UnsafeMutablePointer<Double>, diagonal: UnsafeMutablePointer<Double>, n: Int,
    stride s: Int, parallel: Bool
  ) {
    let d = diagonal
    forEach(count: (n + 3) / 4, parallel: parallel) { g in
      let i0 = 4 * g
      let i1 = min(i0 + 4, n)
      // The group's own triangle.
      for i in i0..<i1 {
        d[i] = 1 / a[i * s + i]
        for j in (i + 1)..<i1 {
          a[i * s + j] = -head(a, d, row: i, column: j, end: j, stride: s) / a[j * s + j]
        }
      }
      var j = i1
      if i1 - i0 == 4 {
        let r = (a + i0 * s, a + (i0 + 1) * s, a + (i0 + 2) * s, a + (i0 + 3) * s)
        while j + 1 < n {
          let b0 = a + j * s
          let b1 = b0 + s
          let t = dot4x2(r, b0, b1, i1, j)
          @inline(__always) func finish(_ i: Int, _ s0: Double, _ s1: Double) {
            let row = a + i * s
            row[j] = -(s0 + head(a, d, row: i, column: j, end: i1, stride: s)) / b0[j]
            let next = s1 + head(a, d, row: i, column: j + 1, end: i1, stride: s) + row[j] * b1[j]
            row[j + 1] = -next / b1[j + 1]
          }
          finish(i0, t.0, t.4)
          finish(i0 + 1, t.1, t.5)
          finish(i0 + 2, t.2, t.6)
          finish(i0 + 3, t.3, t.7)
          j += 2
        }
      }
      while j < n {
        let other = a + j * s
        for i in i0..<i1 {
          let row = a + i * s
          row[j] =
            -(dot(row, other, i1, j) + head(a, d, row: i, column: j, end: i1, stride: s))
            / other[j]
        }
        j += 1
      }
    }
  }

  /// `Σ_{i≤k<end} V[i][k] L[column][k]`, the part of row `i`'s sum inside its group.
  @inline(__always)
  private static func head(
    _ a: UnsafeMutablePointer<Double>, _ d: UnsafeMutablePointer<Double>, row i: Int,
    column j: Int, end: Int, stride s: Int
  ) -> Double {
    var sum = d[i] * a[j * s + i]
    var k = i + 1
    while k < end {
      sum += a[i * s + k] * a[j * s + k]
      k += 1
    }
    return sum
  }

  // MARK: - Step 3: P = V Vᵀ

  /// Writes `P[i][j] = P[j][i]` into the lower triangle, `a[j][i]` for `j ≥ i`.
  static func multiplyInverse(
    _ a: UnsafeMutablePointer<Double>, diagonal: UnsafeMutablePointer<Double>, n: Int,
    stride s: Int, parallel: Bool
  ) {
    let d = diagonal
    forEach(count: (n + 3) / 4, parallel: parallel) { g in
      let i0 = 4 * g
      let i1 = min(i0 + 4, n)
      // Pairs inside the group.
      for i in i0..<i1 {
        let row = a + i * s
        for j in i..<i1 {
          let other = a + j * s
          let first = i == j ? d[i] * d[i] : row[j] * d[j]
          other[i] = first + dot(row, other, j + 1, n)
        }
      }
      var j = i1
      if i1 - i0 == 4 {
        let r = (a + i0 * s, a + (i0 + 1) * s, a + (i0 + 2) * s, a + (i0 + 3) * s)
        while j + 1 < n {
          let b0 = a + j * s
          let b1 = b0 + s
          let t = dot4x2(r, b0, b1, j + 2, n)
          @inline(__always) func finish(_ i: Int, _ s0: Double, _ s1: Double) {
            let row = a + i * s
            b0[i] = s0 + row[j + 1] * b0[j + 1] + row[j] * d[j]
            b1[i] = s1 + row[j + 1] * d[j + 1]
          }
          finish(i0, t.0, t.4)
          finish(i0 + 1, t.1, t.5)
          finish(i0 + 2, t.2, t.6)
          finish(i0 + 3, t.3, t.7)
          j += 2
        }
      }
      while j < n {
        let other = a + j * s
        for i in i0..<i1 {
          let row = a + i * s
          other[i] = row[j] * d[j] + dot(row, other, j + 1, n)
        }
        j += 1
      }
    }
  }

  // MARK: - Kernels

  /// Runs `body(0..<count)` on fixed one-item chunks, concurrently when `parallel`.
  @inline(__always)
  private static func forEach(count: Int, parallel: Bool, _ body: (Int) -> Void) {
    Parallel.forEachChunk(
      count: count, chunkCount: count, minimumParallelCount: parallel ? 2 : Int.max
    ) { range, _ in
      for index in range { body(index) }
    }
  }

  /// `Σ_{start≤k<end} x[k] y[k]` with four `SIMD4<Double>` lanes, then a scalar tail.
  @inline(__always)
  static func dot(
    _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ start: Int, _ end: Int
  ) -> Double {
    var acc0 = SIMD4<Double>()
    var acc1 = SIMD4<Double>()
    var k = start
    while k + 8 <= end {
      acc0 = acc0 + load(x, k) * load(y, k)
      acc1 = acc1 + load(x, k + 4) * load(y, k + 4)
      k += 8
    }
    if k + 4 <= end {
      acc0 = acc0 + load(x, k) * load(y, k)
      k += 4
    }
    var sum = horizontalSum(acc0 + acc1)
    while k < end {
      sum += x[k] * y[k]
      k += 1
    }
    return sum
  }

  /// The eight dots of four rows `r` with two rows `b0`, `b1` over `start..<end`:
  /// `(r0·b0, r1·b0, r2·b0, r3·b0, r0·b1, r1·b1, r2·b1, r3·b1)`.
  @inline(__always)
  static func dot4x2(
    _ r: (
      UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>,
      UnsafeMutablePointer<Double>
    ),
    _ b0: UnsafePointer<Double>, _ b1: UnsafePointer<Double>, _ start: Int, _ end: Int
  ) -> (Double, Double, Double, Double, Double, Double, Double, Double) {
    var a00 = SIMD4<Double>()
    var a10 = SIMD4<Double>()
    var a20 = SIMD4<Double>()
    var a30 = SIMD4<Double>()
    var a01 = SIMD4<Double>()
    var a11 = SIMD4<Double>()
    var a21 = SIMD4<Double>()
    var a31 = SIMD4<Double>()
    var k = start
    while k + 4 <= end {
      let y0 = load(b0, k)
      let y1 = load(b1, k)
      let x0 = load(r.0, k)
      let x1 = load(r.1, k)
      let x2 = load(r.2, k)
      let x3 = load(r.3, k)
      a00 = a00 + x0 * y0
      a10 = a10 + x1 * y0
      a20 = a20 + x2 * y0
      a30 = a30 + x3 * y0
      a01 = a01 + x0 * y1
      a11 = a11 + x1 * y1
      a21 = a21 + x2 * y1
      a31 = a31 + x3 * y1
      k += 4
    }
    var t = (
      horizontalSum(a00), horizontalSum(a10), horizontalSum(a20), horizontalSum(a30),
      horizontalSum(a01), horizontalSum(a11), horizontalSum(a21), horizontalSum(a31)
    )
    while k < end {
      let y0 = b0[k]
      let y1 = b1[k]
      t.0 += r.0[k] * y0
      t.1 += r.1[k] * y0
      t.2 += r.2[k] * y0
      t.3 += r.3[k] * y0
      t.4 += r.0[k] * y1
      t.5 += r.1[k] * y1
      t.6 += r.2[k] * y1
      t.7 += r.3[k] * y1
      k += 1
    }
    return t
  }

  @inline(__always)
  private static func load(_ p: UnsafePointer<Double>, _ k: Int) -> SIMD4<Double> {
    UnsafeRawPointer(p + k).loadUnaligned(as: SIMD4<Double>.self)
  }

  @inline(__always)
  private static func horizontalSum(_ v: SIMD4<Double>) -> Double {
    let h = v.lowHalf + v.highHalf
    return h[0] + h[1]
  }
}

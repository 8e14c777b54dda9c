/// A row-major `rows × columns` block of `Float`s on one contiguous buffer: a batch of vectors
/// (one row per example), a weight matrix, or a gradient.
public struct Matrix: Sendable, Equatable {
  public var rows: Int
  public var columns: Int
  public var storage: [Float]

  /// A zero matrix.
  public init(rows: Int, columns: Int) {
    self.rows = rows
    self.columns = columns
    storage = [Float](repeating: 0, count: rows * columns)
  }

  /// `storage.count` must be `rows · columns`; a mismatch is a programming error in the caller.
  public init(rows: Int, columns: Int, storage: [Float]) {
    assert(storage.count == rows * columns, "Matrix storage holds \(storage.count) values, not \(rows)×\(columns)")
    self.rows = rows
    self.columns = columns
    self.storage = storage
  }

  /// One row per element of `rows`; every row must have the same width.
  public init(stacking rows: [[Float]]) {
    self.rows = rows.count
    columns = rows.first?.count ?? 0
    storage = rows.flatMap { $0 }
  }

  public subscript(row: Int, column: Int) -> Float {
    get { storage[row * columns + column] }
    set { storage[row * columns + column] = newValue }
  }

  public func row(_ index: Int) -> ArraySlice<Float> { storage[(index * columns)..<((index + 1) * columns)] }

  /// The columns `range` of every row, as a new matrix.
  public func columns(_ range: Range<Int>) -> Matrix {
    var out = Matrix(rows: rows, columns: range.count)
    for r in 0..<rows {
      for (j, c) in range.enumerated() { out.storage[r * range.count + j] = storage[r * columns + c] }
    }
    return out
  }

  /// Rows laid side by side: `[a b]`, both with the same number of rows.
  public static func concatenating(_ a: Matrix, _ b: Matrix) -> Matrix {
    assert(a.rows == b.rows, "cannot concatenate \(a.rows) rows with \(b.rows)")
    var out = Matrix(rows: a.rows, columns: a.columns + b.columns)
    let width = out.columns
    for r in 0..<a.rows {
      for c in 0..<a.columns { out.storage[r * width + c] = a.storage[r * a.columns + c] }
      for c in 0..<b.columns { out.storage[r * width + a.columns + c] = b.storage[r * b.columns + c] }
    }
    return out
  }

  public var transposed: Matrix {
    var out = Matrix(rows: columns, columns: rows)
    storage.withUnsafeBufferPointer { src in
      out.storage.withUnsafeMutableBufferPointer { dst in
        for r in 0..<rows { for c in 0..<columns { dst[c * rows + r] = src[r * columns + c] } }
      }
    }
    return out
  }

  public var isFinite: Bool { storage.allSatisfy(\.isFinite) }

  /// `self · other`.
  public func multiplied(by other: Matrix) -> Matrix {
    assert(columns == other.rows, "cannot multiply \(rows)×\(columns) by \(other.rows)×\(other.columns)")
    var out = Matrix(rows: rows, columns: other.columns)
    Gemm.multiply(self, other, into: &out, transposeA: false, accumulate: false)
    return out
  }
}

/// Single-precision matrix products for the small shapes of neural layers (batch 16–512, widths
/// up to a few thousand): register-tiled SIMD8 kernels on raw pointers, no packing, one thread.
public enum Gemm {
  /// `c = (accumulate ? c : 0) + op(a) · b`, with `op(a) = a` or `aᵀ`. `b` and `c` are row-major.
  public static func multiply(_ a: Matrix, _ b: Matrix, into c: inout Matrix, transposeA: Bool, accumulate: Bool) {
    let m = transposeA ? a.columns : a.rows
    let k = transposeA ? a.rows : a.columns
    assert(k == b.rows && c.rows == m && c.columns == b.columns, "GEMM shapes do not agree")
    let n = b.columns
    let aRow = transposeA ? 1 : a.columns
    let aColumn = transposeA ? a.columns : 1
    a.storage.withUnsafeBufferPointer { ap in
      b.storage.withUnsafeBufferPointer { bp in
        c.storage.withUnsafeMutableBufferPointer { cp in
          guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return }
          kernel(
            m: m, n: n, k: k, a: ab, aRow: aRow, aColumn: aColumn, b: bb, ldb: n, c: cb, ldc: n,
            accumulate: accumulate)
        }
      }
    }
  }

  /// The raw kernel: element `(i, p)` of A is at `a[i·aRow + p·aColumn]`; B is `k × n` with row
  /// stride `ldb`; C is `m × n` with row stride `ldc`.
  static func kernel(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aColumn: Int,
    b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
  ) {
    typealias V = SIMD8<Float>
    let raw = UnsafeRawPointer(b)
    @inline(__always) func loadB(_ p: Int, _ j: Int) -> V {
      raw.loadUnaligned(fromByteOffset: (p * ldb + j) * 4, as: V.self)
    }
    @inline(__always) func store(_ v: V, _ i: Int, _ j: Int) {
      let pointer = UnsafeMutableRawPointer(c + i * ldc + j)
      if accumulate {
        pointer.storeBytes(of: pointer.loadUnaligned(as: V.self) + v, as: V.self)
      } else {
        pointer.storeBytes(of: v, as: V.self)
      }
    }
    var j = 0
    // Column panels of 16, rows in blocks of 6 (12 accumulators, 2 loads of B, 1 broadcast).
    while j + 16 <= n {
      var i = 0
      while i + 6 <= m {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow, a4 = a3 + aRow, a5 = a4 + aRow
        for p in 0..<k {
          let b0 = loadB(p, j), b1 = loadB(p, j + 8)
          let offset = p * aColumn
          var x = V(repeating: a0[offset])
          c00.addProduct(x, b0); c01.addProduct(x, b1)
          x = V(repeating: a1[offset])
          c10.addProduct(x, b0); c11.addProduct(x, b1)
          x = V(repeating: a2[offset])
          c20.addProduct(x, b0); c21.addProduct(x, b1)
          x = V(repeating: a3[offset])
          c30.addProduct(x, b0); c31.addProduct(x, b1)
          x = V(repeating: a4[offset])
          c40.addProduct(x, b0); c41.addProduct(x, b1)
          x = V(repeating: a5[offset])
          c50.addProduct(x, b0); c51.addProduct(x, b1)
        }
        store(c00, i, j); store(c01, i, j + 8)
        store(c10, i + 1, j); store(c11, i + 1, j + 8)
        store(c20, i + 2, j); store(c21, i + 2, j + 8)
        store(c30, i + 3, j); store(c31, i + 3, j + 8)
        store(c40, i + 4, j); store(c41, i + 4, j + 8)
        store(c50, i + 5, j); store(c51, i + 5, j + 8)
        i += 6
      }
      while i < m {
        var c0 = V(), c1 = V()
        let a0 = a + i * aRow
        for p in 0..<k {
          let x = V(repeating: a0[p * aColumn])
          c0.addProduct(x, loadB(p, j)); c1.addProduct(x, loadB(p, j + 8))
        }
        store(c0, i, j); store(c1, i, j + 8)
        i += 1
      }
      j += 16
    }
    // One panel of 8.
    if j + 8 <= n {
      var i = 0
      while i + 4 <= m {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V()
        let a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow
        for p in 0..<k {
          let bv = loadB(p, j)
          let offset = p * aColumn
          c0.addProduct(V(repeating: a0[offset]), bv); c1.addProduct(V(repeating: a1[offset]), bv)
          c2.addProduct(V(repeating: a2[offset]), bv); c3.addProduct(V(repeating: a3[offset]), bv)
        }
        store(c0, i, j); store(c1, i + 1, j); store(c2, i + 2, j); store(c3, i + 3, j)
        i += 4
      }
      while i < m {
        var c0 = V()
        let a0 = a + i * aRow
        for p in 0..<k { c0.addProduct(V(repeating: a0[p * aColumn]), loadB(p, j)) }
        store(c0, i, j)
        i += 1
      }
      j += 8
    }
    // The last < 8 columns: B's columns copied into a zero-padded k × 8 panel, the 8-wide kernel
    // into a scratch C, then the valid columns written back.
    if j < n {
      let width = n - j
      var panel = [Float](repeating: 0, count: k * 8)
      for p in 0..<k { for jj in 0..<width { panel[p * 8 + jj] = b[p * ldb + j + jj] } }
      var scratch = [Float](repeating: 0, count: m * 8)
      panel.withUnsafeBufferPointer { pp in
        scratch.withUnsafeMutableBufferPointer { sp in
          guard let pb = pp.baseAddress, let sb = sp.baseAddress else { return }
          kernel(
            m: m, n: 8, k: k, a: a, aRow: aRow, aColumn: aColumn, b: pb, ldb: 8, c: sb, ldc: 8, accumulate: false)
        }
      }
      for i in 0..<m {
        for jj in 0..<width {
          let value = scratch[i * 8 + jj]
          c[i * ldc + j + jj] = accumulate ? c[i * ldc + j + jj] + value : value
        }
      }
    }
  }
}

extension Gemm {
  /// `c = a · bᵀ` through the `a · b` kernel: `cᵀ = b · aᵀ`, with `a` (small: a batch) and the
  /// result transposed on the way. Faster than ``multiplyTransposed(_:_:into:)`` when `a` has few
  /// rows and `b` many (a layer's `dx = dy Wᵀ` with `W` stored `inputs × outputs`).
  public static func multiplyByTransposing(_ a: Matrix, _ b: Matrix, into c: inout Matrix) {
    assert(a.columns == b.columns && c.rows == a.rows && c.columns == b.rows, "GEMM shapes do not agree")
    var result = Matrix(rows: b.rows, columns: a.rows)
    multiply(b, a.transposed, into: &result, transposeA: false, accumulate: false)
    c = result.transposed
  }

  /// `c = a · bᵀ` for row-major `a` (`m × k`) and `b` (`n × k`): every entry is a dot product of
  /// two contiguous rows, so no transposed copy of `b` is made (a layer's `dx = dy Wᵀ`).
  public static func multiplyTransposed(_ a: Matrix, _ b: Matrix, into c: inout Matrix) {
    assert(a.columns == b.columns && c.rows == a.rows && c.columns == b.rows, "GEMM shapes do not agree")
    let m = a.rows, n = b.rows, k = a.columns
    typealias V = SIMD8<Float>
    a.storage.withUnsafeBufferPointer { ap in
      b.storage.withUnsafeBufferPointer { bp in
        c.storage.withUnsafeMutableBufferPointer { cp in
          guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return }
          let aRaw = UnsafeRawPointer(ab), bRaw = UnsafeRawPointer(bb)
          let body = k / 8 * 8
          @inline(__always) func load(_ raw: UnsafeRawPointer, _ row: Int, _ p: Int) -> V {
            raw.loadUnaligned(fromByteOffset: (row * k + p) * 4, as: V.self)
          }
          @inline(__always) func tail(_ i: Int, _ j: Int) -> Float {
            var sum: Float = 0
            for p in body..<k { sum += ab[i * k + p] * bb[j * k + p] }
            return sum
          }
          var i = 0
          while i + 2 <= m {
            var j = 0
            while j + 4 <= n {
              var s00 = V(), s01 = V(), s02 = V(), s03 = V(), s10 = V(), s11 = V(), s12 = V(), s13 = V()
              var p = 0
              while p < body {
                let x0 = load(aRaw, i, p), x1 = load(aRaw, i + 1, p)
                let y0 = load(bRaw, j, p), y1 = load(bRaw, j + 1, p), y2 = load(bRaw, j + 2, p), y3 = load(bRaw, j + 3, p)
                s00.addProduct(x0, y0); s01.addProduct(x0, y1); s02.addProduct(x0, y2); s03.addProduct(x0, y3)
                s10.addProduct(x1, y0); s11.addProduct(x1, y1); s12.addProduct(x1, y2); s13.addProduct(x1, y3)
                p += 8
              }
              let row0 = cb + i * n + j, row1 = row0 + n
              row0[0] = s00.sum() + tail(i, j); row0[1] = s01.sum() + tail(i, j + 1)
              row0[2] = s02.sum() + tail(i, j + 2); row0[3] = s03.sum() + tail(i, j + 3)
              row1[0] = s10.sum() + tail(i + 1, j); row1[1] = s11.sum() + tail(i + 1, j + 1)
              row1[2] = s12.sum() + tail(i + 1, j + 2); row1[3] = s13.sum() + tail(i + 1, j + 3)
              j += 4
            }
            while j < n {
              var s0 = V(), s1 = V()
              var p = 0
              while p < body {
                let y = load(bRaw, j, p)
                s0.addProduct(load(aRaw, i, p), y); s1.addProduct(load(aRaw, i + 1, p), y)
                p += 8
              }
              cb[i * n + j] = s0.sum() + tail(i, j)
              cb[(i + 1) * n + j] = s1.sum() + tail(i + 1, j)
              j += 1
            }
            i += 2
          }
          while i < m {
            for j in 0..<n {
              var s = V()
              var p = 0
              while p < body {
                s.addProduct(load(aRaw, i, p), load(bRaw, j, p))
                p += 8
              }
              cb[i * n + j] = s.sum() + tail(i, j)
            }
            i += 1
          }
        }
      }
    }
  }
}

extension SIMD8<Float> {
  @inline(__always)
  mutating func addProduct(_ x: Self, _ y: Self) { self = self.addingProduct(x, y) }
}

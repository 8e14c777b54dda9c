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
  @inline(__always)
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
    // Column panels of 16.
    while j + 16 <= n {
      var i = 0
      while i + 4 <= m {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        let a0 = a + i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow
        for p in 0..<k {
          let b0 = loadB(p, j), b1 = loadB(p, j + 8)
          let offset = p * aColumn
          let x0 = V(repeating: a0[offset]), x1 = V(repeating: a1[offset])
          let x2 = V(repeating: a2[offset]), x3 = V(repeating: a3[offset])
          c00.addProduct(x0, b0); c01.addProduct(x0, b1)
          c10.addProduct(x1, b0); c11.addProduct(x1, b1)
          c20.addProduct(x2, b0); c21.addProduct(x2, b1)
          c30.addProduct(x3, b0); c31.addProduct(x3, b1)
        }
        store(c00, i, j); store(c01, i, j + 8)
        store(c10, i + 1, j); store(c11, i + 1, j + 8)
        store(c20, i + 2, j); store(c21, i + 2, j + 8)
        store(c30, i + 3, j); store(c31, i + 3, j + 8)
        i += 4
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
    // The last < 8 columns.
    if j < n {
      for i in 0..<m {
        let a0 = a + i * aRow
        for jj in j..<n {
          var sum: Float = 0
          for p in 0..<k { sum += a0[p * aColumn] * b[p * ldb + jj] }
          c[i * ldc + jj] = accumulate ? c[i * ldc + jj] + sum : sum
        }
      }
    }
  }
}

extension SIMD8<Float> {
  @inline(__always)
  mutating func addProduct(_ x: Self, _ y: Self) { self = self.addingProduct(x, y) }
}

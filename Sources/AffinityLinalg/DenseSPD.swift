/// Dense symmetric positive-definite solves in Double for the closed-form feature models.
public enum DenseSPD {
  /// The lower Cholesky factor of `a` (`n × n`), or nil when `a` is not positive definite.
  public static func cholesky(_ a: [Double], n: Int) -> [Double]? {
    var l = a
    for j in 0..<n {
      var diagonal = l[j * n + j]
      for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
      guard diagonal > 0, diagonal.isFinite else { return nil }
      let root = diagonal.squareRoot()
      l[j * n + j] = root
      for i in (j + 1)..<max(j + 1, n) {
        var s = l[i * n + j]
        for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
        l[i * n + j] = s / root
      }
      for k in (j + 1)..<max(j + 1, n) { l[j * n + k] = 0 }
    }
    return l
  }

  /// Solves `L Lᵀ x = b` in place.
  public static func solve(_ l: [Double], n: Int, _ b: inout [Double]) {
    for i in 0..<n {
      var s = b[i]
      for k in 0..<i { s -= l[i * n + k] * b[k] }
      b[i] = s / l[i * n + i]
    }
    for i in stride(from: n - 1, through: 0, by: -1) {
      var s = b[i]
      for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * b[k] }
      b[i] = s / l[i * n + i]
    }
  }

  /// `A⁻¹` (row-major `n × n`) from the lower Cholesky factor `l` of `A`, one solve per column.
  public static func inverse(cholesky l: [Double], n: Int) -> [Double] {
    var inverse = [Double](repeating: 0, count: n * n)
    for column in 0..<n {
      var e = [Double](repeating: 0, count: n)
      e[column] = 1
      solve(l, n: n, &e)
      for row in 0..<n { inverse[row * n + column] = e[row] }
    }
    return inverse
  }
}

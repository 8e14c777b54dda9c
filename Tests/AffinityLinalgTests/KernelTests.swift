import AffinityLinalg
import Testing

@Suite("SIMD kernels agree with scalar loops")
struct KernelTests {
  func randomVector(_ n: Int, seed: Int) -> [Float] {
    (0..<n).map { Float(((($0 &+ seed) &* 2_654_435_761) % 1_000)) / 500 - 1 }
  }

  @Test(arguments: [0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 131])
  func dotMatchesScalar(count: Int) {
    let a = randomVector(count, seed: 1)
    let b = randomVector(count, seed: 2)
    var expected: Float = 0
    for k in 0..<count { expected += a[k] * b[k] }
    let got = a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in Vector.dot(pa.baseAddress!, pb.baseAddress!, count: count) }
    }
    #expect(abs(got - expected) <= 1e-4 * max(1, abs(expected)))
  }

  @Test(arguments: [1, 8, 13, 100])
  func factorStepMatchesScalar(count: Int) {
    var p = randomVector(count, seed: 3)
    var q = randomVector(count, seed: 4)
    let (p0, q0) = (p, q)
    Vector.factorStep(&p, &q, count: count, error: 0.7, learningRateP: 0.01, regularizationP: 0.02, learningRateQ: 0.01, regularizationQ: 0.02)
    for f in 0..<count {
      #expect(abs(p[f] - (p0[f] + 0.01 * (0.7 * q0[f] - 0.02 * p0[f]))) < 1e-6)
      #expect(abs(q[f] - (q0[f] + 0.01 * (0.7 * p0[f] - 0.02 * q0[f]))) < 1e-6)
    }
  }

  @Test func topKEqualsSortingWithTiesByIndex() {
    let scores: [Float] = [3, 1, 3, -.infinity, 7, .nan, 2, 7]
    #expect(TopK.indices(of: scores, count: 3) == [4, 7, 0])
    #expect(TopK.indices(of: scores, count: 100) == [4, 7, 0, 2, 6, 1])
    #expect(TopK.indices(of: scores, count: 0).isEmpty)
    let many = randomVector(5_000, seed: 9)
    let expected = Array(many.indices.sorted { many[$0] > many[$1] || (many[$0] == many[$1] && $0 < $1) }.prefix(25))
    #expect(TopK.indices(of: many, count: 25) == expected)
  }

  @Test func sparseTransposeRoundTrips() {
    let m = SparseRowMatrix(rowCount: 3, columnCount: 4, rows: [0, 2, 0, 1], columns: [3, 0, 1, 3], values: [1, 2, 3, 4])
    #expect(m.range(ofRow: 0).map { m.columns[$0] } == [3, 1], "row keeps input order")
    let t = m.transposed()
    #expect(t.rowCount == 4)
    #expect(t.range(ofRow: 3).map { t.values[$0] } == [1, 4])
    #expect(t.transposed().rowStarts == m.rowStarts)
  }

  @Test func parallelChunksCoverEveryIndexOnce() {
    var hits = [Int](repeating: 0, count: 10_000)
    hits.withUnsafeMutableBufferPointer { buffer in
      let box = UncheckedBoxForTests(buffer)
      Parallel.forEachChunk(count: 10_000, chunkCount: 37) { range, _ in
        for k in range { box.value[k] += 1 }
      }
    }
    #expect(hits.allSatisfy { $0 == 1 })
    let sums = Parallel.mapChunks(count: 1_000, chunkCount: 8, minimumParallelCount: 1) { range, _ in range.reduce(0, +) }
    #expect(sums.count == 8)
    #expect(sums.reduce(0, +) == 499_500)
  }
}

struct UncheckedBoxForTests<T>: @unchecked Sendable {
  var value: T
  init(_ value: T) { self.value = value }
}

@Suite("Top-k never loses a score next to a NaN")
struct TopKNaNTests {
  @Test func nanLanesDoNotHideScores() {
    var scores = [Float](repeating: 0, count: 64)
    for block in 0..<8 {
      scores[block * 8] = .nan
      scores[block * 8 + 5] = Float(block + 1)
    }
    #expect(TopK.indices(of: scores, count: 3) == [61, 53, 45])
    let allNaN = [Float](repeating: .nan, count: 16)
    #expect(TopK.indices(of: allNaN, count: 3).isEmpty)
  }
}

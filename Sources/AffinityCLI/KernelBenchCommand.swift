import AffinityCore
import AffinityLinalg
import ArgumentParser
import Foundation

/// `affinity bench-kernels`: the linear-algebra kernels against the machine, on random data.
struct KernelBenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-kernels",
    abstract: "Measure the score product (GFLOP/s), Cholesky solves and top-k selection.")

  @Option(help: "Users in the score product.") var users: Int = 10_000
  @Option(help: "Items in the score product.") var items: Int = 20_000
  @Option(help: "Factors.") var factors: Int = 64
  @Option(help: "1 or 2 threads.") var threads: Int = 2
  @Option(help: "table or json.") var format: OutputFormat = .table

  struct Result: Encodable {
    var threads: Int
    var gemm_shape: String
    var gemm_gflops: Double
    var cholesky_microseconds: Double
    var topk_microseconds: Double
  }

  func run() throws {
    var generator = SeededGenerator(seed: 1)
    let x = DenseMatrix(rows: users, columns: factors) { _, _ in Float(generator.nextUniform()) - 0.5 }
    let y = DenseMatrix(rows: items, columns: factors) { _, _ in Float(generator.nextUniform()) - 0.5 }
    let packed = PackedFactors(y)
    let block = 64
    let serial = threads <= 1
    // Score product: blocks of 64 users against every item, as batched recommendation does.
    let start = Date()
    Parallel.$isSerial.withValue(serial) {
      let blocks = (users + block - 1) / block
      _ = Parallel.mapChunks(count: blocks, chunkCount: 32, minimumParallelCount: 2) { range, _ -> Float in
        var out = [Float](repeating: 0, count: block * packed.paddedRows)
        var checksum: Float = 0
        x.storage.withUnsafeBufferPointer { xb in
          out.withUnsafeMutableBufferPointer { ob in
            guard let xp = xb.baseAddress, let op = ob.baseAddress else { return }
            for b in range {
              let m = min(block, users - b * block)
              DenseKernels.scores(users: xp + b * block * x.stride, userCount: m, stride: x.stride, packed: packed, out: op)
              checksum += op[0]
            }
          }
        }
        return checksum
      }
    }
    let gemmSeconds = Date().timeIntervalSince(start)
    let gflops = 2 * Double(users) * Double(items) * Double(factors) / gemmSeconds / 1e9

    // Cholesky solve of a k × k SPD system (k = factors).
    let gram = DenseKernels.gram(y, regularization: 1, parallel: false)
    var workspace: [Double] = []
    var rhs = [Float](repeating: 1, count: gram.stride)
    let solves = 2_000
    let choleskyStart = Date()
    gram.storage.withUnsafeBufferPointer { gb in
      rhs.withUnsafeMutableBufferPointer { rb in
        guard let g = gb.baseAddress, let r = rb.baseAddress else { return }
        for _ in 0..<solves {
          for f in 0..<factors { r[f] = 1 }
          _ = DenseKernels.choleskySolve(g, stride: gram.stride, k: factors, b: r, workspace: &workspace)
        }
      }
    }
    let choleskyMicros = Date().timeIntervalSince(choleskyStart) / Double(solves) * 1e6

    // Top-10 of `items` scores.
    let scores = (0..<items).map { _ in Float(generator.nextUniform()) }
    let rounds = 2_000
    let topStart = Date()
    var sink = 0
    for _ in 0..<rounds { sink &+= TopK.indices(of: scores, count: 10)[0] }
    let topMicros = Date().timeIntervalSince(topStart) / Double(rounds) * 1e6
    if sink == -1 { print("") }

    let result = Result(
      threads: threads, gemm_shape: "(\(users)×\(factors))·(\(factors)×\(items))", gemm_gflops: gflops,
      cholesky_microseconds: choleskyMicros, topk_microseconds: topMicros)
    if format == .json {
      print(try Output.json(result))
    } else {
      print("score product \(result.gemm_shape), \(threads) thread(s): \(Output.number(gflops, digits: 1)) GFLOP/s")
      print("Cholesky solve k=\(factors): \(Output.number(choleskyMicros, digits: 1)) µs")
      print("top-10 of \(items): \(Output.number(topMicros, digits: 1)) µs")
    }
  }
}

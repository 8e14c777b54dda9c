import AffinityCore
import AffinityNeural
import Foundation
import Testing

/// Random matrices for the checks.
func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64, scale: Float = 1) -> Matrix {
  var generator = SeededGenerator(seed: seed)
  return Matrix(
    rows: rows, columns: columns,
    storage: (0..<(rows * columns)).map { _ in Float(2 * generator.nextUniform() - 1) * scale })
}

/// `‖a − b‖ / max(‖a + b‖, tiny)`: 0 for equal vectors, about 1 for unrelated ones.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
  var difference: Double = 0, sum: Double = 0
  for (x, y) in zip(a, b) {
    difference += Double(x - y) * Double(x - y)
    sum += Double(x + y) * Double(x + y)
  }
  return difference.squareRoot() / max(sum.squareRoot(), 1e-12)
}

@Suite("Neural engine: kernels, layers, gradients, optimisers, bundles")
struct NeuralEngineTests {
  @Test(arguments: [(1, 1, 1), (5, 17, 3), (7, 9, 4), (64, 100, 300), (13, 33, 64), (4, 16, 1)])
  func gemmAgreesWithTheDefinition(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    for transposeA in [false, true] {
      let a = transposeA ? randomMatrix(k, m, seed: 1) : randomMatrix(m, k, seed: 1)
      let b = randomMatrix(k, n, seed: 2)
      var c = randomMatrix(m, n, seed: 3)
      let start = c
      Gemm.multiply(a, b, into: &c, transposeA: transposeA, accumulate: true)
      var worst: Float = 0
      for i in 0..<m {
        for j in 0..<n {
          var expected = start[i, j]
          for p in 0..<k { expected += (transposeA ? a[p, i] : a[i, p]) * b[p, j] }
          worst = max(worst, abs(expected - c[i, j]))
        }
      }
      #expect(worst < 1e-3, "m \(m) n \(n) k \(k) transposeA \(transposeA): worst error \(worst)")
    }
    // a · bᵀ with both row-major.
    let a = randomMatrix(m, k, seed: 4), b = randomMatrix(n, k, seed: 5)
    var c = Matrix(rows: m, columns: n)
    Gemm.multiplyTransposed(a, b, into: &c)
    var worst: Float = 0
    for i in 0..<m {
      for j in 0..<n {
        var expected: Float = 0
        for p in 0..<k { expected += a[i, p] * b[j, p] }
        worst = max(worst, abs(expected - c[i, j]))
      }
    }
    #expect(worst < 1e-3, "a·bᵀ, m \(m) n \(n) k \(k): worst error \(worst)")
  }

  /// Central finite differences of `loss` against the analytic gradients of every parameter and
  /// of the input, for networks with every layer kind (ReLU is checked on inputs away from 0).
  @Test(arguments: [Activation.tanh, .sigmoid, .relu])
  func backwardMatchesFiniteDifferences(activation: Activation) throws {
    let layers: [Layer] = [
      .dense(inputs: 5, outputs: 7), .layerNorm(width: 7), .activation(activation),
      .dense(inputs: 7, outputs: 6), .activation(.tanh), .dense(inputs: 6, outputs: 3), .activation(.sigmoid),
    ]
    var network = try Network(layers: layers, seed: 11)
    let input = randomMatrix(4, 5, seed: 12)
    let target = randomMatrix(4, 3, seed: 13)
    let weights: [Float] = [1, 0.5, 2, 1.5]
    func loss(_ n: Network, _ x: Matrix) -> Float {
      Loss.meanSquaredError(n.forward(x), target, weights: weights).value
    }
    var generator = SeededGenerator(seed: 1)
    let trace = network.forward(input, generator: &generator)
    let (_, dOut) = Loss.meanSquaredError(trace.output, target, weights: weights)
    let (dInput, gradients) = network.backward(dOut, trace: trace, inputGradient: true)
    let h: Float = 1e-2
    for slot in network.parameters.indices {
      var numeric: [Float] = []
      for i in network.parameters[slot].indices {
        let saved = network.parameters[slot][i]
        network.parameters[slot][i] = saved + h
        let up = loss(network, input)
        network.parameters[slot][i] = saved - h
        let down = loss(network, input)
        network.parameters[slot][i] = saved
        numeric.append((up - down) / (2 * h))
      }
      let error = relativeError(numeric, gradients.tensors[slot])
      #expect(error < 2e-2, "slot \(slot) relative error \(error)")
    }
    var numericInput: [Float] = []
    for i in input.storage.indices {
      var up = input, down = input
      up.storage[i] += h
      down.storage[i] -= h
      numericInput.append((loss(network, up) - loss(network, down)) / (2 * h))
    }
    let inputError = relativeError(numericInput, dInput?.storage ?? [])
    #expect(inputError < 2e-2, "input relative error \(inputError)")
  }

  @Test func lossGradientsMatchFiniteDifferences() {
    let logits = randomMatrix(3, 4, seed: 21, scale: 2)
    let h: Float = 1e-2
    func check(_ f: (Matrix) -> Float, _ gradient: Matrix, _ name: String) {
      var numeric: [Float] = []
      for i in logits.storage.indices {
        var up = logits, down = logits
        up.storage[i] += h
        down.storage[i] -= h
        numeric.append((f(up) - f(down)) / (2 * h))
      }
      let error = relativeError(numeric, gradient.storage)
      #expect(error < 1e-2, "\(name): relative error \(error)")
    }
    let labels = [0, 3, 1]
    check({ Loss.crossEntropy(logits: $0, labels: labels).value }, Loss.crossEntropy(logits: logits, labels: labels).gradient, "cross-entropy")
    let targets = Matrix(rows: 3, columns: 4, storage: [1, 0, 0, 1, 0, 1, 1, 0, 0.5, 0, 1, 1])
    check(
      { Loss.binaryCrossEntropy(logits: $0, targets: targets).value },
      Loss.binaryCrossEntropy(logits: logits, targets: targets).gradient, "binary cross-entropy")
    let negative = randomMatrix(3, 4, seed: 22)
    check({ Loss.bpr(positive: $0, negative: negative).value }, Loss.bpr(positive: logits, negative: negative).positive, "BPR")
    // Cross-entropy of a confident right answer is small; of a confident wrong one, large.
    let confident = Matrix(rows: 1, columns: 2, storage: [10, -10])
    #expect(Loss.crossEntropy(logits: confident, labels: [0]).value < 1e-3)
    #expect(Loss.crossEntropy(logits: confident, labels: [1]).value > 19)
  }

  @Test func embeddingGradientsAreSparseAndSumRepeats() throws {
    var embedding = try Embedding(count: 6, dimension: 3, seed: 5)
    let ids: [Int32] = [4, 1, 4]
    let upstream = randomMatrix(3, 3, seed: 6)
    let gradient = Embedding.gradient(ids: ids, outputGradient: upstream)
    #expect(gradient.rows == [1, 4])
    for c in 0..<3 {
      #expect(gradient.values[c] == upstream[1, c])
      #expect(abs(gradient.values[3 + c] - (upstream[0, c] + upstream[2, c])) < 1e-6)
    }
    // A sparse Adam step moves only rows 1 and 4.
    let before = embedding.table
    var optimizer = try Optimizer(.adam, learningRate: 0.1)
    optimizer.step(&embedding, gradient)
    for row in 0..<6 {
      let moved = (0..<3).contains { embedding.table[row * 3 + $0] != before[row * 3 + $0] }
      #expect(moved == (row == 1 || row == 4), "row \(row)")
    }
    #expect(throws: NeuralError.self) { try Embedding(count: 0, dimension: 3, seed: 1) }
  }

  @Test func optimisersTakeTheirTextbookFirstStep() throws {
    let gradient = Gradients(tensors: [[0.5, -2, 0]])
    // Adam's and Adagrad's first step is −lr·sign(g) (up to ε); SGD's is −lr·g.
    for (method, expected) in [
      (Optimizer.Method.adam, [Float](arrayLiteral: -0.1, 0.1, 0)),
      (.adagrad, [-0.1, 0.1, 0]),
      (.sgd, [-0.05, 0.2, 0]),
    ] {
      var optimizer = try Optimizer(method, learningRate: 0.1)
      var parameters: [[Float]] = [[0, 0, 0]]
      optimizer.step(&parameters, gradient)
      #expect(relativeError(parameters[0], expected) < 1e-5, "\(method): \(parameters[0])")
    }
    // Momentum accumulates: second step with the same gradient moves by lr·(1 + μ)·g.
    var momentum = try Optimizer(.sgd(momentum: 0.9), learningRate: 0.1)
    var parameters: [[Float]] = [[0, 0, 0]]
    momentum.step(&parameters, gradient)
    momentum.step(&parameters, gradient)
    #expect(abs(parameters[0][0] - (-0.05 - 0.05 * 1.9)) < 1e-6)
    // Clipping scales the whole gradient to the norm.
    var clipped = try Optimizer(.sgd, learningRate: 1, clipNorm: 1)
    var p: [[Float]] = [[0, 0, 0]]
    clipped.step(&p, Gradients(tensors: [[3, 4, 0]]))
    #expect(abs(p[0][0] + 0.6) < 1e-6 && abs(p[0][1] + 0.8) < 1e-6)
    #expect(throws: ConfigurationError.self) { try Optimizer(.adam, learningRate: -1) }
    #expect(throws: ConfigurationError.self) { try Optimizer(.sgd(momentum: 1), learningRate: 0.1) }
  }

  /// XOR needs the hidden layer: a network that trains on it shows forward, backward and Adam
  /// work together.
  @Test func aSmallNetworkLearnsXor() throws {
    var network = try Network.perceptron(input: 2, hidden: [8], output: 1, activation: .tanh, seed: 3)
    var optimizer = try Optimizer(.adam, learningRate: 0.05)
    let x = Matrix(rows: 4, columns: 2, storage: [0, 0, 0, 1, 1, 0, 1, 1])
    let y = Matrix(rows: 4, columns: 1, storage: [0, 1, 1, 0])
    var generator = SeededGenerator(seed: 1)
    let initial = Loss.binaryCrossEntropy(logits: network.forward(x), targets: y).value
    for _ in 0..<500 {
      let trace = network.forward(x, generator: &generator)
      let (_, dOut) = Loss.binaryCrossEntropy(logits: trace.output, targets: y)
      optimizer.step(&network, network.backward(dOut, trace: trace).gradients)
    }
    let final = Loss.binaryCrossEntropy(logits: network.forward(x), targets: y).value
    #expect(initial > 0.6 && final < 0.05, "loss \(initial) → \(final)")
  }

  @Test func dropoutIsSeededAndOffAtInference() throws {
    let network = try Network(layers: [.dense(inputs: 4, outputs: 50), .dropout(rate: 0.5)], seed: 2)
    let x = randomMatrix(3, 4, seed: 3)
    var g1 = SeededGenerator(seed: 9), g2 = SeededGenerator(seed: 9)
    let a = network.forward(x, generator: &g1), b = network.forward(x, generator: &g2)
    #expect(a.output == b.output)
    let zeros = a.output.storage.filter { $0 == 0 }.count
    #expect(zeros > 40 && zeros < 110, "\(zeros) of 150 dropped")
    var g3 = SeededGenerator(seed: 9)
    #expect(network.forward(x) == network.forward(x, training: false, generator: &g3).output)
    // The gradient flows only through the kept units.
    let (_, gradients) = network.backward(Matrix(rows: 3, columns: 50, storage: .init(repeating: 1, count: 150)), trace: a)
    let kept = (0..<50).filter { c in (0..<3).contains { a.output[$0, c] != 0 } }
    #expect(gradients.tensors[1].enumerated().allSatisfy { c, g in kept.contains(c) == (g != 0) })
  }

  @Test func softUpdateAndShapesAreChecked() throws {
    var target = try Network.perceptron(input: 3, hidden: [4], output: 2, seed: 1)
    let source = try Network.perceptron(input: 3, hidden: [4], output: 2, seed: 2)
    let before = target.parameters[0][0]
    target.softUpdate(toward: source, tau: 0.25)
    #expect(abs(target.parameters[0][0] - (0.75 * before + 0.25 * source.parameters[0][0])) < 1e-6)
    #expect(throws: NeuralError.self) {
      try Network(layers: [.dense(inputs: 3, outputs: 4), .dense(inputs: 5, outputs: 1)], seed: 1)
    }
    #expect(throws: NeuralError.self) { try Network(layers: [.dropout(rate: 1)], seed: 1) }
    // DDPG's final-layer initialisation.
    let actor = try Network.perceptron(input: 3, hidden: [4], output: 2, outputActivation: .tanh, seed: 1, finalScale: 3e-3)
    #expect(actor.parameters[2].allSatisfy { abs($0) <= 3e-3 })
  }

  @Test func bundlesRoundTripAndRefuseCorruption() throws {
    let network = try Network.perceptron(input: 3, hidden: [4], output: 2, layerNorm: true, seed: 1)
    let bundle = NeuralBundle(
      kind: "test", configuration: #"{"a":1}"#, networks: ["actor": network],
      tensors: ["items": (shape: [2, 3], values: [1, 2, 3, 4, 5, 6])])
    var withProvenance = bundle
    withProvenance.provenance = ["seed": "3"]
    #expect(try NeuralBundle.decode(withProvenance.encoded(), file: "p").provenance == ["seed": "3"])
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neural-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("model.affinity").path
    try bundle.write(to: path)
    let read = try NeuralBundle.read(from: path)
    #expect(read == bundle)
    #expect(read.networks["actor"]?.forward(randomMatrix(2, 3, seed: 4)) == network.forward(randomMatrix(2, 3, seed: 4)))
    var bytes = try bundle.encoded()
    bytes[bytes.count - 1] ^= 0xFF
    #expect(throws: BundleError.self) { try NeuralBundle.decode(bytes, file: "x") }
    #expect(throws: BundleError.self) { try NeuralBundle.decode(Array(bytes.prefix(20)), file: "x") }
  }
}

@Suite("GRU")
struct GRUTests {
  /// Backpropagation through time against central differences, for the weights, every step's
  /// input and the initial state, with a loss that reads every state.
  @Test func backwardThroughTimeMatchesFiniteDifferences() throws {
    var gru = try GRU(inputs: 5, hidden: 6, seed: 3)
    let steps = (0..<4).map { randomMatrix(3, 5, seed: 20 + UInt64($0)) }
    let initial = randomMatrix(3, 6, seed: 30, scale: 0.5)
    let readouts = (0..<4).map { randomMatrix(3, 6, seed: 40 + UInt64($0)) }
    func loss(_ g: GRU, _ xs: [Matrix], _ h0: Matrix) throws -> Float {
      let trace = try g.forward(xs, initial: h0)
      var total: Float = 0
      for t in 0..<xs.count {
        for i in readouts[t].storage.indices { total += readouts[t].storage[i] * trace.states[t + 1].storage[i] }
      }
      return total
    }
    let trace = try gru.forward(steps, initial: initial)
    let (dInputs, dInitial, gradients) = try gru.backward(readouts, trace: trace)
    let h: Float = 1e-2
    for slot in gru.parameters.indices {
      var numeric: [Float] = []
      for i in gru.parameters[slot].indices {
        let saved = gru.parameters[slot][i]
        gru.parameters[slot][i] = saved + h
        let up = try loss(gru, steps, initial)
        gru.parameters[slot][i] = saved - h
        let down = try loss(gru, steps, initial)
        gru.parameters[slot][i] = saved
        numeric.append((up - down) / (2 * h))
      }
      let error = relativeError(numeric, gradients.tensors[slot])
      #expect(error < 2e-2, "slot \(slot) relative error \(error)")
    }
    for t in steps.indices {
      var numeric: [Float] = []
      for i in steps[t].storage.indices {
        var up = steps, down = steps
        up[t].storage[i] += h
        down[t].storage[i] -= h
        numeric.append((try loss(gru, up, initial) - loss(gru, down, initial)) / (2 * h))
      }
      let error = relativeError(numeric, dInputs[t].storage)
      #expect(error < 2e-2, "input \(t) relative error \(error)")
    }
    var numericInitial: [Float] = []
    for i in initial.storage.indices {
      var up = initial, down = initial
      up.storage[i] += h
      down.storage[i] -= h
      numericInitial.append((try loss(gru, steps, up) - loss(gru, steps, down)) / (2 * h))
    }
    #expect(relativeError(numericInitial, dInitial.storage) < 2e-2)
  }

  /// A GRU and a dense read-out learn to recall the first of five inputs (which only the
  /// recurrence can carry to the end), and shapes are checked.
  @Test func learnsToRememberAndChecksShapes() throws {
    var gru = try GRU(inputs: 1, hidden: 8, seed: 5)
    var head = try Network.perceptron(input: 8, hidden: [], output: 1, seed: 6)
    var gruOptimizer = try Optimizer(.adam, learningRate: 0.02)
    var headOptimizer = try Optimizer(.adam, learningRate: 0.02)
    var generator = SeededGenerator(seed: 7)
    func batch() -> [Matrix] {
      (0..<5).map { _ in Matrix(rows: 16, columns: 1, storage: (0..<16).map { _ in Float(2 * generator.nextUniform() - 1) }) }
    }
    var lastLoss: Float = .infinity
    for _ in 0..<400 {
      let xs = batch()
      let trace = try gru.forward(xs)
      var g = SeededGenerator(seed: 0)
      let headTrace = head.forward(trace.final, generator: &g)
      let (value, dOut) = Loss.meanSquaredError(headTrace.output, xs[0], weights: nil)
      let (dFinal, headGradients) = head.backward(dOut, trace: headTrace, inputGradient: true)
      var dStates = [Matrix](repeating: Matrix(rows: 16, columns: 8), count: 5)
      dStates[4] = try #require(dFinal)
      let (_, _, gradients) = try gru.backward(dStates, trace: trace)
      gruOptimizer.step(&gru.parameters, gradients)
      headOptimizer.step(&head, headGradients)
      lastLoss = value
    }
    // Predicting 0 scores the variance of U(−1, 1), 1/3.
    #expect(lastLoss < 0.05, "recall loss \(lastLoss)")
    #expect(throws: NeuralError.self) { try gru.forward([Matrix(rows: 2, columns: 3)]) }
    #expect(throws: NeuralError.self) { try GRU(inputs: 2, hidden: 2, parameters: [[1]]) }
    let trace = try gru.forward([Matrix(rows: 2, columns: 1)])
    #expect(throws: NeuralError.self) { try gru.backward([], trace: trace) }
  }
}

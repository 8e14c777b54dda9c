public import AffinityCore
import Foundation

/// An element-wise nonlinearity.
public enum Activation: String, Sendable, Codable, CaseIterable {
  case identity, relu, tanh, sigmoid
}

/// One layer of a ``Network``: its structure only; the weights live in ``Network/parameters``.
public enum Layer: Sendable, Equatable, Codable {
  /// `y = x W + b`, `W` is `inputs × outputs`.
  case dense(inputs: Int, outputs: Int)
  case activation(Activation)
  /// Per-row normalisation to zero mean and unit variance, then a learned gain and bias.
  case layerNorm(width: Int)
  /// Zeroes each value with probability `rate` while training and scales the rest by `1/(1−rate)`.
  case dropout(rate: Float)

  /// How many parameter tensors the layer owns (weight and bias, or gain and bias).
  var parameterSlots: Int {
    switch self {
    case .dense, .layerNorm: 2
    case .activation, .dropout: 0
    }
  }
}

/// Everything a backward pass needs from its forward pass.
public struct Trace: Sendable {
  /// `values[0]` is the input; `values[i + 1]` is layer `i`'s output.
  public var values: [Matrix]
  /// Layer norm: the normalised input and each row's `1/σ`. Dropout: the scaled keep-mask.
  var extras: [Int: (Matrix, [Float])]

  public var output: Matrix { values[values.count - 1] }
}

/// Gradients of a network's parameters, aligned with ``Network/parameters``.
public struct Gradients: Sendable, Equatable {
  public var tensors: [[Float]]

  public init(tensors: [[Float]]) { self.tensors = tensors }

  /// `self += other · scale`.
  public mutating func add(_ other: Gradients, scale: Float = 1) {
    for s in tensors.indices {
      for i in tensors[s].indices { tensors[s][i] += scale * other.tensors[s][i] }
    }
  }

  /// The global L2 norm over every tensor.
  public var norm: Float {
    var sum: Double = 0
    for t in tensors { for v in t { sum += Double(v) * Double(v) } }
    return Float(sum.squareRoot())
  }
}

/// A feed-forward network (a stack of layers) with hand-written backward passes.
///
/// A value type: copying it copies the weights (a target network is `let target = network`).
/// ``forward(_:)`` is inference; ``forward(_:training:generator:)`` also returns the ``Trace`` that
/// ``backward(_:trace:inputGradient:)`` consumes.
public struct Network: Sendable, Equatable {
  public let layers: [Layer]
  /// Two tensors per dense layer (`W` row-major `inputs × outputs`, then `b`) and per layer norm
  /// (gain, bias), in layer order.
  public var parameters: [[Float]]
  /// The first parameter slot of each layer.
  let slots: [Int]

  public var inputWidth: Int {
    for layer in layers {
      switch layer {
      case .dense(let inputs, _): return inputs
      case .layerNorm(let width): return width
      default: continue
      }
    }
    return 0
  }

  public var outputWidth: Int {
    for layer in layers.reversed() {
      switch layer {
      case .dense(_, let outputs): return outputs
      case .layerNorm(let width): return width
      default: continue
      }
    }
    return inputWidth
  }

  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

  /// A network with the given layers and explicit parameters (for loading); throws when the
  /// shapes disagree.
  public init(layers: [Layer], parameters: [[Float]]) throws(NeuralError) {
    var slots: [Int] = []
    var next = 0
    var width: Int?
    for (index, layer) in layers.enumerated() {
      slots.append(next)
      switch layer {
      case .dense(let inputs, let outputs):
        guard inputs > 0, outputs > 0 else { throw .invalidLayer(index: index, reason: "dense layer widths must be ≥ 1") }
        if let width, width != inputs {
          throw .invalidLayer(index: index, reason: "dense layer expects \(inputs) inputs but receives \(width)")
        }
        guard next + 1 < parameters.count, parameters[next].count == inputs * outputs,
          parameters[next + 1].count == outputs
        else { throw .invalidLayer(index: index, reason: "weights are not \(inputs)×\(outputs) plus \(outputs) biases") }
        width = outputs
      case .layerNorm(let n):
        if let width, width != n {
          throw .invalidLayer(index: index, reason: "layer norm over \(n) values receives \(width)")
        }
        guard n > 0, next + 1 < parameters.count, parameters[next].count == n, parameters[next + 1].count == n
        else { throw .invalidLayer(index: index, reason: "layer norm needs \(n) gains and \(n) biases") }
        width = n
      case .dropout(let rate):
        guard rate >= 0, rate < 1 else { throw .invalidLayer(index: index, reason: "dropout rate must be in [0, 1); got \(rate)") }
      case .activation: break
      }
      next += layer.parameterSlots
    }
    guard next == parameters.count else {
      throw .invalidLayer(index: layers.count, reason: "\(parameters.count) parameter tensors for \(next) slots")
    }
    self.layers = layers
    self.parameters = parameters
    self.slots = slots
  }

  /// Fresh weights: PyTorch's default `U(−1/√fan_in, 1/√fan_in)` for every dense layer, except
  /// the last one when `finalScale` is set (DDPG draws it from `U(−3·10⁻³, 3·10⁻³)`), gains 1 and
  /// biases 0 for layer norms.
  public init(layers: [Layer], seed: UInt64, finalScale: Float? = nil) throws(NeuralError) {
    var generator = SeededGenerator(seed: seed, stream: 0x6E6E)
    let lastDense = layers.lastIndex { if case .dense = $0 { true } else { false } }
    var parameters: [[Float]] = []
    for (index, layer) in layers.enumerated() {
      switch layer {
      case .dense(let inputs, let outputs):
        let bound = index == lastDense ? (finalScale ?? 1 / Float(max(inputs, 1)).squareRoot())
          : 1 / Float(max(inputs, 1)).squareRoot()
        let draw = { (g: inout SeededGenerator) in Float(2 * g.nextUniform() - 1) * bound }
        parameters.append((0..<(max(inputs, 0) * max(outputs, 0))).map { _ in draw(&generator) })
        parameters.append((0..<max(outputs, 0)).map { _ in draw(&generator) })
      case .layerNorm(let width):
        parameters.append([Float](repeating: 1, count: max(width, 0)))
        parameters.append([Float](repeating: 0, count: max(width, 0)))
      case .activation, .dropout: break
      }
    }
    try self.init(layers: layers, parameters: parameters)
  }

  /// A multilayer perceptron: `input → hidden… → output`, `activation` after each hidden layer
  /// (with a layer norm before it when `layerNorm`), `outputActivation` at the end.
  public static func perceptron(
    input: Int, hidden: [Int], output: Int, activation: Activation = .relu, outputActivation: Activation = .identity,
    layerNorm: Bool = false, dropout: Float = 0, seed: UInt64, finalScale: Float? = nil
  ) throws(NeuralError) -> Network {
    var layers: [Layer] = []
    var width = input
    for h in hidden {
      layers.append(.dense(inputs: width, outputs: h))
      if layerNorm { layers.append(.layerNorm(width: h)) }
      layers.append(.activation(activation))
      if dropout > 0 { layers.append(.dropout(rate: dropout)) }
      width = h
    }
    layers.append(.dense(inputs: width, outputs: output))
    if outputActivation != .identity { layers.append(.activation(outputActivation)) }
    return try Network(layers: layers, seed: seed, finalScale: finalScale)
  }

  // MARK: Forward

  /// Inference (dropout off).
  public func forward(_ input: Matrix) -> Matrix {
    var generator = SeededGenerator(seed: 0)
    return run(input, training: false, generator: &generator, keep: false).output
  }

  /// A training forward pass; `generator` draws the dropout masks.
  public func forward(_ input: Matrix, training: Bool = true, generator: inout SeededGenerator) -> Trace {
    run(input, training: training, generator: &generator, keep: true)
  }

  func run(_ input: Matrix, training: Bool, generator: inout SeededGenerator, keep: Bool) -> Trace {
    var trace = Trace(values: [input], extras: [:])
    var x = input
    for (index, layer) in layers.enumerated() {
      let slot = slots[index]
      switch layer {
      case .dense(_, let outputs):
        var y = Matrix(rows: x.rows, columns: outputs)
        let bias = parameters[slot + 1]
        // Start from the bias rows, then accumulate x·W.
        y.storage.withUnsafeMutableBufferPointer { out in
          for r in 0..<x.rows { for c in 0..<outputs { out[r * outputs + c] = bias[c] } }
        }
        parameters[slot].withUnsafeBufferPointer { w in
          x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
              guard let wb = w.baseAddress, let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
              Gemm.kernel(
                m: x.rows, n: outputs, k: x.columns, a: xb, aRow: x.columns, aColumn: 1, b: wb, ldb: outputs,
                c: yb, ldc: outputs, accumulate: true)
            }
          }
        }
        x = y
      case .activation(let f):
        Self.apply(f, to: &x)
      case .layerNorm(let width):
        let gain = parameters[slot], beta = parameters[slot + 1]
        var normalised = Matrix(rows: x.rows, columns: width)
        var inverse = [Float](repeating: 0, count: x.rows)
        for r in 0..<x.rows {
          var mean: Float = 0
          for c in 0..<width { mean += x.storage[r * width + c] }
          mean /= Float(width)
          var variance: Float = 0
          for c in 0..<width {
            let d = x.storage[r * width + c] - mean
            variance += d * d
          }
          variance /= Float(width)
          let inv = 1 / (variance + 1e-5).squareRoot()
          inverse[r] = inv
          for c in 0..<width {
            let h = (x.storage[r * width + c] - mean) * inv
            normalised.storage[r * width + c] = h
            x.storage[r * width + c] = h * gain[c] + beta[c]
          }
        }
        if keep { trace.extras[index] = (normalised, inverse) }
      case .dropout(let rate):
        guard training, rate > 0 else { break }
        var mask = Matrix(rows: x.rows, columns: x.columns)
        let scale = 1 / (1 - rate)
        for i in 0..<mask.storage.count {
          let kept = generator.nextUniform() >= Double(rate)
          mask.storage[i] = kept ? scale : 0
          x.storage[i] *= mask.storage[i]
        }
        if keep { trace.extras[index] = (mask, []) }
      }
      if keep { trace.values.append(x) } else { trace.values = [x] }
    }
    return trace
  }

  static func apply(_ f: Activation, to x: inout Matrix) {
    switch f {
    case .identity: break
    case .relu:
      x.storage.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = max(p[i], 0) } }
    case .tanh:
      x.storage.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = Foundation.tanh(p[i]) } }
    case .sigmoid:
      x.storage.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = 1 / (1 + Foundation.exp(-p[i])) } }
    }
  }

  // MARK: Backward

  /// Back-propagates `outputGradient` (∂loss/∂output, same shape as the output) through the
  /// layers of `trace`. Returns ∂loss/∂input when `inputGradient` is set, and the parameter
  /// gradients (summed over the batch: scale the loss, not the gradients, for a mean).
  ///
  /// With `parameterGradients` off only ∂loss/∂input is computed (the gradients come back empty):
  /// DDPG's actor step needs ∂Q/∂action from the critic, not the critic's weight gradients.
  public func backward(
    _ outputGradient: Matrix, trace: Trace, inputGradient: Bool = false, parameterGradients: Bool = true
  ) -> (input: Matrix?, gradients: Gradients) {
    var gradients = [[Float]](repeating: [], count: parameters.count)
    var dy = outputGradient
    let firstNeeded = inputGradient ? 0 : (layers.firstIndex { $0.parameterSlots > 0 } ?? layers.count)
    for index in layers.indices.reversed() {
      let slot = slots[index]
      let x = trace.values[index]
      let y = trace.values[index + 1]
      switch layers[index] {
      case .dense(let inputs, let outputs):
        if parameterGradients {
          // dW = xᵀ dy; db = Σ_rows dy.
          var dW = Matrix(rows: inputs, columns: outputs)
          Gemm.multiply(x, dy, into: &dW, transposeA: true, accumulate: false)
          gradients[slot] = dW.storage
          var db = [Float](repeating: 0, count: outputs)
          dy.storage.withUnsafeBufferPointer { d in
            for r in 0..<dy.rows { for c in 0..<outputs { db[c] += d[r * outputs + c] } }
          }
          gradients[slot + 1] = db
        }
        if index > firstNeeded || inputGradient {
          // dx = dy Wᵀ: W is inputs × outputs, so each entry is a dot of a dy row and a W row.
          let weight = Matrix(rows: inputs, columns: outputs, storage: parameters[slot])
          var dx = Matrix(rows: dy.rows, columns: inputs)
          Gemm.multiplyByTransposing(dy, weight, into: &dx)
          dy = dx
        } else {
          return (nil, Gradients(tensors: gradients))
        }
      case .activation(let f):
        dy.storage.withUnsafeMutableBufferPointer { d in
          y.storage.withUnsafeBufferPointer { out in
            switch f {
            case .identity: break
            case .relu: for i in d.indices where out[i] <= 0 { d[i] = 0 }
            case .tanh: for i in d.indices { d[i] *= 1 - out[i] * out[i] }
            case .sigmoid: for i in d.indices { d[i] *= out[i] * (1 - out[i]) }
            }
          }
        }
      case .layerNorm(let width):
        guard let (normalised, inverse) = trace.extras[index] else { break }
        let gain = parameters[slot]
        var dGain = [Float](repeating: 0, count: width), dBeta = [Float](repeating: 0, count: width)
        var dx = Matrix(rows: dy.rows, columns: width)
        for r in 0..<dy.rows {
          var sum: Float = 0, dot: Float = 0
          for c in 0..<width {
            let g = dy.storage[r * width + c]
            let h = normalised.storage[r * width + c]
            dGain[c] += g * h
            dBeta[c] += g
            let dh = g * gain[c]
            sum += dh
            dot += dh * h
          }
          let n = Float(width)
          for c in 0..<width {
            let dh = dy.storage[r * width + c] * gain[c]
            let h = normalised.storage[r * width + c]
            dx.storage[r * width + c] = inverse[r] / n * (n * dh - sum - h * dot)
          }
        }
        if parameterGradients {
          gradients[slot] = dGain
          gradients[slot + 1] = dBeta
        }
        dy = dx
      case .dropout:
        if let (mask, _) = trace.extras[index] {
          for i in dy.storage.indices { dy.storage[i] *= mask.storage[i] }
        }
      }
    }
    return (inputGradient ? dy : nil, Gradients(tensors: gradients))
  }

  // MARK: Targets

  /// Polyak averaging toward `source`: `θ ← τ θ_source + (1 − τ) θ` (DDPG's soft target update).
  public mutating func softUpdate(toward source: Network, tau: Float) {
    for s in parameters.indices {
      source.parameters[s].withUnsafeBufferPointer { src in
        parameters[s].withUnsafeMutableBufferPointer { dst in
          for i in dst.indices { dst[i] += tau * (src[i] - dst[i]) }
        }
      }
    }
  }
}

/// A network or neural-model error: the layer and what is wrong with it.
public enum NeuralError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidLayer(index: Int, reason: String)
  case shapeMismatch(expected: String, received: String)

  public var description: String {
    switch self {
    case .invalidLayer(let index, let reason): "network layer \(index): \(reason)"
    case .shapeMismatch(let expected, let received): "expected \(expected); received \(received)"
    }
  }
}

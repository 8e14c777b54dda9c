public import AffinityCore
import Foundation

/// A first-order optimiser over a network's parameter tensors (or an embedding table's rows),
/// keeping its moment estimates between steps.
public struct Optimizer: Sendable {
  public enum Method: Sendable, Equatable {
    /// Plain SGD, or heavy-ball momentum when `momentum > 0`.
    case sgd(momentum: Float)
    /// Adam (Kingma & Ba), with bias correction.
    case adam(beta1: Float, beta2: Float, epsilon: Float)
    /// Adagrad (Duchi et al.).
    case adagrad(epsilon: Float)

    public static let adam = Method.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
    public static let sgd = Method.sgd(momentum: 0)
    public static let adagrad = Method.adagrad(epsilon: 1e-10)
  }

  public let method: Method
  public var learningRate: Float
  /// L2 penalty added to every gradient (`g + λθ`), as `torch.optim`'s `weight_decay`.
  public var weightDecay: Float
  /// Gradients whose global norm exceeds this are scaled down to it.
  public var clipNorm: Float?
  var first: [[Float]] = []
  var second: [[Float]] = []
  /// Steps taken (Adam's bias correction); per row for sparse updates.
  public private(set) var steps = 0
  var rowSteps: [Int32] = []

  public init(_ method: Method, learningRate: Float, weightDecay: Float = 0, clipNorm: Float? = nil)
    throws(ConfigurationError)
  {
    let check = ConfigurationCheck("Optimizer")
    try check.positive("learningRate", learningRate)
    try check.nonNegative("weightDecay", weightDecay)
    if let clipNorm { try check.positive("clipNorm", clipNorm) }
    switch method {
    case .sgd(let momentum):
      if !(momentum >= 0 && momentum < 1) {
        throw ConfigurationError(model: "Optimizer", parameter: "momentum", value: momentum, requirement: "in [0, 1)")
      }
    case .adam(let beta1, let beta2, let epsilon):
      for (name, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta >= 0 && beta < 1) {
        throw ConfigurationError(model: "Optimizer", parameter: name, value: beta, requirement: "in [0, 1)")
      }
      try check.positive("epsilon", epsilon)
    case .adagrad(let epsilon): try check.positive("epsilon", epsilon)
    }
    self.method = method
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    self.clipNorm = clipNorm
  }

  /// One step on every parameter of `network`.
  public mutating func step(_ network: inout Network, _ gradients: Gradients) {
    step(&network.parameters, gradients)
  }

  /// One step on parameter tensors aligned with `gradients`.
  public mutating func step(_ parameters: inout [[Float]], _ gradients: Gradients) {
    if first.count != parameters.count {
      first = parameters.map { [Float](repeating: 0, count: $0.count) }
      second = first
    }
    steps += 1
    var scale: Float = 1
    if let clipNorm {
      let norm = gradients.norm
      if norm > clipNorm { scale = clipNorm / norm }
    }
    let (method, learningRate, weightDecay, steps) = (method, learningRate, weightDecay, steps)
    for s in parameters.indices {
      let count = parameters[s].count
      gradients.tensors[s].withUnsafeBufferPointer { g in
        parameters[s].withUnsafeMutableBufferPointer { p in
          first[s].withUnsafeMutableBufferPointer { m in
            second[s].withUnsafeMutableBufferPointer { v in
              Self.update(
                method: method, learningRate: learningRate, weightDecay: weightDecay, count: count, p: p, g: g,
                m: m, v: v, gradientScale: scale, step: steps)
            }
          }
        }
      }
    }
  }

  /// One step on the rows of an embedding table that `gradient` touches ("lazy" moments, as
  /// PyTorch's `SparseAdam`: an untouched row's moments and step count do not move).
  public mutating func step(_ embedding: inout Embedding, _ gradient: SparseGradient) {
    let d = embedding.dimension
    if first.count != 1 || first[0].count != embedding.table.count {
      first = [[Float](repeating: 0, count: embedding.table.count)]
      second = first
      rowSteps = [Int32](repeating: 0, count: embedding.count)
    }
    steps += 1
    let (method, learningRate, weightDecay) = (method, learningRate, weightDecay)
    for (position, row) in gradient.rows.enumerated() {
      let r = Int(row)
      rowSteps[r] += 1
      let rowStep = Int(rowSteps[r])
      gradient.values.withUnsafeBufferPointer { g in
        embedding.table.withUnsafeMutableBufferPointer { p in
          first[0].withUnsafeMutableBufferPointer { m in
            second[0].withUnsafeMutableBufferPointer { v in
              guard let gb = g.baseAddress, let pb = p.baseAddress, let mb = m.baseAddress, let vb = v.baseAddress
              else { return }
              Self.update(
                method: method, learningRate: learningRate, weightDecay: weightDecay, count: d, p: UnsafeMutableBufferPointer(start: pb + r * d, count: d),
                g: UnsafeBufferPointer(start: gb + position * d, count: d),
                m: UnsafeMutableBufferPointer(start: mb + r * d, count: d),
                v: UnsafeMutableBufferPointer(start: vb + r * d, count: d), gradientScale: 1, step: rowStep)
            }
          }
        }
      }
    }
  }

  @inline(__always)
  static func update(
    method: Method, learningRate lr: Float, weightDecay decay: Float, count: Int, p: UnsafeMutableBufferPointer<Float>, g: UnsafeBufferPointer<Float>,
    m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>, gradientScale: Float, step: Int
  ) {
    switch method {
    case .sgd(let momentum):
      for i in 0..<count {
        let grad = g[i] * gradientScale + decay * p[i]
        if momentum > 0 {
          m[i] = momentum * m[i] + grad
          p[i] -= lr * m[i]
        } else {
          p[i] -= lr * grad
        }
      }
    case .adam(let beta1, let beta2, let epsilon):
      let t = Float(step)
      // Powers in Double, rounded once.
      let correction1 = 1 - Float(Foundation.pow(Double(beta1), Double(t)))
      let correction2 = 1 - Float(Foundation.pow(Double(beta2), Double(t)))
      let stepSize = lr / correction1
      let rootCorrection2 = correction2.squareRoot()
      for i in 0..<count {
        let grad = g[i] * gradientScale + decay * p[i]
        m[i] = beta1 * m[i] + (1 - beta1) * grad
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
        p[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + epsilon)
      }
    case .adagrad(let epsilon):
      for i in 0..<count {
        let grad = g[i] * gradientScale + decay * p[i]
        v[i] += grad * grad
        p[i] -= lr * grad / (v[i].squareRoot() + epsilon)
      }
    }
  }
}

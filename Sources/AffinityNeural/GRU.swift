import AffinityCore
import Foundation

/// A gated recurrent unit (Cho et al. 2014) over a batch of equal-length sequences, with
/// PyTorch's equations and gate order, so `torch.nn.GRU`'s weights carry over (`W_i` is
/// `weight_ih_l0` transposed, `W_h` is `weight_hh_l0` transposed):
///
///     r = σ(x W_ir + b_ir + h W_hr + b_hr)
///     z = σ(x W_iz + b_iz + h W_hz + b_hz)
///     n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// The encoder of sequence models (session-based next-item prediction, an RNN state for
/// REINFORCE): ``forward(_:initial:)`` keeps what ``backward(_:trace:)`` needs for
/// backpropagation through time. Parameters are four tensors, `[W_i (inputs × 3h), W_h (h × 3h),
/// b_i (3h), b_h (3h)]` with the gates in the order r, z, n, so ``Optimizer/step(_:_:)-(inout [[Float]],_)``
/// trains them like any other.
public struct GRU: Sendable, Equatable {
  public let inputWidth: Int
  public let hiddenWidth: Int
  public var parameters: [[Float]]

  /// Fresh weights: PyTorch's `U(−1/√h, 1/√h)` for every tensor.
  public init(inputs: Int, hidden: Int, seed: UInt64) throws(NeuralError) {
    guard inputs > 0, hidden > 0 else {
      throw .invalidLayer(index: 0, reason: "a GRU needs ≥ 1 input and ≥ 1 hidden unit; got \(inputs) and \(hidden)")
    }
    var generator = SeededGenerator(seed: seed, stream: 0x6A0)
    let bound = 1 / Float(hidden).squareRoot()
    let sizes = [inputs * 3 * hidden, hidden * 3 * hidden, 3 * hidden, 3 * hidden]
    let parameters = sizes.map { n in (0..<n).map { _ in Float(2 * generator.nextUniform() - 1) * bound } }
    try self.init(inputs: inputs, hidden: hidden, parameters: parameters)
  }

  /// A GRU with explicit parameters (for loading); throws when their shapes disagree.
  public init(inputs: Int, hidden: Int, parameters: [[Float]]) throws(NeuralError) {
    let sizes = [inputs * 3 * hidden, hidden * 3 * hidden, 3 * hidden, 3 * hidden]
    guard inputs > 0, hidden > 0, parameters.map(\.count) == sizes else {
      throw .shapeMismatch(
        expected: "GRU tensors of sizes \(sizes) (W_i, W_h, b_i, b_h)", received: "\(parameters.map(\.count))")
    }
    inputWidth = inputs
    hiddenWidth = hidden
    self.parameters = parameters
  }

  /// What a forward pass keeps for the backward one.
  public struct Trace: Sendable {
    public var inputs: [Matrix]
    /// `h_0 … h_T`: the initial state, then the state after each step.
    public var states: [Matrix]
    var resets: [Matrix]
    var updates: [Matrix]
    var candidates: [Matrix]
    /// `h W_hn + b_hn` per step (what the reset gate multiplies).
    var hiddenCandidates: [Matrix]

    /// The state after the last step.
    public var final: Matrix { states[states.count - 1] }
  }

  var inputWeights: Matrix { Matrix(rows: inputWidth, columns: 3 * hiddenWidth, storage: parameters[0]) }
  var hiddenWeights: Matrix { Matrix(rows: hiddenWidth, columns: 3 * hiddenWidth, storage: parameters[1]) }

  /// Runs the sequence `steps` (each `batch × inputs`, all with the same batch) from `initial`
  /// (zeros when nil).
  public func forward(_ steps: [Matrix], initial: Matrix? = nil) throws(NeuralError) -> Trace {
    let batch = steps.first?.rows ?? initial?.rows ?? 0
    let h = hiddenWidth
    for (t, x) in steps.enumerated() where x.rows != batch || x.columns != inputWidth {
      throw .shapeMismatch(expected: "step \(t) of \(batch) × \(inputWidth)", received: "\(x.rows) × \(x.columns)")
    }
    if let initial, initial.rows != batch || initial.columns != h {
      throw .shapeMismatch(expected: "an initial state of \(batch) × \(h)", received: "\(initial.rows) × \(initial.columns)")
    }
    var trace = Trace(
      inputs: steps, states: [initial ?? Matrix(rows: batch, columns: h)], resets: [], updates: [], candidates: [],
      hiddenCandidates: [])
    let wi = inputWeights, wh = hiddenWeights
    let bi = parameters[2], bh = parameters[3]
    for x in steps {
      let previous = trace.states[trace.states.count - 1]
      var gi = Matrix(rows: batch, columns: 3 * h)
      var gh = Matrix(rows: batch, columns: 3 * h)
      Gemm.multiply(x, wi, into: &gi, transposeA: false, accumulate: false)
      Gemm.multiply(previous, wh, into: &gh, transposeA: false, accumulate: false)
      var r = Matrix(rows: batch, columns: h), z = r, n = r, hn = r, next = r
      for b in 0..<batch {
        for k in 0..<h {
          let row = b * 3 * h
          let hr = gh.storage[row + 2 * h + k] + bh[2 * h + k]
          let reset = sigmoid(gi.storage[row + k] + bi[k] + gh.storage[row + k] + bh[k])
          let update = sigmoid(gi.storage[row + h + k] + bi[h + k] + gh.storage[row + h + k] + bh[h + k])
          let candidate = tanh(gi.storage[row + 2 * h + k] + bi[2 * h + k] + reset * hr)
          let i = b * h + k
          r.storage[i] = reset
          z.storage[i] = update
          n.storage[i] = candidate
          hn.storage[i] = hr
          next.storage[i] = (1 - update) * candidate + update * previous.storage[i]
        }
      }
      trace.resets.append(r)
      trace.updates.append(z)
      trace.candidates.append(n)
      trace.hiddenCandidates.append(hn)
      trace.states.append(next)
    }
    return trace
  }

  /// Backpropagation through time. `stateGradients[t]` is ∂L/∂h_{t+1}, the loss's gradient with
  /// respect to the state after step `t` (pass one matrix per step; zeros where the loss does
  /// not read that state). Returns ∂L/∂x_t per step, ∂L/∂h_0 and the parameter gradients.
  public func backward(_ stateGradients: [Matrix], trace: Trace) throws(NeuralError) -> (
    inputs: [Matrix], initial: Matrix, gradients: Gradients
  ) {
    let steps = trace.inputs.count
    let h = hiddenWidth
    let batch = trace.states[0].rows
    guard stateGradients.count == steps,
      stateGradients.allSatisfy({ $0.rows == batch && $0.columns == h })
    else {
      throw .shapeMismatch(
        expected: "\(steps) state gradients of \(batch) × \(h)",
        received: "\(stateGradients.count): \(stateGradients.map { "\($0.rows) × \($0.columns)" })")
    }
    let wi = inputWeights, wh = hiddenWeights
    var dWi = Matrix(rows: inputWidth, columns: 3 * h)
    var dWh = Matrix(rows: h, columns: 3 * h)
    var dbi = [Float](repeating: 0, count: 3 * h)
    var dbh = dbi
    var dInputs = [Matrix](repeating: Matrix(rows: batch, columns: inputWidth), count: steps)
    var carry = Matrix(rows: batch, columns: h)  // ∂L/∂h_t from later steps
    for t in stride(from: steps - 1, through: 0, by: -1) {
      let previous = trace.states[t]
      let r = trace.resets[t], z = trace.updates[t], n = trace.candidates[t], hn = trace.hiddenCandidates[t]
      var dgi = Matrix(rows: batch, columns: 3 * h)
      var dgh = Matrix(rows: batch, columns: 3 * h)
      var dPrevious = Matrix(rows: batch, columns: h)
      for b in 0..<batch {
        for k in 0..<h {
          let i = b * h + k
          let dh = carry.storage[i] + stateGradients[t].storage[i]
          let dn = dh * (1 - z.storage[i])
          let dz = dh * (previous.storage[i] - n.storage[i])
          dPrevious.storage[i] = dh * z.storage[i]
          let daN = dn * (1 - n.storage[i] * n.storage[i])
          let daR = daN * hn.storage[i] * r.storage[i] * (1 - r.storage[i])
          let daZ = dz * z.storage[i] * (1 - z.storage[i])
          let row = b * 3 * h
          dgi.storage[row + k] = daR
          dgi.storage[row + h + k] = daZ
          dgi.storage[row + 2 * h + k] = daN
          dgh.storage[row + k] = daR
          dgh.storage[row + h + k] = daZ
          dgh.storage[row + 2 * h + k] = daN * r.storage[i]
        }
      }
      Gemm.multiply(trace.inputs[t], dgi, into: &dWi, transposeA: true, accumulate: true)
      Gemm.multiply(previous, dgh, into: &dWh, transposeA: true, accumulate: true)
      for b in 0..<batch {
        for c in 0..<(3 * h) {
          dbi[c] += dgi.storage[b * 3 * h + c]
          dbh[c] += dgh.storage[b * 3 * h + c]
        }
      }
      var dx = Matrix(rows: batch, columns: inputWidth)
      Gemm.multiplyTransposed(dgi, wi, into: &dx)
      dInputs[t] = dx
      var throughWeights = Matrix(rows: batch, columns: h)
      Gemm.multiplyTransposed(dgh, wh, into: &throughWeights)
      for i in dPrevious.storage.indices { dPrevious.storage[i] += throughWeights.storage[i] }
      carry = dPrevious
    }
    return (dInputs, carry, Gradients(tensors: [dWi.storage, dWh.storage, dbi, dbh]))
  }

  @inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
  @inline(__always) func tanh(_ x: Float) -> Float { Float(Foundation.tanh(Double(x))) }
}

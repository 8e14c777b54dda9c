import Foundation

/// Loss functions: each returns the mean loss over the batch and its gradient with respect to
/// the prediction (already divided by the batch size, so parameter gradients are of the mean).
public enum Loss {
  /// `mean_i w_i · (p_i − t_i)²` over every element; `weights` (one per row, e.g. importance
  /// weights of prioritised replay) default to 1.
  public static func meanSquaredError(_ prediction: Matrix, _ target: Matrix, weights: [Float]? = nil) -> (
    value: Float, gradient: Matrix
  ) {
    var gradient = Matrix(rows: prediction.rows, columns: prediction.columns)
    let count = Float(max(prediction.storage.count, 1))
    var total: Double = 0
    for r in 0..<prediction.rows {
      let w = weights?[r] ?? 1
      for c in 0..<prediction.columns {
        let i = r * prediction.columns + c
        let d = prediction.storage[i] - target.storage[i]
        total += Double(w * d * d)
        gradient.storage[i] = 2 * w * d / count
      }
    }
    return (Float(total / Double(count)), gradient)
  }

  /// Softmax cross-entropy of `logits` (one row per example) against class `labels`.
  public static func crossEntropy(logits: Matrix, labels: [Int]) -> (value: Float, gradient: Matrix) {
    var gradient = Matrix(rows: logits.rows, columns: logits.columns)
    var total: Double = 0
    let n = Float(max(logits.rows, 1))
    for r in 0..<logits.rows {
      let row = logits.row(r)
      let top = row.max() ?? 0
      var sum: Float = 0
      for v in row { sum += Foundation.exp(v - top) }
      let logSum = Foundation.log(sum) + top
      total += Double(logSum - logits[r, labels[r]])
      for c in 0..<logits.columns {
        let p = Foundation.exp(logits[r, c] - logSum)
        gradient[r, c] = (p - (c == labels[r] ? 1 : 0)) / n
      }
    }
    return (Float(total / Double(n)), gradient)
  }

  /// Binary cross-entropy on logits (the numerically stable form), targets in [0, 1].
  public static func binaryCrossEntropy(logits: Matrix, targets: Matrix) -> (value: Float, gradient: Matrix) {
    var gradient = Matrix(rows: logits.rows, columns: logits.columns)
    var total: Double = 0
    let n = Float(max(logits.storage.count, 1))
    for i in logits.storage.indices {
      let z = logits.storage[i], t = targets.storage[i]
      total += Double(max(z, 0) - z * t + Foundation.log1p(Foundation.exp(-abs(z))))
      gradient.storage[i] = (1 / (1 + Foundation.exp(-z)) - t) / n
    }
    return (Float(total / Double(n)), gradient)
  }

  /// Bayesian personalised ranking: `mean −log σ(s⁺ − s⁻)` over paired rows of scores.
  public static func bpr(positive: Matrix, negative: Matrix) -> (value: Float, positive: Matrix, negative: Matrix) {
    var dPositive = Matrix(rows: positive.rows, columns: positive.columns)
    var dNegative = dPositive
    var total: Double = 0
    let n = Float(max(positive.storage.count, 1))
    for i in positive.storage.indices {
      let x = positive.storage[i] - negative.storage[i]
      total += Double(Foundation.log1p(Foundation.exp(-abs(x))) + max(-x, 0))
      let g = -1 / (1 + Foundation.exp(x)) / n
      dPositive.storage[i] = g
      dNegative.storage[i] = -g
    }
    return (Float(total / Double(n)), dPositive, dNegative)
  }
}

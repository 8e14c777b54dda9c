public import AffinityCore
import AffinityLinalg
import Foundation

/// Hybrid LinUCB (Li et al. 2010, Algorithm 2): the expected reward of arm `a` in context `x` is
/// `zᵀβ + xᵀθ_a`, with `β` shared by all arms on features `z` built from the arm's feature vector
/// and `θ_a` the arm's own. The shared part is what lets a new arm start from its features: it
/// scores like its look-alikes before its first pull.
///
/// `z` is the arm's features (`armFeatures`, the default) or their outer product with the
/// context (`outerProduct`, width `d · m`: richer, O((d·m)³) per update).
public struct HybridLinUCB: BanditPolicy {
  public enum SharedFeatures: String, Sendable, Codable { case armFeatures, outerProduct }

  public var name: String { "hybrid-linucb" }
  public var arms: ArmRegistry
  /// The width of the upper bound. The default 0.25 was the best of 0.1, 0.25, 0.5 and 1 on
  /// seeds 101–105 of the MovieLens rating simulator, with the genres as arm features.
  public var alpha: Double
  public let shared: SharedFeatures
  let armFeatureDimension: Int
  /// Per arm `A_a`, `A_a⁻¹`, `b_a` (θ unused: it depends on β).
  var model: LinearArms
  /// Per arm `B_a`, `d × k` row-major.
  var cross: [Double]
  var sharedGram: [Double]
  var sharedResponse: [Double]
  var sharedInverse: [Double]
  var beta: [Double]

  public init(
    armFeatures: [[Double]], dimension: Int, alpha: Double = 0.25, regularization: Double = 1,
    shared: SharedFeatures = .armFeatures
  ) throws(BanditError) {
    guard let m = armFeatures.first?.count, m > 0 else { throw .missingArmFeatures(policy: "hybrid-linucb") }
    for f in armFeatures where f.count != m { throw .armFeatures(policy: "hybrid-linucb", expected: m, received: f.count) }
    arms = ArmRegistry(count: armFeatures.count, features: armFeatures)
    self.alpha = alpha
    self.shared = shared
    armFeatureDimension = m
    model = LinearArms(arms: armFeatures.count, dimension: dimension, regularization: regularization)
    let k = shared == .armFeatures ? m : m * dimension
    cross = [Double](repeating: 0, count: armFeatures.count * dimension * k)
    sharedGram = (0..<(k * k)).map { $0 % (k + 1) == 0 ? regularization : 0 }
    sharedInverse = sharedGram.map { $0 == 0 ? 0 : 1 / regularization }
    sharedResponse = [Double](repeating: 0, count: k)
    beta = sharedResponse
  }

  public var contextDimension: Int? { model.dimension }
  public var isConsistent: Bool {
    let k = sharedDimension
    return model.isConsistent(arms: arms.count) && cross.count == arms.count * model.dimension * k
      && sharedGram.count == k * k && sharedInverse.count == k * k && beta.count == k
      && k == (shared == .armFeatures ? armFeatureDimension : armFeatureDimension * model.dimension)
      && arms.features.allSatisfy { $0?.count == armFeatureDimension }
  }
  public var exploration: ExplorationRule { .greedy }
  var sharedDimension: Int { sharedResponse.count }

  func z(_ arm: Int, _ x: [Double]) -> [Double] {
    let f = arms.features[arm] ?? [Double](repeating: 0, count: armFeatureDimension)
    switch shared {
    case .armFeatures: return f
    case .outerProduct: return x.flatMap { xi in f.map { xi * $0 } }
    }
  }

  public func scores(context x: [Double], generator: inout SeededGenerator) -> [Double] {
    let d = model.dimension
    let k = sharedDimension
    return (0..<arms.count).map { arm in
      let za = z(arm, x)
      let base = arm * d * d
      var u = [Double](repeating: 0, count: d)  // A_a⁻¹ x
      for i in 0..<d { for j in 0..<d { u[i] += model.inverses[base + i * d + j] * x[j] } }
      var w = [Double](repeating: 0, count: k)  // B_aᵀ u
      var residual = [Double](repeating: 0, count: d)  // b_a − B_a β
      for i in 0..<d {
        residual[i] = model.responses[arm * d + i]
        for j in 0..<k {
          let b = cross[(arm * d + i) * k + j]
          w[j] += b * u[i]
          residual[i] -= b * beta[j]
        }
      }
      var variance = 0.0
      var mean = 0.0
      for i in 0..<d {
        variance += x[i] * u[i]
        mean += u[i] * residual[i]
      }
      for i in 0..<k {
        mean += za[i] * beta[i]
        var s = 0.0
        for j in 0..<k { s += sharedInverse[i * k + j] * (za[j] - w[j]) }
        variance += (za[i] - w[i]) * s
      }
      return mean + alpha * max(variance, 0).squareRoot()
    }
  }

  /// `B_aᵀ A_a⁻¹ B_a` and `B_aᵀ A_a⁻¹ b_a`.
  func sharedTerms(_ arm: Int) -> (matrix: [Double], vector: [Double]) {
    let d = model.dimension
    let k = sharedDimension
    var c = [Double](repeating: 0, count: d * k)  // A_a⁻¹ B_a
    var ab = [Double](repeating: 0, count: d)  // A_a⁻¹ b_a
    for i in 0..<d {
      for l in 0..<d {
        let a = model.inverses[arm * d * d + i * d + l]
        ab[i] += a * model.responses[arm * d + l]
        for j in 0..<k { c[i * k + j] += a * cross[(arm * d + l) * k + j] }
      }
    }
    var matrix = [Double](repeating: 0, count: k * k)
    var vector = [Double](repeating: 0, count: k)
    for l in 0..<d {
      for i in 0..<k {
        let b = cross[(arm * d + l) * k + i]
        vector[i] += b * ab[l]
        for j in 0..<k { matrix[i * k + j] += b * c[l * k + j] }
      }
    }
    return (matrix, vector)
  }

  public mutating func learn(arm: Int, context x: [Double], reward: Double) {
    let d = model.dimension
    let k = sharedDimension
    let za = z(arm, x)
    let before = sharedTerms(arm)
    for i in 0..<(k * k) { sharedGram[i] += before.matrix[i] }
    for i in 0..<k { sharedResponse[i] += before.vector[i] }
    model.add(arm, x, reward: reward)
    for i in 0..<d { for j in 0..<k { cross[(arm * d + i) * k + j] += x[i] * za[j] } }
    let after = sharedTerms(arm)
    for i in 0..<k {
      for j in 0..<k { sharedGram[i * k + j] += za[i] * za[j] - after.matrix[i * k + j] }
      sharedResponse[i] += reward * za[i] - after.vector[i]
    }
    refreshShared()
  }

  mutating func refreshShared() {
    let k = sharedDimension
    guard let l = DenseSPD.cholesky(sharedGram, n: k) else { return }
    sharedInverse = DenseSPD.inverse(cholesky: l, n: k)
    var b = sharedResponse
    DenseSPD.solve(l, n: k, &b)
    beta = b
  }

  /// A new arm starts with empty per-arm statistics; the shared `β` scores it from its features.
  public mutating func appendArmStatistics(features: [Double]?, neighbours: [(arm: Int, weight: Double)]) throws(BanditError) {
    guard let features else { throw .missingArmFeatures(policy: name) }
    guard features.count == armFeatureDimension else {
      throw .armFeatures(policy: name, expected: armFeatureDimension, received: features.count)
    }
    model.append(neighbours: [])
    cross += [Double](repeating: 0, count: model.dimension * sharedDimension)
  }
}

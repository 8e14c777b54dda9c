public import AffinityCore
import AffinityLinalg
import Foundation

/// How the CTR models turn a gradient into a step.
public enum CTROptimizer: String, Sendable, Codable, Hashable, CaseIterable {
  /// Plain stochastic gradient descent: `w ← w − η g`.
  case sgd
  /// Per-parameter Adagrad as libffm applies it: `G ← G + g²`, then `w ← w − η g / √G`, with
  /// `G` starting at 1.
  case adagrad
}

/// A trained click-through-rate model: the probability that a row of sparse features is a
/// positive (a click, a high rating).
///
/// Every model is trained on a ``CTRDataset`` by minimising the log-loss
/// `−[y ln p + (1 − y) ln(1 − p)]`, `p = σ(φ(x))`, with one stochastic step per row in a
/// seeded random order and L2 regularisation `λ` applied to each parameter a row touches
/// (libffm's and libFM's convention). A model is an immutable value that keeps the
/// ``CTRVocabulary`` it was trained on, so rows from another vocabulary are mapped by name.
public protocol CTRModel: Sendable, Codable {
  associatedtype Configuration: ModelConfiguration

  /// The CLI name, such as `"fm"`.
  static var kind: String { get }

  /// Trains a model on `data`.
  static func fit(_ data: CTRDataset, configuration: Configuration, options: FitOptions) throws(FitError) -> Self

  var configuration: Configuration { get }
  /// The fields and features seen in training.
  var vocabulary: CTRVocabulary { get }

  /// The logit φ(x) of a row indexed by ``vocabulary``; indices outside it are ignored.
  func logit(_ row: CTRRow) -> Float
}

extension CTRModel {
  /// `σ(φ(x))`, the probability that `row` is a positive.
  public func probability(_ row: CTRRow) -> Float { CTRMath.sigmoid(logit(row)) }

  /// The probability of every row of `data`, in row order; rows built on another vocabulary
  /// are first mapped onto this model's by feature name.
  ///
  /// - Complexity: the model's per-row cost times `data.count`, on all cores for large sets.
  public func probabilities(_ data: CTRDataset) -> [Float] {
    let data = data.mapped(onto: vocabulary)
    var out = [Float](repeating: 0, count: data.count)
    out.withUnsafeMutableBufferPointer { buffer in
      let target = UncheckedBox(buffer)
      Parallel.forEachChunk(count: data.count, chunkCount: 64, minimumParallelCount: 4_096) { range, _ in
        for r in range { target.value[r] = probability(data[r]) }
      }
    }
    return out
  }

  /// The probability of a row given by name; features the model never saw are ignored.
  public func probability(of features: [CTRFeature]) -> Float {
    var fields: [Int32] = []
    var indices: [Int32] = []
    var values: [Float] = []
    for feature in features {
      guard let j = vocabulary.feature(named: feature.name), feature.value.isFinite else { continue }
      fields.append(vocabulary.featureFields[j])
      indices.append(Int32(j))
      values.append(feature.value)
    }
    return probability(CTRRow(label: 0, fields: fields[...], features: indices[...], values: values[...]))
  }

  /// `candidates` ordered by their probability for `user`, best first (ties keep input order),
  /// with features from `featurizer`: a ranker over a candidate set.
  public func ranked(_ candidates: [ItemID], for user: UserID, featurizer: CTRFeaturizer) -> [ScoredItem] {
    let scored = candidates.enumerated().map { k, item in
      (k, ScoredItem(item: item, score: probability(of: featurizer.features(user: user, item: item))))
    }
    return scored.sorted { $0.1.score != $1.1.score ? $0.1.score > $1.1.score : $0.0 < $1.0 }.map(\.1)
  }
}

/// The logistic function and the per-row loss.
enum CTRMath {
  /// `1 / (1 + e^{−z})`, computed without overflow for either sign.
  @inline(__always)
  static func sigmoid(_ z: Float) -> Float {
    if z >= 0 { return 1 / (1 + Foundation.exp(-z)) }
    let e = Foundation.exp(z)
    return e / (1 + e)
  }

  /// `−[y ln σ(z) + (1 − y) ln(1 − σ(z))] = ln(1 + e^{−|z|}) + max(z, 0) − y z`.
  @inline(__always)
  static func logLoss(logit z: Float, label y: Float) -> Double {
    let zd = Double(z)
    return Foundation.log1p(Foundation.exp(-abs(zd))) + max(zd, 0) - Double(y) * zd
  }
}

/// Raw views of a dataset's storage for the training loops.
struct RowPointers {
  let starts: UnsafePointer<Int>
  let fields: UnsafePointer<Int32>
  let features: UnsafePointer<Int32>
  let values: UnsafePointer<Float>
  let labels: UnsafePointer<Float>
}

extension CTRDataset {
  /// Calls `body` with raw pointers to the storage; they live as long as `body` runs.
  func withRowPointers<R>(_ body: (RowPointers) -> R) -> R {
    // Empty arrays may give nil base addresses; one spare slot keeps every pointer valid.
    let padded = (fields + [0], features + [0], values + [0])
    return rowStarts.withUnsafeBufferPointer { s in
      padded.0.withUnsafeBufferPointer { f in
        padded.1.withUnsafeBufferPointer { j in
          padded.2.withUnsafeBufferPointer { x in
            (labels + [0]).withUnsafeBufferPointer { y in
              guard let s = s.baseAddress, let f = f.baseAddress, let j = j.baseAddress, let x = x.baseAddress,
                let y = y.baseAddress
              else { preconditionFailure("non-empty arrays have storage") }
              return body(RowPointers(starts: s, fields: f, features: j, values: x, labels: y))
            }
          }
        }
      }
    }
  }
}

/// The epoch loop every CTR model shares: seeded shuffles, loss reports, divergence checks.
enum CTRTraining {
  /// Checks the configuration and that `data` has rows.
  static func check(_ configuration: some ModelConfiguration, _ data: CTRDataset) throws(FitError) {
    do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
    guard data.count > 0 else { throw .invalidData(.empty(source: data.source)) }
  }

  /// Runs `epochs` passes over the rows in a fresh seeded order each; `pass` trains on the rows
  /// in the given order and returns the summed log-loss and whether the parameters are finite.
  static func run(
    _ model: String, kind: String, rows: Int, epochs: Int, options: FitOptions,
    pass: (_ order: UnsafeBufferPointer<Int>) -> (loss: Double, isFinite: Bool)
  ) throws(FitError) {
    var generator = SeededGenerator(seed: options.seed, stream: 5)
    var order = Array(0..<rows)
    for epoch in 1...epochs {
      generator.shuffle(&order)
      let (loss, isFinite) = order.withUnsafeBufferPointer(pass)
      guard isFinite, loss.isFinite else { throw .diverged(model: model, epoch: epoch) }
      options.report(kind, step: epoch, of: epochs, loss: loss / Double(max(rows, 1)))
    }
  }

  /// True when every value is finite.
  static func isFinite(_ values: UnsafeMutableBufferPointer<Float>) -> Bool {
    var ok = true
    for v in values where !v.isFinite {
      ok = false
      break
    }
    return ok
  }
}

/// One optimizer step on scalar parameters.
struct ScalarStep {
  let optimizer: CTROptimizer
  let learningRate: Float

  /// `w ← w − η g` (SGD) or `G ← G + g²; w ← w − η g / √G` (Adagrad).
  @inline(__always)
  func apply(_ w: UnsafeMutablePointer<Float>, _ accumulator: UnsafeMutablePointer<Float>, gradient g: Float) {
    switch optimizer {
    case .sgd:
      w.pointee -= learningRate * g
    case .adagrad:
      accumulator.pointee += g * g
      w.pointee -= learningRate * g / accumulator.pointee.squareRoot()
    }
  }
}

/// Latent vectors are padded to a multiple of 4 floats, so kernels run on SIMD8 lanes with at
/// most one SIMD4 tail and no scalar loop.
@inline(__always)
func paddedWidth(_ embeddingSize: Int) -> Int { (embeddingSize + 3) / 4 * 4 }

/// Calls `body(offset, V.self)` over `width` floats: SIMD8 blocks, then one SIMD4 block when
/// `width` is 4 more than a multiple of 8.
@inline(__always)
func forEachLaneBlock(_ width: Int, _ body8: (Int) -> Void, _ body4: (Int) -> Void) {
  var f = 0
  while f + 8 <= width {
    body8(f)
    f += 8
  }
  if f < width { body4(f) }
}

extension Array where Element == Float {
  /// Decoding check: the array has exactly `count` finite values.
  func hasShape(_ count: Int) -> Bool { self.count == count && allSatisfy(\.isFinite) }
}

public import AffinityCore
import AffinityLinalg

/// A model that learns from user and item features as well as interactions.
public protocol FeatureAwareRecommender: Recommender {
  static func fit(
    _ data: InteractionData, features: SideInformation, configuration: Configuration, options: FitOptions
  ) throws(FitError) -> Self
}

extension FeatureAwareRecommender {
  /// Without features: models that need them throw ``FitError/missingFeatures(model:needs:)``.
  public static func fit(_ data: InteractionData, configuration: Configuration, options: FitOptions) throws(FitError) -> Self {
    try fit(data, features: .none, configuration: configuration, options: options)
  }
}

/// How much one interaction counts as a training target in the feature models: nothing below
/// `minimumValue`; otherwise 1, or with `usesValues` its value less `valueOffset`. A positive
/// offset gives graded relevance: values at or below it count nothing, and with star ratings and
/// offset 2 a 5 counts 3, a 4 counts 2 and a 3 counts 1.
package struct TargetWeighting: Sendable, Equatable {
  package var minimumValue: Float
  package var usesValues: Bool
  package var valueOffset: Float

  package init(minimumValue: Float, usesValues: Bool, valueOffset: Float) {
    self.minimumValue = minimumValue
    self.usesValues = usesValues
    self.valueOffset = valueOffset
  }

  /// Checks the settings for `model`'s configuration: `valueOffset` finite and ≥ 0,
  /// `minimumValue` finite.
  package func validate(model: String) throws(ConfigurationError) {
    try ConfigurationCheck(model).nonNegative("valueOffset", valueOffset)
    if !minimumValue.isFinite {
      throw ConfigurationError(model: model, parameter: "minimumValue", value: minimumValue, requirement: "a finite number")
    }
  }

  /// The weight of an interaction with `value`, nil when it does not count.
  @inline(__always)
  package func weight(of value: Float) -> Float? {
    guard value >= minimumValue else { return nil }
    guard usesValues else { return 1 }
    guard valueOffset > 0 else { return value }
    return value > valueOffset ? value - valueOffset : nil
  }
}

/// One side (users or items) of a feature model: sparse feature rows for every id in the
/// model's vocabulary, with a constant intercept feature appended.
struct FeatureSide: Sendable, Codable, Equatable {
  /// `ids × dimension`, row per vocabulary id (ids without features hold only the intercept).
  let rows: SparseRowMatrix
  /// Feature names, the intercept last.
  let names: [String]

  var dimension: Int { names.count }

  /// Rows for `vocabulary` from `encoded`; `crosses` adds the product of every pair of the
  /// row's features from different source columns (`gender=F×age=25-34`); `identity` adds one
  /// indicator feature per id (only for the rows `rowsWithIdentity` accepts, when given).
  init<ID: ExternalID>(
    _ encoded: EncodedFeatures<ID>?, vocabulary: IDVocabulary<ID>, crosses: Bool, identity: Bool = false,
    identityOnly rowsWithIdentity: ((Int) -> Bool)? = nil
  ) {
    let encoded = encoded ?? EncodedFeatures(
      ids: IDVocabulary(), rows: SparseRowMatrix(rowCount: 0, columnCount: 0, rows: [], columns: [], values: []), names: [])
    var names = encoded.names
    var crossIndex: [Int64: Int] = [:]
    var triples: (rows: [Int32], columns: [Int32], values: [Float]) = ([], [], [])
    let column = names.map { $0.split(whereSeparator: { $0 == "=" || $0 == ":" || $0 == "[" }).first.map(String.init) ?? $0 }
    for row in 0..<vocabulary.count {
      var cells = encoded.features(of: vocabulary[row]) ?? []
      if crosses {
        let base = cells
        for a in 0..<base.count {
          for b in (a + 1)..<max(a + 1, base.count) where column[base[a].0] != column[base[b].0] {
            let key = Int64(base[a].0) * Int64(encoded.featureCount) + Int64(base[b].0)
            let index: Int
            if let known = crossIndex[key] {
              index = known
            } else {
              index = names.count
              crossIndex[key] = index
              names.append("\(encoded.names[base[a].0])×\(encoded.names[base[b].0])")
            }
            cells.append((index, base[a].1 * base[b].1))
          }
        }
      }
      for (c, v) in cells {
        triples.rows.append(Int32(row))
        triples.columns.append(Int32(c))
        triples.values.append(v)
      }
    }
    if identity {
      // One indicator per id, after the shared features (LightFM's identity features).
      for row in 0..<vocabulary.count where rowsWithIdentity?(row) ?? true {
        triples.rows.append(Int32(row))
        triples.columns.append(Int32(names.count))
        triples.values.append(1)
        names.append("id=\(vocabulary[row].rawValue)")
      }
    }
    let intercept = names.count
    names.append("(intercept)")
    for row in 0..<vocabulary.count {
      triples.rows.append(Int32(row))
      triples.columns.append(Int32(intercept))
      triples.values.append(1)
    }
    self.rows = SparseRowMatrix(
      rowCount: vocabulary.count, columnCount: names.count, rows: triples.rows, columns: triples.columns,
      values: triples.values)
    self.names = names
  }

  /// The same side with the shared features (not identity, not the intercept) of the rows
  /// `ofRows` accepts multiplied by `weight`.
  func weightingFeatures(by weight: Float, ofRows accepts: (Int) -> Bool) -> FeatureSide {
    guard weight != 1 else { return self }
    var values = rows.values
    for r in 0..<rows.rowCount where accepts(r) {
      for p in rows.range(ofRow: r) where !names[Int(rows.columns[p])].hasPrefix("id=") && Int(rows.columns[p]) != dimension - 1 {
        values[p] *= weight
      }
    }
    return FeatureSide(rows: rows.withValues(values), names: names)
  }

  private init(rows: SparseRowMatrix, names: [String]) {
    self.rows = rows
    self.names = names
  }

  /// The (column, value) cells of request-time features given by name (unknown names are
  /// skipped), plus the intercept.
  func cells(named features: [String], weight: Float = 1) -> [(Int, Float)] {
    var cells = features.compactMap { name in names.firstIndex(of: name).map { ($0, weight) } }
    cells.append((dimension - 1, 1))
    return cells
  }

  /// `FᵀF + λI` as a dense `dimension × dimension` matrix in Double.
  func gram(regularization: Double) -> [Double] {
    let d = dimension
    var g = [Double](repeating: 0, count: d * d)
    for r in 0..<rows.rowCount {
      let range = rows.range(ofRow: r)
      for p in range {
        let a = Int(rows.columns[p])
        let va = Double(rows.values[p])
        for q in range { g[a * d + Int(rows.columns[q])] += va * Double(rows.values[q]) }
      }
    }
    for a in 0..<d { g[a * d + a] += regularization }
    return g
  }
}

/// The training data re-indexed so that every id with features has a row or column, even with
/// no interactions: cold users and items become scorable.
enum FeatureVocabulary {
  static func extended(
    _ data: InteractionData, users: EncodedFeatures<UserID>?, items: EncodedFeatures<ItemID>?
  ) throws(FitError) -> InteractionData {
    var userIDs = data.users
    var itemIDs = data.items
    for id in users?.ids.ids ?? [] { userIDs.insert(id) }
    for id in items?.ids.ids ?? [] { itemIDs.insert(id) }
    guard userIDs.count != data.users.count || itemIDs.count != data.items.count else { return data }
    var builder = InteractionData.Builder(source: data.source, users: userIDs, items: itemIDs)
    builder.reserve(data.count)
    for k in 0..<data.count {
      builder.append(
        user: data.users[Int(data.userIndices[k])], item: data.items[Int(data.itemIndices[k])],
        value: data.values[k], timestamp: data.timestamps[k])
    }
    do { return try builder.build() } catch { throw .invalidData(error) }
  }
}

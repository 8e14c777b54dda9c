public import AffinityCore

/// One named feature of a CTR row: its field, its `field=value` name and its value `x`.
public struct CTRFeature: Sendable, Hashable, Codable {
  public var field: String
  public var name: String
  public var value: Float

  public init(field: String, name: String, value: Float = 1) {
    self.field = field
    self.name = name
    self.value = value
  }

  /// The one-hot feature `field=category`.
  public static func category(_ field: String, _ category: String, value: Float = 1) -> CTRFeature {
    CTRFeature(field: field, name: "\(field)=\(category)", value: value)
  }
}

/// One row of a ``CTRDataset``: a label and its (field, feature, value) triples, as slices of
/// the dataset's storage (no copy).
public struct CTRRow: Sendable {
  /// 1 for a positive (a click, a rating ≥ the threshold), 0 for a negative.
  public let label: Float
  public let fields: ArraySlice<Int32>
  public let features: ArraySlice<Int32>
  public let values: ArraySlice<Float>

  public init(label: Float, fields: ArraySlice<Int32>, features: ArraySlice<Int32>, values: ArraySlice<Float>) {
    self.label = label
    self.fields = fields
    self.features = features
    self.values = values
  }
}

/// Labelled rows of sparse features for click-through-rate models: `label, (field, feature,
/// value)…` per row, stored contiguously (CSR), with the ``CTRVocabulary`` that names them.
///
/// Build one with ``Builder`` from named features, or with ``CTRFeaturizer`` from interactions
/// and user/item features. A test set is built on the training set's vocabulary with
/// `growsVocabulary: false`: its features that training never saw are dropped and counted in
/// ``unseenFeatureCount``.
///
/// - Complexity: memory 12 bytes per stored feature plus 12 per row.
public struct CTRDataset: Sendable {
  public let vocabulary: CTRVocabulary
  /// 0 or 1 per row.
  public let labels: [Float]
  /// `count + 1` offsets into ``fields``, ``features`` and ``values``.
  public let rowStarts: [Int]
  /// The field index of each stored feature.
  public let fields: [Int32]
  /// The feature index of each stored feature.
  public let features: [Int32]
  /// The value `x` of each stored feature.
  public let values: [Float]
  /// Feature occurrences dropped because the vocabulary did not know them.
  public let unseenFeatureCount: Int
  /// Where the rows came from, for messages.
  public let source: String

  /// Number of rows.
  public var count: Int { labels.count }

  /// Number of stored features over all rows.
  public var storedFeatureCount: Int { features.count }

  /// The share of positive rows, 0 for an empty set.
  public var positiveRate: Double {
    guard !labels.isEmpty else { return 0 }
    var positives = 0.0
    for label in labels { positives += Double(label) }
    return positives / Double(labels.count)
  }

  /// The range of storage positions that row `r` occupies.
  @inlinable
  public func range(ofRow r: Int) -> Range<Int> { rowStarts[r]..<rowStarts[r + 1] }

  /// Row `r` as slices of the storage.
  public subscript(r: Int) -> CTRRow {
    let range = range(ofRow: r)
    return CTRRow(label: labels[r], fields: fields[range], features: features[range], values: values[range])
  }

  /// The same rows mapped by name onto `vocabulary`; features it lacks are dropped and counted.
  public func mapped(onto vocabulary: CTRVocabulary) -> CTRDataset {
    if vocabulary == self.vocabulary { return self }
    let featureMap = vocabulary.indices(of: self.vocabulary.featureNames)
    var builder = Builder(source: source, vocabulary: vocabulary, growsVocabulary: false)
    builder.unseenFeatureCount = unseenFeatureCount
    for r in 0..<count {
      var entries: [(field: Int32, feature: Int32, value: Float)] = []
      for p in range(ofRow: r) {
        let j = featureMap[Int(features[p])]
        if j < 0 {
          builder.unseenFeatureCount += 1
        } else {
          entries.append((vocabulary.featureFields[Int(j)], j, values[p]))
        }
      }
      builder.append(label: labels[r], entries: entries)
    }
    return builder.build()
  }

  /// Collects rows and builds a ``CTRDataset`` once.
  public struct Builder: Sendable {
    public let source: String
    /// Whether new feature names are added (training) or dropped and counted (test).
    public let growsVocabulary: Bool
    public private(set) var vocabulary: CTRVocabulary
    /// Feature occurrences dropped so far.
    public internal(set) var unseenFeatureCount = 0
    private var labels: [Float] = []
    private var rowStarts: [Int] = [0]
    private var fields: [Int32] = []
    private var features: [Int32] = []
    private var values: [Float] = []

    public init(source: String, vocabulary: CTRVocabulary = CTRVocabulary(), growsVocabulary: Bool = true) {
      self.source = source
      self.vocabulary = vocabulary
      self.growsVocabulary = growsVocabulary
    }

    /// Number of rows so far.
    public var count: Int { labels.count }

    /// Reserves room for `rows` rows of about `perRow` features each.
    public mutating func reserve(rows: Int, perRow: Int) {
      labels.reserveCapacity(rows)
      rowStarts.reserveCapacity(rows + 1)
      fields.reserveCapacity(rows * perRow)
      features.reserveCapacity(rows * perRow)
      values.reserveCapacity(rows * perRow)
    }

    /// Appends one row. Throws when a value is not finite or a feature name is reused in
    /// another field.
    public mutating func append(label: Bool, features list: some Sequence<CTRFeature>) throws(DataError) {
      for feature in list {
        let location = SourceLocation(file: source, line: count + 1, field: feature.field)
        guard feature.value.isFinite else {
          throw .invalidValue(location, value: String(feature.value), expected: "a finite feature value")
        }
        let index: Int?
        if growsVocabulary {
          index = vocabulary.insert(feature: feature.name, field: feature.field)
          if index == nil {
            throw .invalidValue(
              location, value: feature.name,
              expected: "a feature name used in one field only (it was first seen in another field)")
          }
        } else {
          index = vocabulary.feature(named: feature.name)
        }
        guard let j = index else {
          unseenFeatureCount += 1
          continue
        }
        fields.append(vocabulary.featureFields[j])
        features.append(Int32(j))
        values.append(feature.value)
      }
      labels.append(label ? 1 : 0)
      rowStarts.append(features.count)
    }

    /// Appends one row of indices that are already in ``vocabulary``.
    mutating func append(label: Float, entries: [(field: Int32, feature: Int32, value: Float)]) {
      for entry in entries {
        fields.append(entry.field)
        features.append(entry.feature)
        values.append(entry.value)
      }
      labels.append(label)
      rowStarts.append(features.count)
    }

    /// Adds the feature if the vocabulary grows, and returns its (field, feature) indices;
    /// nil when it is unseen in a frozen vocabulary or its name belongs to another field.
    mutating func resolve(_ feature: CTRFeature) -> (field: Int32, feature: Int32)? {
      let index =
        growsVocabulary
        ? vocabulary.insert(feature: feature.name, field: feature.field) : vocabulary.feature(named: feature.name)
      guard let j = index else { return nil }
      return (vocabulary.featureFields[j], Int32(j))
    }

    public func build() -> CTRDataset {
      CTRDataset(
        vocabulary: vocabulary, labels: labels, rowStarts: rowStarts, fields: fields, features: features,
        values: values, unseenFeatureCount: unseenFeatureCount, source: source)
    }
  }
}

extension CTRVocabulary {
  /// The index in this vocabulary of each name, −1 where it has none.
  func indices(of names: [String]) -> [Int32] {
    names.map { feature(named: $0).map(Int32.init) ?? -1 }
  }
}

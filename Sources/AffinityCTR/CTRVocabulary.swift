/// The fields and features of CTR rows: a two-way map between names and dense indices.
///
/// A feature is named `field=value` (`user=196`, `age=25-34`, `genres=Comedy`) and belongs to
/// exactly one field (`user`, `age`, `genres`), the unit a field-aware model pairs by. Indices
/// are given in order of first appearance. A model keeps the vocabulary it was trained on, so
/// test rows and candidates map onto the training features by name; a name the model never saw
/// has no index and is dropped.
///
/// - Complexity: lookups are O(1) hash probes; memory is O(features) names.
public struct CTRVocabulary: Sendable, Equatable, Codable {
  /// Field names, position = field index.
  public private(set) var fieldNames: [String]
  /// Feature names, position = feature index.
  public private(set) var featureNames: [String]
  /// The field index of each feature.
  public private(set) var featureFields: [Int32]
  private var fieldIndexByName: [String: Int32]
  private var featureIndexByName: [String: Int32]

  /// An empty vocabulary.
  public init() {
    fieldNames = []
    featureNames = []
    featureFields = []
    fieldIndexByName = [:]
    featureIndexByName = [:]
  }

  /// Number of fields.
  public var fieldCount: Int { fieldNames.count }
  /// Number of features.
  public var featureCount: Int { featureNames.count }

  /// The index of the field called `name`.
  public func field(named name: String) -> Int? { fieldIndexByName[name].map(Int.init) }

  /// The index of the feature called `name`.
  public func feature(named name: String) -> Int? { featureIndexByName[name].map(Int.init) }

  /// Adds the field if new and returns its index.
  @discardableResult
  public mutating func insert(field name: String) -> Int {
    if let existing = fieldIndexByName[name] { return Int(existing) }
    fieldIndexByName[name] = Int32(fieldNames.count)
    fieldNames.append(name)
    return fieldNames.count - 1
  }

  /// Adds the feature `name` of field `field` if new and returns its index, or nil when the name
  /// is already a feature of another field.
  public mutating func insert(feature name: String, field: String) -> Int? {
    let f = Int32(insert(field: field))
    if let existing = featureIndexByName[name] {
      return featureFields[Int(existing)] == f ? Int(existing) : nil
    }
    featureIndexByName[name] = Int32(featureNames.count)
    featureNames.append(name)
    featureFields.append(f)
    return featureNames.count - 1
  }

  /// Equal when the same names have the same indices. Arrays that share storage (a test set
  /// built on the training vocabulary) compare in O(1).
  public static func == (lhs: Self, rhs: Self) -> Bool {
    lhs.fieldNames == rhs.fieldNames && lhs.featureNames == rhs.featureNames
      && lhs.featureFields == rhs.featureFields
  }

  enum CodingKeys: String, CodingKey { case fields, features, featureFields }

  /// Decodes and checks that every feature's field exists and no name repeats.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let fields = try container.decode([String].self, forKey: .fields)
    let features = try container.decode([String].self, forKey: .features)
    let owners = try container.decode([Int32].self, forKey: .featureFields)
    self.init()
    for name in fields { insert(field: name) }
    guard fieldNames.count == fields.count, owners.count == features.count else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "inconsistent CTR vocabulary"))
    }
    for (name, owner) in zip(features, owners) {
      guard owner >= 0, Int(owner) < fields.count, featureIndexByName[name] == nil else {
        throw DecodingError.dataCorrupted(
          .init(codingPath: decoder.codingPath, debugDescription: "inconsistent CTR vocabulary"))
      }
      featureIndexByName[name] = Int32(featureNames.count)
      featureNames.append(name)
      featureFields.append(owner)
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(fieldNames, forKey: .fields)
    try container.encode(featureNames, forKey: .features)
    try container.encode(featureFields, forKey: .featureFields)
  }
}

public import AffinityCore

/// Turns interactions and user/item features into CTR rows.
///
/// Each interaction becomes one row labelled 1 when its value is ≥ ``positiveThreshold``
/// (a MovieLens rating of 4 or 5), else 0. Its fields are `user` (the feature `user=<id>`),
/// `item` (`item=<id>`) and one field per encoded feature column, named by the column: the
/// part of the encoded name before `=`, `:` or `[` (``FeatureEncoder`` names them
/// `occupation=writer`, `genres=Comedy`, `title:star`, `embedding[3]`). So a categorical column
/// gives one feature, a multi-label column several features of value `1/√n` in one field, an
/// age column its MovieLens-1M bucket and a year column its decade. A column name that clashes
/// with the other side's columns or with `user`/`item` gets a `user.`/`item.` prefix.
///
/// - Complexity: O(rows · features per row); each user's and item's features are resolved once.
public struct CTRFeaturizer: Sendable {
  public let users: EncodedFeatures<UserID>?
  public let items: EncodedFeatures<ItemID>?
  /// Rows whose value is at least this are positives.
  public var positiveThreshold: Float
  /// Whether rows carry the `user=<id>` feature.
  public var includesUserIDs: Bool
  /// Whether rows carry the `item=<id>` feature.
  public var includesItemIDs: Bool
  /// Field and feature name of each encoded user feature column, in encoded order.
  private let userNames: [(field: String, name: String)]
  private let itemNames: [(field: String, name: String)]

  public init(
    users: EncodedFeatures<UserID>? = nil, items: EncodedFeatures<ItemID>? = nil, positiveThreshold: Float = 4,
    includesUserIDs: Bool = true, includesItemIDs: Bool = true
  ) {
    self.users = users
    self.items = items
    self.positiveThreshold = positiveThreshold
    self.includesUserIDs = includesUserIDs
    self.includesItemIDs = includesItemIDs
    let userColumns = Set((users?.names ?? []).map(Self.column(of:)))
    let itemColumns = Set((items?.names ?? []).map(Self.column(of:)))
    func names(_ encoded: [String], side: String, other: Set<String>) -> [(field: String, name: String)] {
      encoded.map { name in
        let column = Self.column(of: name)
        let clashes = other.contains(column) || column == "user" || column == "item"
        return clashes ? ("\(side).\(column)", "\(side).\(name)") : (column, name)
      }
    }
    userNames = names(users?.names ?? [], side: "user", other: itemColumns)
    itemNames = names(items?.names ?? [], side: "item", other: userColumns)
  }

  /// Encodes the given feature tables with ``FeatureEncoder`` (all usable columns when a
  /// column list is empty); throws when a named column is missing.
  public init(
    userTable: FeatureTable<UserID>?, userColumns: [String] = [], itemTable: FeatureTable<ItemID>?,
    itemColumns: [String] = [], positiveThreshold: Float = 4
  ) throws(DataError) {
    let users = try userTable.map { table throws(DataError) in try FeatureEncoder(columns: userColumns).encode(table) }
    let items = try itemTable.map { table throws(DataError) in try FeatureEncoder(columns: itemColumns).encode(table) }
    self.init(users: users, items: items, positiveThreshold: positiveThreshold)
  }

  /// The column an encoded feature name belongs to: its text before `=`, `:` or `[`.
  public static func column(of encodedName: String) -> String {
    if let cut = encodedName.firstIndex(where: { $0 == "=" || $0 == ":" || $0 == "[" }) {
      return String(encodedName[..<cut])
    }
    return encodedName
  }

  /// The named features of the pair `(user, item)`, ready to score against a model's
  /// vocabulary (see ``CTRModel/ranked(_:for:featurizer:)``).
  public func features(user: UserID, item: ItemID) -> [CTRFeature] {
    userFeatures(user) + itemFeatures(item)
  }

  private func userFeatures(_ user: UserID) -> [CTRFeature] {
    var list: [CTRFeature] = includesUserIDs ? [.category("user", user.rawValue)] : []
    for (column, value) in users?.features(of: user) ?? [] {
      list.append(CTRFeature(field: userNames[column].field, name: userNames[column].name, value: value))
    }
    return list
  }

  private func itemFeatures(_ item: ItemID) -> [CTRFeature] {
    var list: [CTRFeature] = includesItemIDs ? [.category("item", item.rawValue)] : []
    for (column, value) in items?.features(of: item) ?? [] {
      list.append(CTRFeature(field: itemNames[column].field, name: itemNames[column].name, value: value))
    }
    return list
  }

  /// Training rows: every feature becomes part of the vocabulary, in order of first appearance.
  public func trainingSet(_ data: InteractionData) throws(DataError) -> CTRDataset {
    var builder = CTRDataset.Builder(source: data.source)
    try rows(data, into: &builder)
    return builder.build()
  }

  /// Test rows mapped onto a training `vocabulary`: features it lacks (unseen users, items or
  /// categories) are dropped and counted in ``CTRDataset/unseenFeatureCount``.
  public func testSet(_ data: InteractionData, vocabulary: CTRVocabulary) -> CTRDataset {
    var builder = CTRDataset.Builder(source: data.source, vocabulary: vocabulary, growsVocabulary: false)
    // A frozen vocabulary never rejects a name, so this cannot throw.
    try? rows(data, into: &builder)
    return builder.build()
  }

  private typealias Entry = (field: Int32, feature: Int32, value: Float)

  private func rows(_ data: InteractionData, into builder: inout CTRDataset.Builder) throws(DataError) {
    var userCache = [(entries: [Entry], unseen: Int)?](repeating: nil, count: data.users.count)
    var itemCache = [(entries: [Entry], unseen: Int)?](repeating: nil, count: data.items.count)
    func resolve(_ list: [CTRFeature], row: Int) throws(DataError) -> (entries: [Entry], unseen: Int) {
      var entries: [Entry] = []
      var unseen = 0
      for feature in list {
        if let (f, j) = builder.resolve(feature) {
          entries.append((f, j, feature.value))
        } else if builder.growsVocabulary {
          throw .invalidValue(
            SourceLocation(file: data.source, line: row + 1, field: feature.field), value: feature.name,
            expected: "a feature name used in one field only (rename the feature column)")
        } else {
          unseen += 1
        }
      }
      return (entries, unseen)
    }
    builder.reserve(rows: data.count, perRow: 2 + userNames.count.signum() * 3 + itemNames.count.signum() * 3)
    for k in 0..<data.count {
      let u = Int(data.userIndices[k])
      let i = Int(data.itemIndices[k])
      if userCache[u] == nil { userCache[u] = try resolve(userFeatures(data.users[u]), row: k) }
      if itemCache[i] == nil { itemCache[i] = try resolve(itemFeatures(data.items[i]), row: k) }
      guard let user = userCache[u], let item = itemCache[i] else { continue }
      builder.unseenFeatureCount += user.unseen + item.unseen
      builder.append(label: data.values[k] >= positiveThreshold ? 1 : 0, entries: user.entries + item.entries)
    }
  }
}

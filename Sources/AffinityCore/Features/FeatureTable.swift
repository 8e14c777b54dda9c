/// One feature value of a user or an item.
public enum FeatureValue: Sendable, Hashable, Codable {
  /// One category out of many, such as an occupation.
  case category(String)
  /// Several labels at once, such as genres.
  case labels([String])
  /// A number, such as an age or a release year.
  case number(Double)
  /// Free text, such as a title, to be tokenised later.
  case text(String)
  /// A dense vector, such as a text or image embedding.
  case vector([Float])
  /// Absent in the source.
  case missing
}

/// A table of features keyed by user or item id: categorical, multi-label, numeric, text and
/// dense-vector columns.
///
/// Built by ``FeatureReader`` from GroupLens `u.item`/`u.user`, RecBole `.item`/`.user` or a CSV
/// with a header. Rows are in file order; ``ids`` gives each row's id.
public struct FeatureTable<ID: ExternalID>: Sendable {
  /// What a column holds.
  public enum Kind: String, Sendable, Codable, CaseIterable {
    case categorical
    case multiLabel = "multi-label"
    case numeric
    case text
    case vector
  }

  /// One named column.
  public struct Column: Sendable, Equatable {
    public var name: String
    public var kind: Kind
    /// One value per row, in ``FeatureTable/ids`` order.
    public var values: [FeatureValue]

    public init(name: String, kind: Kind, values: [FeatureValue]) {
      self.name = name
      self.kind = kind
      self.values = values
    }
  }

  public let ids: IDVocabulary<ID>
  public let columns: [Column]
  /// Where the table came from, for messages.
  public let source: String

  public init(ids: IDVocabulary<ID>, columns: [Column], source: String) throws(DataError) {
    for column in columns where column.values.count != ids.count {
      throw .dimensionMismatch(what: "feature column '\(column.name)'", expected: ids.count, actual: column.values.count)
    }
    self.ids = ids
    self.columns = columns
    self.source = source
  }

  /// Number of rows.
  public var count: Int { ids.count }

  /// The column called `name`.
  public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

  /// The value of `column` for `id`, or nil when either is unknown.
  public func value(of id: ID, in column: String) -> FeatureValue? {
    guard let row = ids.index(of: id), let c = self.column(column) else { return nil }
    return c.values[row]
  }

  /// The distinct categories or labels of a categorical or multi-label column, sorted.
  public func vocabulary(of column: String) -> [String] {
    guard let c = self.column(column) else { return [] }
    var seen = Set<String>()
    for value in c.values {
      switch value {
      case .category(let s): seen.insert(s)
      case .labels(let list): seen.formUnion(list)
      default: break
      }
    }
    return seen.sorted()
  }
}

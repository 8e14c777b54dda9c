/// An id that users and files give to a user or an item: a string wrapped in a type.
public protocol ExternalID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible,
  ExpressibleByStringLiteral
{
  /// The caller's string, exactly as read.
  var rawValue: String { get }
  init(_ rawValue: String)
}

extension ExternalID {
  public init(stringLiteral value: String) { self.init(value) }
  public var description: String { rawValue }
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The id of a user as the caller knows it, such as `"196"`.
public struct UserID: ExternalID {
  public let rawValue: String
  public init(_ rawValue: String) { self.rawValue = rawValue }
  public init(from decoder: any Decoder) throws {
    rawValue = try decoder.singleValueContainer().decode(String.self)
  }
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

/// The id of an item as the caller knows it, such as `"242"`.
public struct ItemID: ExternalID {
  public let rawValue: String
  public init(_ rawValue: String) { self.rawValue = rawValue }
  public init(from decoder: any Decoder) throws {
    rawValue = try decoder.singleValueContainer().decode(String.self)
  }
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

/// A two-way map between external ids and dense indices `0..<count`.
///
/// Indices are given in order of first appearance, as Surprise gives inner ids, so a model
/// trained on the same file sees the same order. Encodes as the array of ids.
public struct IDVocabulary<ID: ExternalID>: Sendable, Equatable, Codable {
  /// The ids, position = dense index.
  public private(set) var ids: [ID]
  private var indexByID: [ID: Int]

  /// An empty vocabulary.
  public init() {
    ids = []
    indexByID = [:]
  }

  /// A vocabulary of `ids` in order, repeats ignored.
  public init(_ ids: some Sequence<ID>) {
    self.init()
    for id in ids { insert(id) }
  }

  /// Number of ids.
  public var count: Int { ids.count }

  /// The dense index of `id`, or nil when it is not in the vocabulary.
  @inlinable
  public func index(of id: ID) -> Int? { indexLookup(id) }

  @usableFromInline
  func indexLookup(_ id: ID) -> Int? { indexByID[id] }

  /// True when `id` is in the vocabulary.
  public func contains(_ id: ID) -> Bool { indexByID[id] != nil }

  /// The id at dense `index`.
  public subscript(index: Int) -> ID { ids[index] }

  /// Adds `id` if new and returns its index.
  @discardableResult
  public mutating func insert(_ id: ID) -> Int {
    if let existing = indexByID[id] { return existing }
    indexByID[id] = ids.count
    ids.append(id)
    return ids.count - 1
  }

  // Codable: see Bundles/VocabularyCoding.swift (an array of ids, or a bundle reference).

  public static func == (lhs: Self, rhs: Self) -> Bool { lhs.ids == rhs.ids }
}

import AffinityLinalg
import Synchronization

/// Collects the id vocabularies of a model while it is encoded, so a bundle lists each one once,
/// in its manifest, and the model refers to it by name (`{"vocabulary": "users"}`).
///
/// The training users are named `users` and the training items `items`; a vocabulary equal to
/// one already collected is referred to by that name, any other by its coding path.
public final class VocabularySink: Sendable {
  private let state = Mutex<[(name: String, kind: String, ids: [String])]>([])

  public init() {}

  func add(_ ids: [String], kind: String, preferredName: String?, codingPath: [any CodingKey]) -> String {
    state.withLock { state in
      if let same = state.first(where: { $0.kind == kind && $0.ids == ids }) { return same.name }
      let path = codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
      var name = path
      if let preferredName, !state.contains(where: { $0.name == preferredName }) { name = preferredName }
      var suffix = 2
      while state.contains(where: { $0.name == name }) {
        name = "\(path)#\(suffix)"
        suffix += 1
      }
      state.append((name, kind, ids))
      return name
    }
  }

  /// Every vocabulary collected, by name.
  public var vocabularies: [String: [String]] {
    state.withLock { Dictionary($0.map { ($0.name, $0.ids) }, uniquingKeysWith: { first, _ in first }) }
  }
}

/// The vocabularies of a bundle being decoded; the counterpart of ``VocabularySink``.
public final class VocabularySource: Sendable {
  public let vocabularies: [String: [String]]
  public init(_ vocabularies: [String: [String]]) { self.vocabularies = vocabularies }
}

extension CodingUserInfoKey {
  /// A ``VocabularySink`` that receives id vocabularies while encoding.
  public static let vocabularySink = CodingUserInfoKey.named("affinity.vocabularySink")
  /// A ``VocabularySource`` that resolves vocabulary references while decoding.
  public static let vocabularySource = CodingUserInfoKey.named("affinity.vocabularySource")
}

/// `{"vocabulary": "users"}`: where an id vocabulary went.
struct VocabularyReference: Codable {
  let vocabulary: String
}

extension IDVocabulary {
  /// Encodes as the array of ids, or as a reference when a ``VocabularySink`` is present.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    if let sink = encoder.userInfo[.vocabularySink] as? VocabularySink {
      let preferred: String? = ID.self == UserID.self ? "users" : ID.self == ItemID.self ? "items" : nil
      let name = sink.add(
        ids.map(\.rawValue), kind: String(describing: ID.self), preferredName: preferred, codingPath: encoder.codingPath)
      try container.encode(VocabularyReference(vocabulary: name))
    } else {
      try container.encode(ids)
    }
  }

  /// Decodes either form.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let source = decoder.userInfo[.vocabularySource] as? VocabularySource,
      let reference = try? container.decode(VocabularyReference.self)
    {
      guard let ids = source.vocabularies[reference.vocabulary] else {
        throw DecodingError.dataCorruptedError(
          in: container, debugDescription: "the bundle has no vocabulary named '\(reference.vocabulary)'")
      }
      self.init(ids.map { ID($0) })
    } else {
      self.init(try container.decode([ID].self))
    }
  }
}

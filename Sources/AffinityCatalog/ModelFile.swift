public import AffinityCore
import AffinityLinalg
import Foundation

/// Saves and loads trained models: a ``ModelBundle`` (`.affinity`, format 2) or, for a path
/// ending in `.json`, one JSON document (format 1).
///
/// Format 1 layout: `{"format": "affinity-model", "formatVersion": 1, "kind": "als",
/// "createdAt": …, "dataSource": …, "model": {…}}`, where `model` is the model's `Codable` form.
/// Both are written atomically (temporary file, fsync, rename). Loading tells the two apart by
/// their first bytes, checks the format, the version and the kind before decoding, and refuses
/// a truncated or edited file with a ``BundleError``, never a crash.
public enum ModelFile {
  /// The newest format this build reads (and writes, for bundles).
  public static let formatVersion = ModelBundle.formatVersion
  /// The version of the single-JSON-document format, frozen.
  public static let jsonFormatVersion = 1

  struct Header: Codable {
    let format: String
    let formatVersion: Int
    let kind: String
    let createdAt: String
    let dataSource: String
  }

  struct Document<Model: Encodable>: Encodable {
    let format: String
    let formatVersion: Int
    let kind: String
    let createdAt: String
    let dataSource: String
    let model: Model
  }

  struct Payload<Model: Decodable>: Decodable {
    let model: Model
  }

  /// True when `path` gets the JSON document format rather than a bundle.
  public static func writesJSON(_ path: String) -> Bool { path.lowercased().hasSuffix(".json") }

  /// Writes `model` to `path` atomically; `kind` is its catalogue name. A path ending in
  /// `.json` gets a format-1 JSON document, any other a bundle.
  public static func save(
    _ model: any Recommender, kind: String, dataSource: String, to path: String, dataFingerprint: String? = nil,
    metrics: [String: Double] = [:]
  ) throws(BundleError) {
    let provenance = ModelBundle.Provenance(dataSource: dataSource, dataFingerprint: dataFingerprint, metrics: metrics)
    let data = try encode(model, kind: kind, provenance: provenance, json: writesJSON(path), file: path)
    try AtomicFile.write(data, to: path)
  }

  static func encode<Model: Recommender>(
    _ model: Model, kind: String, provenance: ModelBundle.Provenance, json: Bool, file: String
  ) throws(BundleError) -> Data {
    guard json else { return Data(try ModelBundle.encode(model, kind: kind, provenance: provenance, file: file)) }
    let document = Document(
      format: "affinity-model", formatVersion: jsonFormatVersion, kind: kind,
      createdAt: ISO8601DateFormatter().string(from: Date()), dataSource: provenance.dataSource, model: model)
    let encoder = JSONEncoder()
    // Sorted keys: the same model gives the same bytes (dictionary order varies between runs).
    encoder.outputFormatting = [.sortedKeys]
    do { return try encoder.encode(document) } catch {
      throw .writeFailed(file: file, reason: "the \(kind) model does not encode: \(error)")
    }
  }

  /// A JSON document starts with `{` and has no zero byte; a bundle starts with its header
  /// length, whose high bytes are zero.
  static func isJSONDocument(_ bytes: [UInt8]) -> Bool {
    bytes.first == UInt8(ascii: "{") && !bytes.prefix(8).contains(0)
  }

  static func read(_ path: String) throws(BundleError) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(file: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
    }
    return Array(data)
  }

  /// Reads a model written by ``save(_:kind:dataSource:to:dataFingerprint:metrics:)``, in
  /// either format.
  public static func load(_ path: String) throws(BundleError) -> (kind: String, model: any Recommender) {
    let bytes = try read(path)
    if isJSONDocument(bytes) { return try loadJSON(Data(bytes), path: path) }
    return try ModelBundle.decode(bytes, file: path)
  }

  static func loadJSON(_ data: Data, path: String) throws(BundleError) -> (kind: String, model: any Recommender) {
    let header: Header
    do { header = try JSONDecoder().decode(Header.self, from: data) } catch {
      throw .corrupted(file: path, reason: "not an Affinity model file or truncated")
    }
    guard header.format == "affinity-model" else {
      throw .corrupted(file: path, reason: "format is '\(header.format)', expected 'affinity-model'")
    }
    guard header.formatVersion <= formatVersion else {
      throw .unsupportedFormatVersion(found: header.formatVersion, supported: 1...formatVersion, file: path)
    }
    let descriptor: ModelDescriptor
    do { descriptor = try ModelCatalog.descriptor(named: header.kind) } catch {
      throw .unknownKind(header.kind, known: ModelCatalog.names, file: path)
    }
    do {
      return (header.kind, try descriptor.decodeDocument(data, userInfo: [:]))
    } catch {
      throw .corrupted(file: path, reason: "the \(header.kind) model inside does not decode")
    }
  }

  /// What `affinity inspect` shows about a saved model.
  public struct Summary: Sendable, Encodable {
    public struct TensorRow: Sendable, Encodable {
      public var name: String
      public var dtype: String
      public var shape: [Int]
      public var bytes: Int
      public var sha256: String
    }

    public var file: String
    /// `bundle` or `json`.
    public var layout: String
    public var kind: String
    public var formatVersion: Int
    public var createdAt: String
    public var dataSource: String
    public var dataFingerprint: String?
    public var metrics: [String: Double]
    public var users: Int
    public var items: Int
    /// Vocabulary name → number of ids.
    public var vocabularies: [String: Int]
    /// Configuration field → value text.
    public var configuration: [String: String]
    public var tensors: [TensorRow]
  }

  /// Loads `path` (checking it as ``load(_:)`` does) and describes it.
  public static func inspect(_ path: String) throws(BundleError) -> Summary {
    let bytes = try read(path)
    if isJSONDocument(bytes) {
      let (kind, model) = try loadJSON(Data(bytes), path: path)
      let header = try? JSONDecoder().decode(Header.self, from: Data(bytes))
      return Summary(
        file: path, layout: "json", kind: kind, formatVersion: header?.formatVersion ?? jsonFormatVersion,
        createdAt: header?.createdAt ?? "", dataSource: header?.dataSource ?? "", dataFingerprint: nil, metrics: [:],
        users: model.users.count, items: model.items.count,
        vocabularies: ["users": model.users.count, "items": model.items.count],
        configuration: configurationText(model.configuration), tensors: [])
    }
    let (kind, model, opened) = try ModelBundle.read(bytes, file: path)
    let manifest = opened.manifest
    return Summary(
      file: path, layout: "bundle", kind: kind, formatVersion: manifest.formatVersion, createdAt: manifest.createdAt,
      dataSource: manifest.dataSource, dataFingerprint: manifest.dataFingerprint, metrics: manifest.metrics,
      users: model.users.count, items: model.items.count, vocabularies: manifest.vocabularies.mapValues(\.count),
      configuration: configurationText(model.configuration),
      tensors: opened.file.tensors.map {
        .init(
          name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape, bytes: $0.bytes.count,
          sha256: manifest.sha256[$0.name] ?? "")
      })
  }

  static func configurationText<C: ModelConfiguration>(_ configuration: C) -> [String: String] {
    ConfigurationFields.fields(configuration).mapValues(\.text)
  }

  /// `sha256:<hex>` of the file at `path`: the training-data fingerprint a bundle records.
  public static func fingerprint(ofFile path: String) throws(BundleError) -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(file: path, reason: "cannot read the training data to fingerprint it")
    }
    return "sha256:" + SHA256.hex(data)
  }
}

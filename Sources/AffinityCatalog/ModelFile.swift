public import AffinityCore
import Foundation

/// Saves and loads trained models as one JSON document.
///
/// Layout: `{"format": "affinity-model", "formatVersion": 1, "kind": "als", "createdAt": …,
/// "dataSource": …, "model": {…}}`, where `model` is the model's `Codable` form (large float
/// arrays as arrays of numbers, ids as strings). Written atomically (temporary file, fsync,
/// rename). Loading checks the format, the version and the kind before decoding, and a
/// truncated or edited file is refused with a ``BundleError``, never a crash.
public enum ModelFile {
  public static let formatVersion = 1

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

  /// Writes `model` to `path` atomically; `kind` is its catalogue name.
  public static func save(_ model: any Recommender, kind: String, dataSource: String, to path: String) throws {
    let data = try encode(model, kind: kind, dataSource: dataSource)
    try AtomicFile.write(data, to: path)
  }

  static func encode<Model: Recommender>(_ model: Model, kind: String, dataSource: String) throws -> Data {
    let document = Document(
      format: "affinity-model", formatVersion: formatVersion, kind: kind,
      createdAt: ISO8601DateFormatter().string(from: Date()), dataSource: dataSource, model: model)
    let encoder = JSONEncoder()
    // Sorted keys: the same model gives the same bytes (dictionary order varies between runs).
    encoder.outputFormatting = [.sortedKeys]
    return try encoder.encode(document)
  }

  /// Reads a model written by ``save(_:kind:dataSource:to:)``.
  public static func load(_ path: String) throws(BundleError) -> (kind: String, model: any Recommender) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(file: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
    }
    let header: Header
    do { header = try JSONDecoder().decode(Header.self, from: data) } catch {
      throw .corrupted(file: path, reason: "not an Affinity model file or truncated")
    }
    guard header.format == "affinity-model" else {
      throw .corrupted(file: path, reason: "format is '\(header.format)', expected 'affinity-model'")
    }
    guard header.formatVersion <= formatVersion else {
      throw .unsupportedFormatVersion(found: header.formatVersion, supported: 1...formatVersion)
    }
    let descriptor: ModelDescriptor
    do { descriptor = try ModelCatalog.descriptor(named: header.kind) } catch {
      throw .unknownKind(header.kind, known: ModelCatalog.names)
    }
    do {
      return (header.kind, try descriptor.decodeDocument(data))
    } catch {
      throw .corrupted(file: path, reason: "the \(header.kind) model inside does not decode")
    }
  }
}

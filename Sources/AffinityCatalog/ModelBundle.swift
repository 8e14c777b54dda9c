public import AffinityCore
import AffinityLinalg
public import Foundation

/// A trained model as one `.affinity` file: tensors in the safetensors layout, with a JSON
/// manifest under `__metadata__["affinity"]` (see docs/bundles.md).
///
/// The manifest holds `format`, `formatVersion`, `kind`, `createdAt`, `dataSource`,
/// `dataFingerprint`, `metrics`, `configuration`, `vocabularies` (each id list once, by name),
/// `sha256` (tensor name → hex digest) and `model`: the model's `Codable` form in which every
/// large array is `{"tensor": name}` and every id list `{"vocabulary": name}`.
public enum ModelBundle {
  /// The bundle format this build writes and the newest it reads.
  public static let formatVersion = 2
  /// The key under `__metadata__` that holds the manifest.
  public static let metadataKey = "affinity"

  /// What a bundle records besides the model.
  public struct Provenance: Sendable {
    /// Where the training data came from, such as its path.
    public var dataSource: String
    /// `sha256:<hex>` of the training data, when known.
    public var dataFingerprint: String?
    /// Evaluation results to keep with the model, such as `["ndcg@10": 0.31]`.
    public var metrics: [String: Double]

    public init(dataSource: String, dataFingerprint: String? = nil, metrics: [String: Double] = [:]) {
      self.dataSource = dataSource
      self.dataFingerprint = dataFingerprint
      self.metrics = metrics
    }
  }

  /// The manifest fields other than the model.
  struct Manifest: Codable {
    var format: String
    var formatVersion: Int
    var kind: String
    var createdAt: String
    var dataSource: String
    var dataFingerprint: String?
    var metrics: [String: Double]
    var vocabularies: [String: [String]]
    var sha256: [String: String]
  }

  /// The manifest written: ``Manifest`` plus the configuration.
  struct ManifestHead: Encodable {
    var manifest: Manifest
    var configuration: any Encodable

    enum Keys: String, CodingKey { case configuration }

    func encode(to encoder: any Encoder) throws {
      try manifest.encode(to: encoder)
      var container = encoder.container(keyedBy: Keys.self)
      try container.encode(configuration, forKey: .configuration)
    }
  }

  /// Just enough to refuse a file before reading the rest.
  struct Probe: Decodable {
    var format: String?
    var formatVersion: Int
    var kind: String
  }

  /// The bundle's bytes for `model`, whose catalogue name is `kind`.
  public static func encode<Model: Recommender>(
    _ model: Model, kind: String, provenance: Provenance, file: String = "", createdAt: Date = Date()
  ) throws(BundleError) -> [UInt8] {
    let tensors = TensorSink()
    let vocabularies = VocabularySink()
    let encoder = JSONEncoder()
    // Sorted keys: the same model gives the same manifest (dictionary order varies between runs).
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.userInfo = [.tensorSink: tensors, .vocabularySink: vocabularies]
    let modelJSON: Data
    let headJSON: Data
    do {
      modelJSON = try encoder.encode(model)
      let collected = tensors.tensors
      let manifest = Manifest(
        format: "affinity-model", formatVersion: formatVersion, kind: kind,
        createdAt: ISO8601DateFormatter().string(from: createdAt), dataSource: provenance.dataSource,
        dataFingerprint: provenance.dataFingerprint, metrics: provenance.metrics,
        vocabularies: vocabularies.vocabularies,
        sha256: Dictionary(collected.map { ($0.name, SHA256.hex($0.bytes)) }, uniquingKeysWith: { a, _ in a }))
      encoder.userInfo = [:]
      headJSON = try encoder.encode(ManifestHead(manifest: manifest, configuration: model.configuration))
    } catch {
      throw .writeFailed(file: file, reason: "the \(kind) model does not encode: \(error)")
    }
    // `{…head…}` + `,"model":{…}}`: the model is encoded first, because encoding it is what
    // fills the vocabulary and tensor lists the head records.
    var manifest = Array(headJSON.dropLast())
    manifest.append(contentsOf: Array(#","model":"#.utf8))
    manifest.append(contentsOf: modelJSON)
    manifest.append(UInt8(ascii: "}"))
    let text = String(decoding: manifest, as: UTF8.self)
    do {
      return try SafetensorsFile(metadata: [metadataKey: text], tensors: tensors.tensors).encoded()
    } catch {
      throw .writeFailed(file: file, reason: error.description)
    }
  }

  /// A bundle's parts after the layout, version, kind and checksums were checked.
  struct Opened {
    var manifest: Manifest
    var manifestData: Data
    var file: SafetensorsFile
    var descriptor: ModelDescriptor
  }

  /// Checks `bytes` (read from `file`) in this order: layout, manifest, format version, kind,
  /// then every tensor's SHA-256.
  static func open(_ bytes: [UInt8], file: String) throws(BundleError) -> Opened {
    let tensors = try SafetensorsFile(reading: bytes, file: file)
    guard let text = tensors.metadata[metadataKey] else {
      throw .corrupted(file: file, reason: "a safetensors file without an Affinity manifest (__metadata__.\(metadataKey))")
    }
    let data = Data(text.utf8)
    let probe: Probe
    do { probe = try JSONDecoder().decode(Probe.self, from: data) } catch {
      throw .corrupted(file: file, reason: "the manifest is not valid JSON or lacks formatVersion and kind")
    }
    guard probe.formatVersion <= formatVersion else {
      throw .unsupportedFormatVersion(found: probe.formatVersion, supported: 1...formatVersion, file: file)
    }
    guard probe.format == "affinity-model" else {
      throw .corrupted(file: file, reason: "format is '\(probe.format ?? "none")', expected 'affinity-model'")
    }
    let descriptor: ModelDescriptor
    do { descriptor = try ModelCatalog.descriptor(named: probe.kind) } catch {
      throw .unknownKind(probe.kind, known: ModelCatalog.names, file: file)
    }
    let manifest: Manifest
    do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
      throw .corrupted(file: file, reason: "the manifest does not decode: \(error)")
    }
    for tensor in tensors.tensors {
      guard let expected = manifest.sha256[tensor.name] else {
        throw .corrupted(file: file, reason: "tensor '\(tensor.name)' has no SHA-256 in the manifest")
      }
      guard SHA256.hex(tensor.bytes) == expected else { throw .checksumMismatch(file: file, tensor: tensor.name) }
    }
    let present = Set(tensors.tensors.map(\.name))
    if let missing = manifest.sha256.keys.sorted().first(where: { !present.contains($0) }) {
      throw .corrupted(file: file, reason: "the manifest lists tensor '\(missing)' but the file does not hold it")
    }
    return Opened(manifest: manifest, manifestData: data, file: tensors, descriptor: descriptor)
  }

  /// Reads a model from bundle `bytes`; `file` names them in errors.
  public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws(BundleError) -> (
    kind: String, model: any Recommender
  ) {
    let (kind, model, _) = try read(bytes, file: file)
    return (kind, model)
  }

  static func read(_ bytes: [UInt8], file: String) throws(BundleError) -> (kind: String, model: any Recommender, opened: Opened) {
    let opened = try open(bytes, file: file)
    let userInfo: [CodingUserInfoKey: any Sendable] = [
      .tensorSource: TensorSource(opened.file.tensors), .vocabularySource: VocabularySource(opened.manifest.vocabularies),
    ]
    do {
      let model = try opened.descriptor.decodeDocument(opened.manifestData, userInfo: userInfo)
      return (opened.manifest.kind, model, opened)
    } catch {
      throw .corrupted(file: file, reason: "the \(opened.manifest.kind) model inside does not decode")
    }
  }
}

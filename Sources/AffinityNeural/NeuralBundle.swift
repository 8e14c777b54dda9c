public import AffinityCore
import AffinityLinalg
public import Foundation

/// Networks and extra tensors saved as one `.affinity` file in the model-bundle layout
/// (safetensors; manifest under `__metadata__["affinity"]` with format, version, kind, a
/// configuration string, each network's layers, and a SHA-256 per tensor; see docs/bundles.md).
/// Written atomically.
public struct NeuralBundle: Sendable, Equatable {
  public static let formatVersion = 2

  /// What the bundle holds, such as `drr`.
  public var kind: String
  /// The model's configuration as JSON text (the model type encodes and decodes it).
  public var configuration: String
  public var networks: [String: Network]
  /// Other named float tensors (embeddings, normalisers), each with its shape.
  public var tensors: [String: (shape: [Int], values: [Float])]
  /// Where the model came from (data file, split, seed…), kept in the manifest.
  public var provenance: [String: String] = [:]

  public init(
    kind: String, configuration: String, networks: [String: Network],
    tensors: [String: (shape: [Int], values: [Float])] = [:]
  ) {
    self.kind = kind
    self.configuration = configuration
    self.networks = networks
    self.tensors = tensors
  }

  public static func == (a: NeuralBundle, b: NeuralBundle) -> Bool {
    a.kind == b.kind && a.configuration == b.configuration && a.networks == b.networks && a.provenance == b.provenance
      && a.tensors.keys.sorted() == b.tensors.keys.sorted()
      && a.tensors.allSatisfy { key, value in
        b.tensors[key].map { $0.shape == value.shape && $0.values == value.values } ?? false
      }
  }

  struct Manifest: Codable {
    var format: String
    var formatVersion: Int
    var kind: String
    var createdAt: String
    var configuration: String
    var networks: [String: [Layer]]
    var sha256: [String: String]
    var provenance: [String: String]?
  }

  public func encoded(createdAt: Date = Date()) throws(BundleError) -> [UInt8] {
    var list: [Tensor] = []
    for name in networks.keys.sorted() {
      guard let network = networks[name] else { continue }
      for (slot, values) in network.parameters.enumerated() {
        list.append(Tensor(name: "\(name).\(slot)", values: values, shape: [values.count]))
      }
    }
    for name in tensors.keys.sorted() {
      guard let tensor = tensors[name] else { continue }
      list.append(Tensor(name: name, values: tensor.values, shape: tensor.shape))
    }
    let manifest = Manifest(
      format: "affinity-model", formatVersion: Self.formatVersion, kind: kind,
      createdAt: ISO8601DateFormatter().string(from: createdAt), configuration: configuration,
      networks: networks.mapValues(\.layers),
      sha256: Dictionary(list.map { ($0.name, SHA256.hex($0.bytes)) }, uniquingKeysWith: { a, _ in a }),
      provenance: provenance.isEmpty ? nil : provenance)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
      let text = String(decoding: try encoder.encode(manifest), as: UTF8.self)
      return try SafetensorsFile(metadata: ["affinity": text], tensors: list).encoded()
    } catch let error as BundleError {
      throw error
    } catch {
      throw .writeFailed(file: "", reason: "the \(kind) manifest does not encode: \(error)")
    }
  }

  /// Writes the bundle atomically (temporary file, fsync, rename).
  public func write(to path: String) throws(BundleError) {
    let bytes = try encoded()
    try AtomicFile.write(Data(bytes), to: path)
  }

  public static func read(from path: String) throws(BundleError) -> NeuralBundle {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw .unreadable(file: path, reason: error.localizedDescription)
    }
    return try decode([UInt8](data), file: path)
  }

  /// Checks layout, manifest, version and every tensor's SHA-256, then each network's shapes.
  public static func decode(_ bytes: [UInt8], file: String) throws(BundleError) -> NeuralBundle {
    let safetensors = try SafetensorsFile(reading: bytes, file: file)
    guard let text = safetensors.metadata["affinity"] else {
      throw .corrupted(file: file, reason: "a safetensors file without an Affinity manifest (__metadata__.affinity)")
    }
    let manifest: Manifest
    do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(text.utf8)) } catch {
      throw .corrupted(file: file, reason: "the manifest does not decode as a neural bundle: \(error)")
    }
    guard manifest.formatVersion <= formatVersion else {
      throw .unsupportedFormatVersion(found: manifest.formatVersion, supported: 2...formatVersion, file: file)
    }
    var byName: [String: Tensor] = [:]
    for tensor in safetensors.tensors {
      guard let expected = manifest.sha256[tensor.name] else {
        throw .corrupted(file: file, reason: "tensor '\(tensor.name)' has no SHA-256 in the manifest")
      }
      guard SHA256.hex(tensor.bytes) == expected else { throw .checksumMismatch(file: file, tensor: tensor.name) }
      guard tensor.dtype == .f32 else { throw .corrupted(file: file, reason: "tensor '\(tensor.name)' is not F32") }
      byName[tensor.name] = tensor
    }
    func floats(_ tensor: Tensor) -> [Float] { Float.values(fromLittleEndian: tensor.bytes[...]) }
    var networks: [String: Network] = [:]
    var used = Set<String>()
    for (name, layers) in manifest.networks {
      let slots = layers.reduce(0) { $0 + $1.parameterSlots }
      var parameters: [[Float]] = []
      for slot in 0..<slots {
        guard let tensor = byName["\(name).\(slot)"] else {
          throw .corrupted(file: file, reason: "network '\(name)' lacks parameter tensor \(slot)")
        }
        used.insert(tensor.name)
        parameters.append(floats(tensor))
      }
      do { networks[name] = try Network(layers: layers, parameters: parameters) } catch {
        throw .corrupted(file: file, reason: "network '\(name)': \(error)")
      }
    }
    var tensors: [String: (shape: [Int], values: [Float])] = [:]
    for (name, tensor) in byName where !used.contains(name) { tensors[name] = (tensor.shape, floats(tensor)) }
    var bundle = NeuralBundle(kind: manifest.kind, configuration: manifest.configuration, networks: networks, tensors: tensors)
    bundle.provenance = manifest.provenance ?? [:]
    return bundle
  }
}

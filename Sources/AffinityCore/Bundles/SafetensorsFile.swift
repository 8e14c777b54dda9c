public import AffinityLinalg
import Foundation

/// Tensors in the safetensors layout, which the Python `safetensors` package reads.
///
/// Layout: an 8-byte little-endian header length `N`, then `N` bytes of UTF-8 JSON (padded with
/// spaces so the data starts on an 8-byte boundary), then the tensors' raw little-endian bytes
/// back to back. The header maps each tensor name to
/// `{"dtype": "F32", "shape": [rows, columns], "data_offsets": [begin, end]}` (offsets relative to
/// the data) and holds string metadata under `"__metadata__"`.
public struct SafetensorsFile: Sendable, Equatable {
  public var metadata: [String: String]
  /// In file order.
  public var tensors: [Tensor]

  public init(metadata: [String: String], tensors: [Tensor]) {
    self.metadata = metadata
    self.tensors = tensors
  }

  struct Entry: Codable {
    let dtype: String
    let shape: [Int]
    let dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
      case dtype, shape
      case dataOffsets = "data_offsets"
    }
  }

  struct Key: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  static let metadataKey = "__metadata__"

  struct Header: Codable {
    var metadata: [String: String]
    var entries: [String: Entry]

    init(metadata: [String: String], entries: [String: Entry]) {
      self.metadata = metadata
      self.entries = entries
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: Key.self)
      try container.encode(metadata, forKey: Key(stringValue: SafetensorsFile.metadataKey))
      for (name, entry) in entries { try container.encode(entry, forKey: Key(stringValue: name)) }
    }

    init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: Key.self)
      metadata = [:]
      entries = [:]
      for key in container.allKeys {
        if key.stringValue == SafetensorsFile.metadataKey {
          metadata = try container.decode([String: String].self, forKey: key)
        } else {
          entries[key.stringValue] = try container.decode(Entry.self, forKey: key)
        }
      }
    }
  }

  /// The file's bytes.
  public func encoded() throws(BundleError) -> [UInt8] {
    var entries: [String: Entry] = [:]
    var offset = 0
    for tensor in tensors {
      entries[tensor.name] = Entry(
        dtype: tensor.dtype.rawValue, shape: tensor.shape, dataOffsets: [offset, offset + tensor.bytes.count])
      offset += tensor.bytes.count
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var header: [UInt8]
    do { header = Array(try encoder.encode(Header(metadata: metadata, entries: entries))) } catch {
      throw .writeFailed(file: "", reason: "the safetensors header does not encode: \(error)")
    }
    while (8 + header.count) % 8 != 0 { header.append(0x20) }
    var bytes = [UInt8]()
    bytes.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: header)
    for tensor in tensors { bytes.append(contentsOf: tensor.bytes) }
    return bytes
  }

  /// Parses and checks the layout of `bytes`, read from `file` (for messages).
  ///
  /// Refuses a file shorter than its header says, a header that is not JSON, an unknown dtype,
  /// a shape that does not match its byte range, and a byte range past the end of the data.
  public init(reading bytes: [UInt8], file: String) throws(BundleError) {
    guard bytes.count >= 8 else {
      throw .truncated(file: file, reason: "it has \(bytes.count) bytes, fewer than the 8-byte header length")
    }
    let length = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard length <= UInt64(bytes.count - 8) else {
      throw .truncated(file: file, reason: "the header claims \(length) bytes but only \(bytes.count - 8) follow")
    }
    let dataStart = 8 + Int(length)
    let header: Header
    do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<dataStart])) } catch {
      throw .corrupted(file: file, reason: "the safetensors header is not valid JSON")
    }
    let dataCount = bytes.count - dataStart
    var tensors: [Tensor] = []
    for (name, entry) in header.entries.sorted(by: { ($0.value.dataOffsets.first ?? 0, $0.key) < ($1.value.dataOffsets.first ?? 0, $1.key) }) {
      guard let dtype = TensorDType(rawValue: entry.dtype) else {
        throw .corrupted(file: file, reason: "tensor '\(name)' has dtype '\(entry.dtype)', which Affinity does not read")
      }
      guard entry.dataOffsets.count == 2, entry.shape.allSatisfy({ $0 >= 0 }) else {
        throw .corrupted(file: file, reason: "tensor '\(name)' has a malformed shape or data_offsets")
      }
      let (begin, end) = (entry.dataOffsets[0], entry.dataOffsets[1])
      guard begin >= 0, begin <= end else {
        throw .corrupted(file: file, reason: "tensor '\(name)' has data_offsets [\(begin), \(end)]")
      }
      guard end <= dataCount else {
        throw .truncated(
          file: file, reason: "tensor '\(name)' ends at byte \(end) of the data but only \(dataCount) bytes follow the header")
      }
      let (count, overflow) = entry.shape.reduce((1, false)) { partial, dimension in
        let (product, flag) = partial.0.multipliedReportingOverflow(by: dimension)
        return (product, partial.1 || flag)
      }
      guard !overflow, count * dtype.size == end - begin else {
        throw .corrupted(
          file: file,
          reason: "tensor '\(name)' of shape \(entry.shape) needs \(count * dtype.size) bytes but spans \(end - begin)")
      }
      tensors.append(
        Tensor(name: name, dtype: dtype, shape: entry.shape, bytes: Array(bytes[(dataStart + begin)..<(dataStart + end)])))
    }
    self.init(metadata: header.metadata, tensors: tensors)
  }
}

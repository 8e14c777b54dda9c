import Synchronization

/// The element types a tensor can hold, named as the safetensors format names them.
public enum TensorDType: String, Sendable, Codable, CaseIterable {
  case f32 = "F32"
  case f64 = "F64"
  case i32 = "I32"
  case i64 = "I64"

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .f32, .i32: 4
    case .f64, .i64: 8
    }
  }
}

/// A number type that can be stored in a tensor as little-endian bytes.
public protocol TensorElement: Sendable, Codable {
  static var dtype: TensorDType { get }
  /// Appends the little-endian bytes of `values` to `bytes`.
  static func append(_ values: [Self], to bytes: inout [UInt8])
  /// Reads `count` values from little-endian `bytes`; `bytes.count` is `count · dtype.size`.
  static func values(fromLittleEndian bytes: ArraySlice<UInt8>) -> [Self]
}

extension TensorElement {
  static func appendBits<Bits: FixedWidthInteger>(_ values: [Self], _ bits: (Self) -> Bits, to bytes: inout [UInt8]) {
    bytes.reserveCapacity(bytes.count + values.count * MemoryLayout<Bits>.size)
    for value in values {
      withUnsafeBytes(of: bits(value).littleEndian) { bytes.append(contentsOf: $0) }
    }
  }

  static func readBits<Bits: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, _ make: (Bits) -> Self) -> [Self] {
    let size = MemoryLayout<Bits>.size
    let count = bytes.count / size
    return bytes.withUnsafeBytes { raw in
      (0..<count).map { k in make(Bits(littleEndian: raw.loadUnaligned(fromByteOffset: k * size, as: Bits.self))) }
    }
  }
}

extension Float: TensorElement {
  public static var dtype: TensorDType { .f32 }
  public static func append(_ values: [Float], to bytes: inout [UInt8]) { appendBits(values, \.bitPattern, to: &bytes) }
  public static func values(fromLittleEndian bytes: ArraySlice<UInt8>) -> [Float] {
    readBits(bytes) { (bits: UInt32) in Float(bitPattern: bits) }
  }
}

extension Double: TensorElement {
  public static var dtype: TensorDType { .f64 }
  public static func append(_ values: [Double], to bytes: inout [UInt8]) { appendBits(values, \.bitPattern, to: &bytes) }
  public static func values(fromLittleEndian bytes: ArraySlice<UInt8>) -> [Double] {
    readBits(bytes) { (bits: UInt64) in Double(bitPattern: bits) }
  }
}

extension Int32: TensorElement {
  public static var dtype: TensorDType { .i32 }
  public static func append(_ values: [Int32], to bytes: inout [UInt8]) { appendBits(values, { $0 }, to: &bytes) }
  public static func values(fromLittleEndian bytes: ArraySlice<UInt8>) -> [Int32] { readBits(bytes) { (v: Int32) in v } }
}

extension Int: TensorElement {
  /// `Int` is stored as 64 bits on every platform.
  public static var dtype: TensorDType { .i64 }
  public static func append(_ values: [Int], to bytes: inout [UInt8]) { appendBits(values, { Int64($0) }, to: &bytes) }
  public static func values(fromLittleEndian bytes: ArraySlice<UInt8>) -> [Int] {
    readBits(bytes) { (v: Int64) in Int(truncatingIfNeeded: v) }
  }
}

/// One named array of numbers with a shape, its data as little-endian bytes.
public struct Tensor: Sendable, Equatable {
  public let name: String
  public let dtype: TensorDType
  public let shape: [Int]
  public let bytes: [UInt8]

  public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.bytes = bytes
  }

  public init<Element: TensorElement>(name: String, values: [Element], shape: [Int]) {
    var bytes: [UInt8] = []
    Element.append(values, to: &bytes)
    self.init(name: name, dtype: Element.dtype, shape: shape, bytes: bytes)
  }

  /// Number of elements the shape implies.
  public var elementCount: Int { shape.reduce(1, *) }
}

/// Collects the large arrays of a model while it is encoded, so they can be written as raw
/// tensors instead of JSON numbers.
///
/// Put one in `JSONEncoder.userInfo[.tensorSink]`: ``DenseMatrix``, ``SparseRowMatrix`` and
/// ``TensorArray`` then encode `{"tensor": name}` references and hand their values here. Each
/// tensor is named by its coding path (`model.userFactors`), made unique if needed.
public final class TensorSink: Sendable {
  private let state = Mutex<(tensors: [Tensor], names: Set<String>)>(([], []))

  public init() {}

  /// Stores `values` under a name derived from `codingPath` and returns that name.
  public func add<Element: TensorElement>(_ values: [Element], shape: [Int], at codingPath: [any CodingKey]) -> String {
    let base = codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    return state.withLock { state in
      var name = base.isEmpty ? "tensor" : base
      var suffix = 2
      while state.names.contains(name) {
        name = "\(base)#\(suffix)"
        suffix += 1
      }
      state.names.insert(name)
      state.tensors.append(Tensor(name: name, values: values, shape: shape))
      return name
    }
  }

  /// The tensors added so far, in the order they were added.
  public var tensors: [Tensor] { state.withLock { $0.tensors } }
}

/// The tensors of a bundle being decoded; the counterpart of ``TensorSink``.
public final class TensorSource: Sendable {
  public let tensors: [String: Tensor]

  public init(_ tensors: [Tensor]) {
    self.tensors = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
  }

  /// The values of tensor `name`, checked for element type and count.
  public func values<Element: TensorElement>(
    named name: String, as type: Element.Type = Element.self, codingPath: [any CodingKey]
  ) throws -> (values: [Element], shape: [Int]) {
    guard let tensor = tensors[name] else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: codingPath, debugDescription: "the bundle has no tensor named '\(name)'"))
    }
    guard tensor.dtype == Element.dtype, tensor.bytes.count == tensor.elementCount * Element.dtype.size else {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: codingPath,
          debugDescription: "tensor '\(name)' is \(tensor.dtype.rawValue) \(tensor.shape); expected \(Element.dtype.rawValue)"))
    }
    return (Element.values(fromLittleEndian: tensor.bytes[...]), tensor.shape)
  }
}

extension CodingUserInfoKey {
  /// A ``TensorSink`` that receives large arrays while encoding.
  public static let tensorSink = CodingUserInfoKey.named("affinity.tensorSink")
  /// A ``TensorSource`` that resolves tensor references while decoding.
  public static let tensorSource = CodingUserInfoKey.named("affinity.tensorSource")

  /// A key from a constant name (the initializer fails only for names it cannot hold).
  package static func named(_ name: String) -> CodingUserInfoKey {
    guard let key = CodingUserInfoKey(rawValue: name) else { preconditionFailure("invalid userInfo key '\(name)'") }
    return key
  }
}

/// `{"tensor": "model.userFactors"}`: where a large array went.
public struct TensorReference: Codable, Sendable, Equatable {
  public let tensor: String
  public init(tensor: String) { self.tensor = tensor }
}

/// An array that encodes as a tensor reference when a ``TensorSink`` is present, and as a plain
/// JSON array otherwise; decoding accepts both.
public struct TensorArray<Element: TensorElement>: Codable, Sendable {
  public var values: [Element]
  /// The shape recorded in the tensor; `nil` means one dimension of `values.count`.
  public var shape: [Int]?

  public init(_ values: [Element], shape: [Int]? = nil) {
    self.values = values
    self.shape = shape
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    if let sink = encoder.userInfo[.tensorSink] as? TensorSink {
      try container.encode(
        TensorReference(tensor: sink.add(values, shape: shape ?? [values.count], at: encoder.codingPath)))
    } else {
      try container.encode(values)
    }
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let source = decoder.userInfo[.tensorSource] as? TensorSource,
      let reference = try? container.decode(TensorReference.self)
    {
      (values, shape) = try source.values(named: reference.tensor, codingPath: decoder.codingPath)
    } else {
      values = try container.decode([Element].self)
      shape = nil
    }
  }
}

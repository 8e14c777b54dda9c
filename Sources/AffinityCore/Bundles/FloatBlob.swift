import AffinityLinalg
import Foundation

/// A `[Float]` that encodes as base64 of little-endian `Float32` bits.
///
/// Values round-trip bit for bit, JSON stays compact, and decoding runs no code from the file.
/// With a ``TensorSink`` in the encoder's `userInfo` (a model bundle), the values go to a tensor
/// instead and the JSON holds `{"tensor": name}`.
public struct FloatBlob: Sendable, Equatable, Codable {
  public var values: [Float]

  public init(_ values: [Float]) { self.values = values }

  public init(from decoder: any Decoder) throws {
    if decoder.userInfo[.tensorSource] is TensorSource,
      (try? decoder.singleValueContainer().decode(TensorReference.self)) != nil
    {
      values = try TensorArray<Float>(from: decoder).values
      return
    }
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let data = Data(base64Encoded: text), data.count % 4 == 0 else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "not base64 of Float32 values"))
    }
    var values = [Float](repeating: 0, count: data.count / 4)
    data.withUnsafeBytes { raw in
      for k in values.indices {
        values[k] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: k * 4, as: UInt32.self)))
      }
    }
    self.values = values
  }

  public func encode(to encoder: any Encoder) throws {
    if encoder.userInfo[.tensorSink] is TensorSink { return try TensorArray(values).encode(to: encoder) }
    var data = Data(count: values.count * 4)
    data.withUnsafeMutableBytes { raw in
      for (k, v) in values.enumerated() {
        raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: k * 4, as: UInt32.self)
      }
    }
    var container = encoder.singleValueContainer()
    try container.encode(data.base64EncodedString())
  }
}

/// A `[Int32]` that encodes as base64 of little-endian bits.
public struct Int32Blob: Sendable, Equatable, Codable {
  public var values: [Int32]

  public init(_ values: [Int32]) { self.values = values }

  public init(from decoder: any Decoder) throws {
    if decoder.userInfo[.tensorSource] is TensorSource,
      (try? decoder.singleValueContainer().decode(TensorReference.self)) != nil
    {
      values = try TensorArray<Int32>(from: decoder).values
      return
    }
    let floats = try FloatBlob(from: decoder)
    values = floats.values.map { Int32(bitPattern: $0.bitPattern) }
  }

  public func encode(to encoder: any Encoder) throws {
    if encoder.userInfo[.tensorSink] is TensorSink { return try TensorArray(values).encode(to: encoder) }
    try FloatBlob(values.map { Float(bitPattern: UInt32(bitPattern: $0)) }).encode(to: encoder)
  }
}

import AffinityCore
import AffinityLinalg
import Foundation
import Testing

@Suite("SHA-256")
struct SHA256Tests {
  @Test(arguments: [
    ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    ),
  ])
  func matchesTheFIPSVectors(message: String, digest: String) {
    #expect(SHA256.hex(Array(message.utf8)) == digest)
  }

  @Test func givesTheSameDigestWhateverTheChunks() {
    let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    var hasher = SHA256()
    for chunk in stride(from: 0, to: bytes.count, by: 37) { hasher.update(Array(bytes[chunk..<min(chunk + 37, bytes.count)])) }
    // Python: hashlib.sha256(bytes((i * 31 + 7) & 255 for i in range(1000))).hexdigest()
    let digest = "5097e7d587352f5097062ae679f37bda5802d9f875aba14c8cb4d1a188ada179"
    #expect(SHA256.hex(bytes) == digest)
    #expect(hasher.finalize().map { String(format: "%02x", $0) }.joined() == digest)
  }
}

@Suite("Safetensors layout")
struct SafetensorsLayoutTests {
  let file = SafetensorsFile(
    metadata: ["affinity": "{}"],
    tensors: [
      Tensor(name: "a", values: [Float(1.5), -2, 0.25, 8], shape: [2, 2]),
      Tensor(name: "b", values: [Int32(-1), 7, 9], shape: [3]),
      Tensor(name: "c", values: [Int](), shape: [0]),
    ])

  @Test func writesTheHeaderLengthTheJSONAndTheLittleEndianData() throws {
    let bytes = try file.encoded()
    let length = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
    #expect((8 + length) % 8 == 0, "the data starts on an 8-byte boundary")
    #expect(bytes.count == 8 + length + 16 + 12)
    let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
    #expect(header.contains(#""a":{"data_offsets":[0,16],"dtype":"F32","shape":[2,2]}"#))
    #expect(header.contains(#""b":{"data_offsets":[16,28],"dtype":"I32","shape":[3]}"#))
    #expect(Array(bytes[(8 + length)..<(8 + length + 4)]) == [0x00, 0x00, 0xC0, 0x3F], "1.5 as little-endian F32")
    #expect(try SafetensorsFile(reading: bytes, file: "t") == file)
  }

  @Test func refusesAShapeThatDoesNotMatchItsBytes() throws {
    var bad = file
    bad.tensors[1] = Tensor(name: "b", dtype: .i32, shape: [4], bytes: bad.tensors[1].bytes)
    #expect(
      throws: BundleError.corrupted(file: "t", reason: "tensor 'b' of shape [4] needs 16 bytes but spans 12")
    ) { _ = try SafetensorsFile(reading: try bad.encoded(), file: "t") }
  }

  @Test func dataRoundTripsThroughTensorCoding() throws {
    let matrix = DenseMatrix(rows: 3, columns: 5) { r, c in Float(r * 10 + c) }
    let sink = TensorSink()
    let encoder = JSONEncoder()
    encoder.userInfo = [.tensorSink: sink]
    let json = try encoder.encode(["m": matrix])
    #expect(String(decoding: json, as: UTF8.self).contains(#""tensor":"m""#))
    #expect(sink.tensors.map(\.shape) == [[3, 5]], "stored without the row padding")
    let decoder = JSONDecoder()
    decoder.userInfo = [.tensorSource: TensorSource(sink.tensors)]
    #expect(try decoder.decode([String: DenseMatrix].self, from: json)["m"] == matrix)
    #expect(try JSONDecoder().decode(DenseMatrix.self, from: JSONEncoder().encode(matrix)) == matrix, "plain JSON still works")
  }
}

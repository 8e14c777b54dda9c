import Foundation

/// A text file read once into memory and split into lines and fields without copying.
///
/// Lines end with `\n` (a trailing `\r` is dropped). Fields are split on one separator byte, or
/// on runs of spaces and tabs when the separator is ``Separator/whitespace``.
public struct DelimitedText: Sendable {
  public enum Separator: Sendable, Equatable {
    case byte(UInt8)
    case whitespace

    /// A short name for messages.
    public var name: String {
      switch self {
      case .whitespace: "whitespace"
      case .byte(UInt8(ascii: "\t")): "tab"
      case .byte(UInt8(ascii: ",")): "comma"
      case .byte(UInt8(ascii: "|")): "'|'"
      case .byte(UInt8(ascii: ";")): "';'"
      case .byte(let b): "'\(Character(Unicode.Scalar(b)))'"
      }
    }
  }

  public let path: String
  public let bytes: [UInt8]

  /// Reads the whole file at `path`.
  public init(path: String) throws(DataError) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw .unreadable(file: path, reason: "no such file; check the path")
    }
    // Read straight into the byte array: going through `Data` would hold the file twice.
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw .unreadable(file: path, reason: String(cString: strerror(errno)))
    }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0 else {
      throw .unreadable(file: path, reason: String(cString: strerror(errno)))
    }
    let size = Int(status.st_size)
    var failure: String?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
      initialized = 0
      guard let base = buffer.baseAddress else { return }
      while initialized < size {
        let n = read(fd, base + initialized, size - initialized)
        if n < 0 {
          failure = String(cString: strerror(errno))
          return
        }
        if n == 0 { break }
        initialized += n
      }
    }
    if let failure { throw .unreadable(file: path, reason: failure) }
    self.path = path
    self.bytes = bytes
  }

  /// Text given in memory, for tests and stdin.
  public init(path: String, text: String) {
    self.path = path
    self.bytes = Array(text.utf8)
  }

  /// Calls `body(lineNumber, lineBytes)` for every non-blank line; line numbers start at 1.
  public func forEachLine(_ body: (Int, ArraySlice<UInt8>) throws(DataError) -> Void)
    throws(DataError)
  {
    var start = 0
    var lineNumber = 0
    let n = bytes.count
    while start < n {
      var end = start
      while end < n && bytes[end] != 10 { end += 1 }
      lineNumber += 1
      var stop = end
      if stop > start && bytes[stop - 1] == 13 { stop -= 1 }
      let line = bytes[start..<stop]
      if !DelimitedText.isBlank(line) { try body(lineNumber, line) }
      start = end + 1
    }
  }

  /// Number of lines (newline characters, plus a last line without one).
  public var lineCount: Int {
    var count = 0
    bytes.withUnsafeBufferPointer { buffer in
      for b in buffer where b == 10 { count += 1 }
    }
    return count + (bytes.last.map { $0 == 10 ? 0 : 1 } ?? 0)
  }

  /// The first non-blank line, if any.
  public var firstLine: ArraySlice<UInt8>? {
    var found: ArraySlice<UInt8>?
    try? forEachLineUntilFirst { found = $0 }
    return found
  }

  private func forEachLineUntilFirst(_ body: (ArraySlice<UInt8>) -> Void) throws {
    var start = 0
    while start < bytes.count {
      var end = start
      while end < bytes.count && bytes[end] != 10 { end += 1 }
      var stop = end
      if stop > start && bytes[stop - 1] == 13 { stop -= 1 }
      let line = bytes[start..<stop]
      if !DelimitedText.isBlank(line) {
        body(line)
        return
      }
      start = end + 1
    }
  }

  static func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
    line.allSatisfy { $0 == 32 || $0 == 9 || $0 == 13 }
  }

  /// Splits `line` into field ranges.
  public static func fields(of line: ArraySlice<UInt8>, separator: Separator) -> [Range<Int>] {
    var result: [Range<Int>] = []
    result.reserveCapacity(8)
    switch separator {
    case .byte(let sep):
      var start = line.startIndex
      var k = line.startIndex
      while k < line.endIndex {
        if line[k] == sep {
          result.append(start..<k)
          start = k + 1
        }
        k += 1
      }
      result.append(start..<line.endIndex)
    case .whitespace:
      var k = line.startIndex
      while k < line.endIndex {
        while k < line.endIndex && (line[k] == 32 || line[k] == 9) { k += 1 }
        if k == line.endIndex { break }
        let start = k
        while k < line.endIndex && line[k] != 32 && line[k] != 9 { k += 1 }
        result.append(start..<k)
      }
    }
    return result
  }

  /// Guesses the separator from a line: tab, then comma, then '|', then ';', else whitespace.
  public static func guessSeparator(_ line: ArraySlice<UInt8>) -> Separator {
    for candidate in [UInt8(ascii: "\t"), UInt8(ascii: ","), UInt8(ascii: "|"), UInt8(ascii: ";")]
    where line.contains(candidate) {
      return .byte(candidate)
    }
    return .whitespace
  }

  /// The text of a field, trimmed of spaces.
  public func string(_ range: Range<Int>) -> String {
    var lo = range.lowerBound
    var hi = range.upperBound
    while lo < hi && bytes[lo] == 32 { lo += 1 }
    while hi > lo && bytes[hi - 1] == 32 { hi -= 1 }
    return String(decoding: bytes[lo..<hi], as: UTF8.self)
  }

  /// Parses a decimal number (`-3`, `4.5`, `1e3`) without allocating; nil when it is not one.
  public func number(_ range: Range<Int>) -> Double? {
    var k = range.lowerBound
    var end = range.upperBound
    while k < end && bytes[k] == 32 { k += 1 }
    while end > k && bytes[end - 1] == 32 { end -= 1 }
    guard k < end else { return nil }
    var negative = false
    if bytes[k] == UInt8(ascii: "-") || bytes[k] == UInt8(ascii: "+") {
      negative = bytes[k] == UInt8(ascii: "-")
      k += 1
    }
    var mantissa: Double = 0
    var digits = 0
    while k < end, bytes[k] >= 48, bytes[k] <= 57 {
      mantissa = mantissa * 10 + Double(bytes[k] - 48)
      digits += 1
      k += 1
    }
    var scale: Double = 1
    if k < end, bytes[k] == UInt8(ascii: ".") {
      k += 1
      while k < end, bytes[k] >= 48, bytes[k] <= 57 {
        mantissa = mantissa * 10 + Double(bytes[k] - 48)
        scale *= 10
        digits += 1
        k += 1
      }
    }
    guard digits > 0 else { return nil }
    var value = mantissa / scale
    if k < end, bytes[k] == UInt8(ascii: "e") || bytes[k] == UInt8(ascii: "E") {
      // Rare in rating files: hand the exponent form to the standard parser.
      return Double(string(range))
    }
    guard k == end else { return nil }
    if negative { value = -value }
    return value
  }
}

/// Reads interaction files: GroupLens `u.data`, RecBole `.inter`, and CSV/TSV with a header.
///
/// ```swift
/// let data = try InteractionReader().read("ml-100k.inter")   // format detected
/// ```
///
/// Every problem is a ``DataError`` that names the file, line and field, the value found and
/// what to do; nothing traps on bad input.
public struct InteractionReader: Sendable {
  /// The layout of an interaction file.
  public enum Format: String, Sendable, CaseIterable, Codable {
    /// Decide from the first line: RecBole typed header, a named header, or no header.
    case auto
    /// No header; `user item rating [timestamp]` split on tabs or spaces (GroupLens `u.data`).
    case headerless
    /// RecBole atomic file: a `name:type` header, tab-separated.
    case recbole
    /// A header row with column names; the separator is guessed (tab, comma, '|', ';').
    case csv
  }

  /// Column names for files with a header; `nil` means "detect from common names".
  public struct Columns: Sendable, Equatable {
    public var user: String?
    public var item: String?
    public var rating: String?
    public var timestamp: String?

    public init(user: String? = nil, item: String? = nil, rating: String? = nil, timestamp: String? = nil) {
      self.user = user
      self.item = item
      self.rating = rating
      self.timestamp = timestamp
    }
  }

  public var format: Format
  public var columns: Columns
  /// The value given to every row when the file has no rating column (implicit feedback).
  public var defaultValue: Float

  public init(format: Format = .auto, columns: Columns = Columns(), defaultValue: Float = 1) {
    self.format = format
    self.columns = columns
    self.defaultValue = defaultValue
  }

  /// Reads `path` into ``InteractionData``.
  public func read(_ path: String) throws(DataError) -> InteractionData {
    // Parse in a scope of its own so the file's bytes are freed before the CSR is built.
    var builder: InteractionData.Builder
    do {
      let text = try DelimitedText(path: path)
      builder = try parse(text)
    }
    return try builder.build()
  }

  /// Reads text already in memory.
  public func read(_ text: DelimitedText) throws(DataError) -> InteractionData {
    try parse(text).build()
  }

  func parse(_ text: DelimitedText) throws(DataError) -> InteractionData.Builder {
    guard let first = text.firstLine else { throw .empty(source: text.path) }
    let resolved = format == .auto ? InteractionReader.detect(first: first, in: text) : format
    var separator = DelimitedText.guessSeparator(first)
    var layout: Layout
    var hasHeader = true
    switch resolved {
    case .headerless, .auto:
      hasHeader = false
      if case .byte(let b) = separator, b != UInt8(ascii: "\t") && b != UInt8(ascii: ",") {
        separator = .whitespace
      }
      // The first row fixes the layout: 2 fields = implicit, 3 = ratings, 4+ = with times.
      let width = min(DelimitedText.fields(of: first, separator: separator).count, 4)
      layout = Layout(
        user: 0, item: 1, rating: width >= 3 ? 2 : nil, timestamp: width >= 4 ? 3 : nil,
        minimumFields: max(width, 2), names: nil)
    case .recbole:
      separator = .byte(UInt8(ascii: "\t"))
      layout = try headerLayout(first, text: text, separator: separator, recbole: true)
    case .csv:
      layout = try headerLayout(first, text: text, separator: separator, recbole: false)
    }

    var builder = InteractionData.Builder(source: text.path)
    // Reserve exactly: a growth doubling at 5M rows would hold ~190 MB of spare capacity.
    builder.reserve(text.lineCount)
    var skippedHeader = !hasHeader
    var userCache: [ArraySlice<UInt8>: UserID] = [:]
    var itemCache: [ArraySlice<UInt8>: ItemID] = [:]
    let fix =
      hasHeader
      ? "every row needs the columns named in the header"
      : "rows need 'user item rating [timestamp]' separated by \(separator.name)"
    try text.forEachLine { (lineNumber, line) throws(DataError) in
      if !skippedHeader {
        skippedHeader = true
        return
      }
      let fields = DelimitedText.fields(of: line, separator: separator)
      guard fields.count >= layout.minimumFields else {
        throw .shortRow(
          SourceLocation(file: text.path, line: lineNumber), expected: layout.minimumFields,
          found: fields.count, fix: fix)
      }
      let userBytes = text.bytes[fields[layout.user]]
      let itemBytes = text.bytes[fields[layout.item]]
      if userBytes.isEmpty || itemBytes.isEmpty {
        throw .invalidValue(
          SourceLocation(
            file: text.path, line: lineNumber,
            field: layout.fieldName(userBytes.isEmpty ? layout.user : layout.item)),
          value: "", expected: "a non-empty id")
      }
      let user = userCache[userBytes] ?? cache(&userCache, userBytes, UserID(text.string(fields[layout.user])))
      let item = itemCache[itemBytes] ?? cache(&itemCache, itemBytes, ItemID(text.string(fields[layout.item])))
      var value = defaultValue
      if let r = layout.rating, r < fields.count {
        guard let parsed = text.number(fields[r]), parsed.isFinite else {
          throw .invalidValue(
            SourceLocation(file: text.path, line: lineNumber, field: layout.fieldName(r)),
            value: text.string(fields[r]), expected: "a number")
        }
        value = Float(parsed)
      } else if layout.rating != nil && hasHeader {
        throw .shortRow(
          SourceLocation(file: text.path, line: lineNumber), expected: layout.minimumFields,
          found: fields.count, fix: fix)
      }
      var timestamp: Int64 = 0
      if let t = layout.timestamp, t < fields.count {
        guard let parsed = text.number(fields[t]), parsed.isFinite, abs(parsed) < 9e18 else {
          throw .invalidValue(
            SourceLocation(file: text.path, line: lineNumber, field: layout.fieldName(t)),
            value: text.string(fields[t]), expected: "a number of seconds")
        }
        timestamp = Int64(parsed)
      }
      builder.append(user: user, item: item, value: value, timestamp: timestamp)
    }
    guard builder.count > 0 else { throw .empty(source: text.path) }
    return builder
  }

  private func cache<ID>(_ cache: inout [ArraySlice<UInt8>: ID], _ key: ArraySlice<UInt8>, _ id: ID) -> ID {
    cache[key] = id
    return id
  }

  struct Layout {
    var user: Int
    var item: Int
    var rating: Int?
    var timestamp: Int?
    var minimumFields: Int
    var names: [String]?

    func fieldName(_ index: Int) -> String {
      if let names, index < names.count { return names[index] }
      return ["user", "item", "rating", "timestamp"].indices.contains(index)
        ? ["user", "item", "rating", "timestamp"][index] : "field \(index + 1)"
    }
  }

  static let userNames = ["user_id", "user", "userid", "uid", "customer_id", "visitor_id"]
  static let itemNames = ["item_id", "item", "itemid", "movie_id", "movieid", "product_id", "iid"]
  static let ratingNames = ["rating", "score", "value", "weight", "count", "playcount"]

  /// Decides the format from the first line.
  static func detect(first: ArraySlice<UInt8>, in text: DelimitedText) -> Format {
    let separator = DelimitedText.guessSeparator(first)
    let fields = DelimitedText.fields(of: first, separator: separator).map { text.string($0) }
    if fields.contains(where: { $0.contains(":") }) && separator == .byte(UInt8(ascii: "\t")) {
      return .recbole
    }
    // A header names a known column, or has a non-numeric third (rating) field.
    let known = Set(InteractionReader.userNames + InteractionReader.itemNames + InteractionReader.ratingNames)
    if fields.contains(where: { known.contains($0.lowercased()) }) { return .csv }
    return fields.count >= 3 && Double(fields[2]) == nil ? .csv : .headerless
  }

  private func headerLayout(
    _ first: ArraySlice<UInt8>, text: DelimitedText, separator: DelimitedText.Separator,
    recbole: Bool
  ) throws(DataError) -> Layout {
    let raw = DelimitedText.fields(of: first, separator: separator).map { text.string($0) }
    // RecBole names columns `name:type`; match on the name.
    let names = raw.map { recbole ? String($0.split(separator: ":").first ?? "") : $0 }
    var seen = Set<String>()
    for name in raw where !seen.insert(name).inserted {
      throw .duplicateHeader(file: text.path, column: name)
    }
    func find(_ requested: String?, _ candidates: [String], required: Bool) throws(DataError) -> Int? {
      if let requested {
        if let k = names.firstIndex(of: requested) ?? raw.firstIndex(of: requested) { return k }
        throw .missingColumn(file: text.path, column: requested, available: raw)
      }
      for candidate in candidates {
        if let k = names.firstIndex(where: { $0.lowercased() == candidate }) { return k }
      }
      if required {
        throw .missingColumn(file: text.path, column: candidates[0], available: raw)
      }
      return nil
    }
    let user = try find(columns.user, InteractionReader.userNames, required: true)
    let item = try find(columns.item, InteractionReader.itemNames, required: true)
    let rating = try find(columns.rating, InteractionReader.ratingNames, required: false)
    let timestamp = try find(columns.timestamp, ["timestamp", "time", "ts", "datetime"], required: false)
    let needed = [user, item, rating].compactMap { $0 }.max() ?? 1
    return Layout(
      user: user ?? 0, item: item ?? 1, rating: rating, timestamp: timestamp,
      minimumFields: needed + 1, names: raw)
  }
}

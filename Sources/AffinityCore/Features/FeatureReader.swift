import Foundation

/// Reads user and item feature files: GroupLens `u.item` / `u.user`, RecBole `.item` / `.user`,
/// and CSV/TSV files with a header.
///
/// - GroupLens `u.item` (`id|title|release date|video date|IMDb URL|19 genre flags`) gives
///   `title` (text), `year` (numeric) and `genres` (multi-label).
/// - GroupLens `u.user` (`id|age|gender|occupation|zip`) gives `age` (numeric) and `gender`,
///   `occupation`, `zip` (categorical).
/// - RecBole types map as `token` → categorical (numeric for all-number columns named like an
///   age or a year), `token_seq` → multi-label (text for columns named like titles or
///   descriptions), `float` → numeric, `float_seq` → vector.
/// - A CSV's first column is the id; columns whose values all parse as numbers are numeric,
///   columns listed in `multiLabelColumns` are split on `|`, the rest are categorical.
public struct FeatureReader: Sendable {
  public enum Format: String, Sendable, CaseIterable, Codable {
    case auto
    case groupLensItems = "grouplens-items"
    case groupLensUsers = "grouplens-users"
    case recbole
    case csv
  }

  public var format: Format
  public var multiLabelColumns: Set<String>

  public init(format: Format = .auto, multiLabelColumns: Set<String> = ["genres", "genre", "tags", "categories"]) {
    self.format = format
    self.multiLabelColumns = multiLabelColumns
  }

  static let groupLensGenres = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
  ]

  /// Reads a feature file keyed by `ID`.
  public func read<ID: ExternalID>(_ path: String, as: ID.Type = ID.self) throws(DataError) -> FeatureTable<ID> {
    try read(DelimitedText(path: path))
  }

  /// Reads feature text already in memory.
  public func read<ID: ExternalID>(_ text: DelimitedText, as: ID.Type = ID.self) throws(DataError) -> FeatureTable<ID> {
    guard let first = text.firstLine else { throw .empty(source: text.path) }
    var resolved = format
    if resolved == .auto {
      let firstText = String(decoding: first, as: UTF8.self)
      let pipes = first.filter { $0 == UInt8(ascii: "|") }.count
      if firstText.contains(":token") || firstText.contains(":float") {
        resolved = .recbole
      } else if pipes >= 23 {
        resolved = .groupLensItems
      } else if pipes == 4 {
        resolved = .groupLensUsers
      } else {
        resolved = .csv
      }
    }
    switch resolved {
    case .groupLensItems: return try readGroupLensItems(text)
    case .groupLensUsers: return try readGroupLensUsers(text)
    case .recbole: return try readHeader(text, separator: .byte(UInt8(ascii: "\t")), recbole: true)
    case .csv, .auto: return try readHeader(text, separator: DelimitedText.guessSeparator(first), recbole: false)
    }
  }

  private func rows(_ text: DelimitedText, separator: DelimitedText.Separator, expected: Int, skipHeader: Bool, fix: String)
    throws(DataError) -> [(Int, [String])]
  {
    var rows: [(Int, [String])] = []
    var skipped = !skipHeader
    try text.forEachLine { (line, bytes) throws(DataError) in
      if !skipped {
        skipped = true
        return
      }
      let fields = DelimitedText.fields(of: bytes, separator: separator)
      guard fields.count >= expected else {
        throw .shortRow(SourceLocation(file: text.path, line: line), expected: expected, found: fields.count, fix: fix)
      }
      rows.append((line, fields.map { text.string($0) }))
    }
    guard !rows.isEmpty else { throw .empty(source: text.path) }
    return rows
  }

  private func ids<ID: ExternalID>(_ rows: [(Int, [String])], file: String, field: String) throws(DataError) -> IDVocabulary<ID> {
    var ids = IDVocabulary<ID>()
    for (line, fields) in rows {
      guard !fields[0].isEmpty else {
        throw .invalidValue(SourceLocation(file: file, line: line, field: field), value: "", expected: "a non-empty id")
      }
      let before = ids.count
      ids.insert(ID(fields[0]))
      if ids.count == before {
        throw .invalidValue(
          SourceLocation(file: file, line: line, field: field), value: fields[0],
          expected: "an id not seen on an earlier line (each id needs one row)")
      }
    }
    return ids
  }

  private func number(_ text: String, line: Int, file: String, field: String) throws(DataError) -> FeatureValue {
    if text.isEmpty { return .missing }
    guard let value = Double(text), value.isFinite else {
      throw .invalidValue(SourceLocation(file: file, line: line, field: field), value: text, expected: "a number")
    }
    return .number(value)
  }

  func readGroupLensItems<ID: ExternalID>(_ text: DelimitedText) throws(DataError) -> FeatureTable<ID> {
    let rows = try rows(
      text, separator: .byte(UInt8(ascii: "|")), expected: 24, skipHeader: false,
      fix: "u.item rows need id|title|release date|video date|url and 19 genre flags")
    let ids: IDVocabulary<ID> = try ids(rows, file: text.path, field: "movie id")
    var titles: [FeatureValue] = []
    var years: [FeatureValue] = []
    var genres: [FeatureValue] = []
    for (line, fields) in rows {
      titles.append(.text(fields[1]))
      // "01-Jan-1995" → 1995; empty dates are missing.
      let year = fields[2].split(separator: "-").last.flatMap { Double($0) }
      years.append(year.map { .number($0) } ?? .missing)
      var labels: [String] = []
      for (k, flag) in fields[5..<24].enumerated() {
        switch flag {
        case "1": labels.append(FeatureReader.groupLensGenres[k])
        case "0", "": break
        default:
          throw .invalidValue(
            SourceLocation(file: text.path, line: line, field: FeatureReader.groupLensGenres[k]), value: flag,
            expected: "0 or 1")
        }
      }
      genres.append(.labels(labels))
    }
    return try FeatureTable(
      ids: ids,
      columns: [
        .init(name: "title", kind: .text, values: titles), .init(name: "year", kind: .numeric, values: years),
        .init(name: "genres", kind: .multiLabel, values: genres),
      ], source: text.path)
  }

  func readGroupLensUsers<ID: ExternalID>(_ text: DelimitedText) throws(DataError) -> FeatureTable<ID> {
    let rows = try rows(
      text, separator: .byte(UInt8(ascii: "|")), expected: 5, skipHeader: false,
      fix: "u.user rows need id|age|gender|occupation|zip")
    let ids: IDVocabulary<ID> = try ids(rows, file: text.path, field: "user id")
    var ages: [FeatureValue] = []
    for (line, fields) in rows { ages.append(try number(fields[1], line: line, file: text.path, field: "age")) }
    return try FeatureTable(
      ids: ids,
      columns: [
        .init(name: "age", kind: .numeric, values: ages),
        .init(name: "gender", kind: .categorical, values: rows.map { .category($0.1[2]) }),
        .init(name: "occupation", kind: .categorical, values: rows.map { .category($0.1[3]) }),
        .init(name: "zip", kind: .categorical, values: rows.map { .category($0.1[4]) }),
      ], source: text.path)
  }

  func readHeader<ID: ExternalID>(_ text: DelimitedText, separator: DelimitedText.Separator, recbole: Bool)
    throws(DataError) -> FeatureTable<ID>
  {
    guard let first = text.firstLine else { throw .empty(source: text.path) }
    let header = DelimitedText.fields(of: first, separator: separator).map { text.string($0) }
    var seen = Set<String>()
    for name in header where !seen.insert(name).inserted { throw .duplicateHeader(file: text.path, column: name) }
    let names = header.map { recbole ? String($0.split(separator: ":").first ?? "") : $0 }
    let types = header.map { recbole ? String($0.split(separator: ":").dropFirst().first ?? "token") : "" }
    let rows = try rows(
      text, separator: separator, expected: header.count, skipHeader: true,
      fix: "every row needs the \(header.count) columns named in the header")
    let ids: IDVocabulary<ID> = try ids(rows, file: text.path, field: names[0])
    var columns: [FeatureTable<ID>.Column] = []
    for c in 1..<header.count {
      let name = names[c]
      let raw = rows.map { ($0.0, $0.1[c]) }
      let kind: FeatureTable<ID>.Kind
      if recbole {
        let textLike = ["title", "name", "desc", "description", "text", "summary"].contains { name.lowercased().contains($0) }
        switch types[c] {
        case "float": kind = .numeric
        case "float_seq": kind = .vector
        case "token_seq": kind = textLike ? .text : .multiLabel
        default:
          // RecBole stores ages and years as tokens; they are quantities. A stray non-number
          // (ML-100k's item 267 has release year "unkonwn") becomes missing rather than turning
          // the column into categories; more than 1 % of them and the column stays categorical.
          let quantity = ["age", "year"].contains { name.lowercased().contains($0) }
          let strays = raw.filter { !$0.1.isEmpty && Double($0.1) == nil }.count
          kind = quantity && strays * 100 <= raw.count ? .numeric : .categorical
        }
      } else if multiLabelColumns.contains(name) {
        kind = .multiLabel
      } else if raw.allSatisfy({ $0.1.isEmpty || Double($0.1) != nil }) {
        kind = .numeric
      } else {
        kind = .categorical
      }
      var values: [FeatureValue] = []
      values.reserveCapacity(raw.count)
      for (line, value) in raw {
        switch kind {
        case .numeric:
          if recbole, Double(value) == nil, !value.isEmpty {
            values.append(.missing)
          } else {
            values.append(try number(value, line: line, file: text.path, field: name))
          }
        case .categorical: values.append(value.isEmpty ? .missing : .category(value))
        case .text: values.append(.text(value))
        case .multiLabel:
          let separators: Set<Character> = recbole ? [" "] : ["|", ";"]
          values.append(.labels(value.split(whereSeparator: { separators.contains($0) }).map(String.init)))
        case .vector:
          var vector: [Float] = []
          for part in value.split(whereSeparator: { $0 == " " || $0 == "," }) {
            guard let v = Float(part), v.isFinite else {
              throw .invalidValue(SourceLocation(file: text.path, line: line, field: name), value: String(part), expected: "a number")
            }
            vector.append(v)
          }
          values.append(.vector(vector))
        }
      }
      columns.append(.init(name: name, kind: kind, values: values))
    }
    return try FeatureTable(ids: ids, columns: columns, source: text.path)
  }
}

extension FeatureReader {
  /// Dense vectors (text or image embeddings) from a little-endian `Float32` file of
  /// `ids × dimension` values and a text file with one id per line, in the same order: the
  /// multimodal input. The dimension follows from the file sizes.
  public func readVectors<ID: ExternalID>(
    _ vectorPath: String, ids idPath: String, column: String = "embedding", as: ID.Type = ID.self
  ) throws(DataError) -> FeatureTable<ID> {
    let idText: String
    let bytes: Data
    do {
      idText = try String(contentsOfFile: idPath, encoding: .utf8)
      bytes = try Data(contentsOf: URL(fileURLWithPath: vectorPath))
    } catch {
      throw .unreadable(file: "\(vectorPath) / \(idPath)", reason: error.localizedDescription)
    }
    let lines = idText.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let idLines = lines.last == "" ? Array(lines.dropLast()) : lines
    guard !idLines.isEmpty else { throw .empty(source: idPath) }
    let floats = bytes.count / 4
    guard bytes.count % 4 == 0, floats % idLines.count == 0, floats > 0 else {
      throw .invalidValue(
        SourceLocation(file: vectorPath, field: "file size"), value: "\(bytes.count) bytes",
        expected: "4 × dimension × \(idLines.count) bytes: one little-endian Float32 row per line of \(idPath)")
    }
    let dimension = floats / idLines.count
    var ids = IDVocabulary<ID>()
    var values: [FeatureValue] = []
    values.reserveCapacity(idLines.count)
    for (n, line) in idLines.enumerated() {
      let before = ids.count
      ids.insert(ID(line))
      guard !line.isEmpty, ids.count > before else {
        throw .invalidValue(
          SourceLocation(file: idPath, line: n + 1, field: "id"), value: line,
          expected: "a non-empty id not seen on an earlier line")
      }
      var vector = [Float](repeating: 0, count: dimension)
      for k in 0..<dimension {
        let offset = (n * dimension + k) * 4
        let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
          | UInt32(bytes[offset + 3]) << 24
        let value = Float(bitPattern: bits)
        guard value.isFinite else {
          throw .invalidValue(
            SourceLocation(file: vectorPath, line: n + 1, field: "\(column)[\(k)]"), value: "\(value)",
            expected: "a finite Float32 (row = the id's line in \(idPath))")
        }
        vector[k] = value
      }
      values.append(.vector(vector))
    }
    return try FeatureTable(ids: ids, columns: [.init(name: column, kind: .vector, values: values)], source: vectorPath)
  }
}

extension FeatureTable {
  /// The columns of both tables over the union of their ids (missing where a table lacks an id);
  /// `other`'s columns come after this table's.
  public func merged(with other: FeatureTable<ID>) throws(DataError) -> FeatureTable<ID> {
    var ids = self.ids
    for id in other.ids.ids { ids.insert(id) }
    func spread(_ table: FeatureTable<ID>) -> [Column] {
      table.columns.map { column in
        Column(
          name: column.name, kind: column.kind,
          values: ids.ids.map { id in table.ids.index(of: id).map { column.values[$0] } ?? .missing })
      }
    }
    return try FeatureTable(ids: ids, columns: spread(self) + spread(other), source: "\(source) + \(other.source)")
  }
}

public import AffinityLinalg
import Foundation

/// Features of users or items as sparse numeric rows: one row per id, one column per encoded
/// feature (`gender=F`, `age=25-34`, `genre=Comedy`, `decade=1990`, `title:star`, `embedding[3]`).
///
/// Built by ``FeatureEncoder`` from a ``FeatureTable``. Memory O(ids + stored values).
public struct EncodedFeatures<ID: ExternalID>: Sendable, Codable, Equatable {
  /// The ids with features, in table order.
  public let ids: IDVocabulary<ID>
  /// `ids.count × names.count`, each row's features.
  public let rows: SparseRowMatrix
  /// The name of every feature column.
  public let names: [String]

  public init(ids: IDVocabulary<ID>, rows: SparseRowMatrix, names: [String]) {
    self.ids = ids
    self.rows = rows
    self.names = names
  }

  /// Number of encoded features.
  public var featureCount: Int { names.count }

  /// The features of `id` as (column, value) pairs, or nil when the id has no row.
  public func features(of id: ID) -> [(Int, Float)]? {
    guard let row = ids.index(of: id) else { return nil }
    return rows.range(ofRow: row).map { (Int(rows.columns[$0]), rows.values[$0]) }
  }
}

/// Turns a ``FeatureTable`` into ``EncodedFeatures``.
///
/// - Categorical: one-hot `column=value`; columns whose values are nearly all distinct (more
///   distinct values than half the rows, such as zip codes) are left out unless named in
///   ``columns``.
/// - Multi-label: multi-hot `column=label`, each label weighted `1/√n` for `n` labels.
/// - Numeric: bucketed one-hot. Columns whose name contains `age` use the MovieLens-1M buckets
///   (under 18, 18–24, 25–34, 35–44, 45–49, 50–55, 56+); `year` columns use decades (or the
///   exact year, or both: ``years``); any other
///   numeric column uses quintiles of its values.
/// - Text: lower-cased alphanumeric tokens of two or more characters (`column:token`), TF-IDF
///   weighted and L2-normalised within the column; tokens in fewer than ``minimumTokenCount``
///   rows are dropped.
/// - Vector: the values as `column[k]`, L2-normalised.
public struct FeatureEncoder: Sendable {
  /// Columns to use; empty means every column (with the rule for near-unique categoricals).
  public var columns: [String]
  /// Text tokens must appear in at least this many rows.
  public var minimumTokenCount: Int
  /// How `year` columns are encoded.
  public var years: YearEncoding

  /// Decades smooth (a 1991 and a 1997 film share one); exact years tell them apart.
  public enum YearEncoding: String, Sendable, Codable, CaseIterable {
    case decade
    case year
    case both
  }

  public init(columns: [String] = [], minimumTokenCount: Int = 2, years: YearEncoding = .decade) {
    self.columns = columns
    self.minimumTokenCount = minimumTokenCount
    self.years = years
  }

  /// Encodes `table`; throws when a requested column does not exist.
  public func encode<ID: ExternalID>(_ table: FeatureTable<ID>) throws(DataError) -> EncodedFeatures<ID> {
    for name in columns where table.column(name) == nil {
      throw .missingColumn(file: table.source, column: name, available: table.columns.map(\.name))
    }
    let chosen = columns.isEmpty ? table.columns.filter { keepsByDefault($0, rows: table.count) } : columns.compactMap { table.column($0) }
    var names: [String] = []
    var cells: [[(Int, Float)]] = Array(repeating: [], count: table.count)
    for column in chosen {
      let encoded = encode(column, rowCount: table.count)
      let offset = names.count
      names.append(contentsOf: encoded.names)
      for (row, values) in encoded.cells.enumerated() {
        cells[row].append(contentsOf: values.map { ($0.0 + offset, $0.1) })
      }
    }
    var rowIndices: [Int32] = []
    var columnIndices: [Int32] = []
    var values: [Float] = []
    for (row, list) in cells.enumerated() {
      for (column, value) in list where value != 0 {
        rowIndices.append(Int32(row))
        columnIndices.append(Int32(column))
        values.append(value)
      }
    }
    let rows = SparseRowMatrix(
      rowCount: table.count, columnCount: names.count, rows: rowIndices, columns: columnIndices, values: values)
    return EncodedFeatures(ids: table.ids, rows: rows, names: names)
  }

  private func keepsByDefault<ID>(_ column: FeatureTable<ID>.Column, rows: Int) -> Bool {
    guard column.kind == .categorical else { return true }
    var distinct = Set<String>()
    for case .category(let value) in column.values { distinct.insert(value) }
    return distinct.count <= max(2, rows / 2)
  }

  private func encode<ID>(_ column: FeatureTable<ID>.Column, rowCount: Int) -> (names: [String], cells: [[(Int, Float)]]) {
    var names: [String] = []
    var index: [String: Int] = [:]
    func slot(_ name: String) -> Int {
      if let existing = index[name] { return existing }
      index[name] = names.count
      names.append(name)
      return names.count - 1
    }
    var cells: [[(Int, Float)]] = Array(repeating: [], count: rowCount)
    switch column.kind {
    case .categorical:
      for (row, value) in column.values.enumerated() {
        if case .category(let v) = value { cells[row] = [(slot("\(column.name)=\(v)"), 1)] }
      }
    case .multiLabel:
      for (row, value) in column.values.enumerated() {
        guard case .labels(let labels) = value, !labels.isEmpty else { continue }
        let weight = 1 / Float(labels.count).squareRoot()
        cells[row] = Set(labels).sorted().map { (slot("\(column.name)=\($0)"), weight) }
      }
    case .numeric:
      let numbers = column.values.map { value -> Double? in
        if case .number(let x) = value, x.isFinite { return x }
        return nil
      }
      let bucket = Self.bucketing(for: column.name, values: numbers.compactMap { $0 })
      let isYear = column.name.lowercased().contains("year")
      for (row, number) in numbers.enumerated() {
        guard let x = number else { continue }
        if !isYear || years != .year { cells[row].append((slot("\(column.name)=\(bucket(x))"), 1)) }
        if isYear && years != .decade { cells[row].append((slot("\(column.name)=\(Int(x.rounded(.down)))"), 1)) }
      }
    case .text:
      let tokenLists = column.values.map { value -> [String] in
        if case .text(let text) = value { return Self.tokens(text) }
        return []
      }
      var documentCounts: [String: Int] = [:]
      for list in tokenLists { for token in Set(list) { documentCounts[token, default: 0] += 1 } }
      let n = Double(max(rowCount, 1))
      for (row, list) in tokenLists.enumerated() {
        var counts: [String: Int] = [:]
        for token in list where (documentCounts[token] ?? 0) >= minimumTokenCount { counts[token, default: 0] += 1 }
        var weighted = counts.sorted { $0.key < $1.key }.map { token, count in
          (slot("\(column.name):\(token)"), Float(Double(count) * Foundation.log(n / Double(documentCounts[token] ?? 1))))
        }
        let norm = weighted.reduce(Float(0)) { $0 + $1.1 * $1.1 }.squareRoot()
        if norm > 0 { weighted = weighted.map { ($0.0, $0.1 / norm) } }
        cells[row] = weighted
      }
    case .vector:
      let width = column.values.reduce(0) { width, value in
        if case .vector(let v) = value { return max(width, v.count) }
        return width
      }
      for k in 0..<width { _ = slot("\(column.name)[\(k)]") }
      for (row, value) in column.values.enumerated() {
        guard case .vector(let v) = value else { continue }
        let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        cells[row] = v.enumerated().map { ($0.offset, norm > 0 ? $0.element / norm : 0) }
      }
    }
    return (names, cells)
  }

  /// Lower-cased runs of letters and digits, two characters or longer.
  static func tokens(_ text: String) -> [String] {
    text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { $0.count >= 2 }
  }

  /// The bucket label of a numeric value, by the column's name.
  static func bucketing(for name: String, values: [Double]) -> (Double) -> String {
    let lower = name.lowercased()
    if lower.contains("age") {
      let edges: [(Double, String)] = [(18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55")]
      return { x in edges.first { x < $0.0 }?.1 ?? "56+" }
    }
    if lower.contains("year") {
      return { x in "\(Int((x / 10).rounded(.down)) * 10)s" }
    }
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return { _ in "q1" } }
    let cuts = (1..<5).map { sorted[min(sorted.count - 1, sorted.count * $0 / 5)] }
    return { x in "q\((cuts.firstIndex { x < $0 } ?? 4) + 1)" }
  }
}

/// What a model may know besides the interactions: encoded user and item features.
public struct SideInformation: Sendable {
  public var users: EncodedFeatures<UserID>?
  public var items: EncodedFeatures<ItemID>?

  public init(users: EncodedFeatures<UserID>? = nil, items: EncodedFeatures<ItemID>? = nil) {
    self.users = users
    self.items = items
  }

  /// No features.
  public static let none = SideInformation()

  public var isEmpty: Bool { users == nil && items == nil }
}

import AffinityEvaluation
import Foundation

/// Plain-text and Markdown tables, JSON output and number formatting for the commands.
enum Output {
  /// A table with aligned columns; numbers right-aligned.
  static func table(_ header: [String], _ rows: [[String]], markdown: Bool = false) -> String {
    var widths = header.map(\.count)
    for row in rows { for (c, cell) in row.enumerated() where c < widths.count { widths[c] = max(widths[c], cell.count) } }
    func line(_ cells: [String]) -> String {
      let padded = cells.enumerated().map { c, cell -> String in
        let pad = String(repeating: " ", count: max(0, widths[c] - cell.count))
        return Double(cell) != nil || cell.hasSuffix("s") && Double(cell.dropLast()) != nil
          ? pad + cell : cell + pad
      }
      return markdown ? "| " + padded.joined(separator: " | ") + " |" : padded.joined(separator: "  ")
    }
    var lines = [line(header)]
    if markdown {
      lines.append("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
    } else {
      lines.append(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  "))
    }
    lines += rows.map(line)
    return lines.joined(separator: "\n")
  }

  static func number(_ value: Double?, digits: Int = 4) -> String {
    guard let value, value.isFinite else { return "—" }
    return String(format: "%.\(digits)f", value)
  }

  static func json<T: Encodable>(_ value: T, compact: Bool = false) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = compact ? [.sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  /// Metric columns in a stable, readable order.
  static func orderedMetricNames(_ names: some Sequence<String>) -> [String] {
    let order = ["rmse", "mae", "fcp", "precision@", "recall@", "ndcg@", "map@", "mrr", "hit@", "auc", "coverage@", "novelty@", "gini@"]
    return Set(names).sorted { a, b in
      let ia = order.firstIndex { a.hasPrefix($0) } ?? order.count
      let ib = order.firstIndex { b.hasPrefix($0) } ?? order.count
      return ia != ib ? ia < ib : a < b
    }
  }
}

import AffinityCore
import AffinityLinalg
import ArgumentParser
import Foundation

/// `affinity describe`: what is in an interaction file (and its feature files).
struct DescribeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "describe",
    abstract: "Summarise an interaction file: sizes, density, rating histogram, activity, features.")

  @Option(help: "The interaction file.") var data: String
  @Option(help: "Item features (u.item, RecBole .item or CSV).") var itemFeatures: String?
  @Option(help: "User features (u.user, RecBole .user or CSV).") var userFeatures: String?
  @OptionGroup var read: ReadOptions

  func run() throws {
    try CLIErrors.mapped {
      let d = try read.read(data)
      let density = 100 * Double(d.count) / (Double(d.users.count) * Double(d.items.count))
      print("\(data): \(d.count) interactions, \(d.users.count) users, \(d.items.count) items, density \(Output.number(density, digits: 3))%")
      print("values: \(d.valueRange.lowerBound)…\(d.valueRange.upperBound), mean \(Output.number(Double(d.globalMean), digits: 3))")
      var histogram: [Float: Int] = [:]
      for v in d.values { histogram[v, default: 0] += 1 }
      if histogram.count <= 20 {
        let rows = histogram.keys.sorted().map { v -> [String] in
          let share = Double(histogram[v] ?? 0) / Double(d.count)
          return [String(v), String(histogram[v] ?? 0), String(repeating: "▇", count: Int(share * 60))]
        }
        print(Output.table(["value", "count", ""], rows))
      }
      func quantiles(_ counts: [Int]) -> String {
        let s = counts.sorted()
        guard !s.isEmpty else { return "-" }
        return "min \(s[0]), median \(s[s.count / 2]), p90 \(s[s.count * 9 / 10]), max \(s[s.count - 1])"
      }
      print("per user: " + quantiles((0..<d.users.count).map { d.byUser.count(ofRow: $0) }))
      print("per item: " + quantiles((0..<d.items.count).map { d.byItem.count(ofRow: $0) }))
      if let stamps = d.timestamps.filter({ $0 != 0 }).min().map({ ($0, d.timestamps.max() ?? $0) }) {
        let f = ISO8601DateFormatter()
        print("time: \(f.string(from: Date(timeIntervalSince1970: Double(stamps.0)))) … \(f.string(from: Date(timeIntervalSince1970: Double(stamps.1))))")
      }
      if let itemFeatures { describe(try FeatureReader().read(itemFeatures, as: ItemID.self), ids: Set(d.items.ids.map(\.rawValue))) }
      if let userFeatures { describe(try FeatureReader().read(userFeatures, as: UserID.self), ids: Set(d.users.ids.map(\.rawValue))) }
    }
  }

  func describe<ID: ExternalID>(_ table: FeatureTable<ID>, ids: Set<String>) {
    let covered = table.ids.ids.filter { ids.contains($0.rawValue) }.count
    print("\n\(table.source): \(table.count) rows, \(covered) of them in the interactions")
    let rows = table.columns.map { column -> [String] in
      let distinct = table.vocabulary(of: column.name)
      let missing = column.values.filter { $0 == .missing }.count
      let detail = distinct.isEmpty ? "" : "\(distinct.count) distinct: " + distinct.prefix(6).joined(separator: ", ") + (distinct.count > 6 ? ", …" : "")
      return [column.name, column.kind.rawValue, String(missing), detail]
    }
    print(Output.table(["column", "kind", "missing", "values"], rows))
  }
}

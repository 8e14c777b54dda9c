import AffinityCore
import AffinityStore
import ArgumentParser
import Foundation

/// `affinity import`: load interactions and features into the service's SQLite store.
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Load interactions and user/item features into the service's database (SQLite).",
    discussion: """
      Reads the files the other commands read (GroupLens u.data/u.user/u.item, RecBole .inter/.user/
      .item, CSV with a header) and stores users, items and feedback events in --db, created on
      first use (WAL mode). Each interaction becomes an event with id <file name>:<row>, so
      importing the same file again stores nothing twice. Feature values are kept as text by
      column (labels joined with |); dense vectors are not stored.
      Example: affinity import --db affinity-data/affinity.sqlite --data ml-100k.inter \\
                 --user-features ml-100k.user --item-features ml-100k.item --item-category-column class
      """)

  @Option(help: "The SQLite database (its folder is created when missing).") var db: String = "affinity-data/affinity.sqlite"
  @Option(help: "Interactions to import as feedback events.") var data: String?
  @Option(help: "User features (GroupLens u.user, RecBole .user or CSV).") var userFeatures: String?
  @Option(help: "Item features (GroupLens u.item, RecBole .item or CSV).") var itemFeatures: String?
  @Option(help: "An item feature column whose labels become the item's categories (for filters and rules).")
  var itemCategoryColumn: String?
  @Option(help: "The kind of every imported event: positive, negative, read or exposure.") var kind: String = "positive"
  @Option(help: "Events per transaction.") var batchSize: Int = 20_000
  @OptionGroup var read: ReadOptions

  func validate() throws {
    if data == nil && userFeatures == nil && itemFeatures == nil {
      throw ValidationError("nothing to import: give --data, --user-features or --item-features")
    }
    if FeedbackKind(rawValue: kind) == nil {
      throw ValidationError("--kind must be one of positive, negative, read, exposure; got '\(kind)'")
    }
    if batchSize < 1 { throw ValidationError("--batch-size must be ≥ 1; got \(batchSize)") }
  }

  static func text(_ value: FeatureValue) -> String? {
    switch value {
    case .category(let s), .text(let s): s
    case .labels(let labels): labels.joined(separator: "|")
    case .number(let x): x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    case .vector, .missing: nil
    }
  }

  static func features<ID>(_ table: FeatureTable<ID>, row: Int) -> [String: String] {
    var features: [String: String] = [:]
    for column in table.columns { if let text = text(column.values[row]) { features[column.name] = text } }
    return features
  }

  func run() throws {
    try CLIErrors.mapped {
      let folder = URL(fileURLWithPath: db).deletingLastPathComponent().path
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      let store = try SQLiteStore(path: db)
      let progress = ProgressBar()
      let reader = FeatureReader()
      if let userFeatures {
        let table: FeatureTable<UserID> = try reader.read(userFeatures)
        progress.begin("users")
        try store.upsert(users: (0..<table.count).map { StoredUser(id: table.ids[$0].rawValue, features: Self.features(table, row: $0)) })
        progress.finish("\(table.count) users from \(userFeatures)")
      }
      if let itemFeatures {
        let table: FeatureTable<ItemID> = try reader.read(itemFeatures)
        if let itemCategoryColumn, table.column(itemCategoryColumn) == nil {
          throw RuntimeError(message:
            "--item-category-column '\(itemCategoryColumn)' is not a column of \(itemFeatures); columns: \(table.columns.map(\.name).joined(separator: ", "))")
        }
        progress.begin("items")
        try store.upsert(items: (0..<table.count).map { row in
          var categories: [String] = []
          if let name = itemCategoryColumn, let column = table.column(name) {
            switch column.values[row] {
            case .labels(let labels): categories = labels
            case .category(let value), .text(let value): categories = [value]
            default: break
            }
          }
          return StoredItem(id: table.ids[row].rawValue, features: Self.features(table, row: row), categories: categories)
        })
        progress.finish("\(table.count) items from \(itemFeatures)")
      }
      if let data {
        let interactions = try read.read(data)
        let source = URL(fileURLWithPath: data).lastPathComponent
        let kind = FeedbackKind(rawValue: self.kind) ?? .positive
        progress.begin("events")
        let start = Date()
        var inserted = 0
        var duplicates = 0
        var first = 0
        while first < interactions.count {
          let last = min(first + batchSize, interactions.count)
          let events = (first..<last).map { k in
            FeedbackEvent(
              eventID: "\(source):\(k + 1)", user: interactions.users[Int(interactions.userIndices[k])].rawValue,
              item: interactions.items[Int(interactions.itemIndices[k])].rawValue, kind: kind,
              value: Double(interactions.values[k]), timestamp: Date(timeIntervalSince1970: Double(interactions.timestamps[k])))
          }
          let result = try store.ingest(events)
          inserted += result.inserted
          duplicates += result.duplicates
          first = last
          progress.update(fraction: Double(last) / Double(interactions.count), detail: "\(last) of \(interactions.count)")
        }
        let seconds = Date().timeIntervalSince(start)
        progress.finish(
          "\(inserted) new events, \(duplicates) already stored, from \(data) in \(String(format: "%.1f", seconds)) s (\(Int(Double(interactions.count) / max(seconds, 1e-9))) events/s)")
      }
      let counts = try store.counts()
      print("\(db): \(counts.users) users, \(counts.items) items, \(counts.events) events, \(counts.decisions) decisions, \(counts.models) models")
    }
  }
}

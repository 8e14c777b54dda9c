import AffinityCore
import AffinityEvaluation
import ArgumentParser
import Foundation

/// `affinity split`: cut one interaction file into train and test files.
struct SplitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "split",
    abstract: "Split an interaction file into train/test files (headerless TSV).",
    discussion: "Writes OUT/train.tsv and OUT/test.tsv, or OUT/fold-N-{train,test}.tsv with --folds.")

  @Option(help: "The interaction file.")
  var data: String
  @Option(help: "\(SplitMethod.names.joined(separator: ", ")).")
  var method: String = "random"
  @Option(help: "Fraction held out.")
  var testFraction: Double = 0.2
  @Option(help: "k-fold cross-validation instead: number of folds.")
  var folds: Int?
  @Option(help: "Seed.")
  var seed: UInt64 = 42
  @Option(help: "Output directory (created if missing).")
  var out: String
  @OptionGroup var read: ReadOptions

  func run() throws {
    try CLIErrors.mapped {
      let data = try read.read(self.data)
      try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
      if let folds {
        for (n, split) in try crossValidationFolds(data, count: folds, seed: seed).enumerated() {
          try write(split, prefix: "fold-\(n + 1)-")
        }
        print("wrote \(folds) folds to \(out)")
        return
      }
      guard let method = SplitMethod.named(method, testFraction: testFraction) else {
        throw ValidationError("--method must be one of \(SplitMethod.names.joined(separator: ", ")); got '\(self.method)'")
      }
      let split = try method.split(data, seed: seed)
      try write(split, prefix: "")
      print("wrote \(split.train.count) train and \(split.test.count) test rows to \(out)")
    }
  }

  func write(_ split: DataSplit, prefix: String) throws {
    try AtomicFile.write(SplitCommand.tsv(split.train), to: "\(out)/\(prefix)train.tsv")
    try AtomicFile.write(SplitCommand.tsv(split.test), to: "\(out)/\(prefix)test.tsv")
  }

  /// Headerless `user item value timestamp` rows, the u.data layout.
  static func tsv(_ data: InteractionData) -> String {
    var text = ""
    text.reserveCapacity(data.count * 24)
    for k in 0..<data.count {
      let value = data.values[k]
      let valueText = value == value.rounded() ? String(Int(value)) : String(value)
      text += "\(data.users[Int(data.userIndices[k])])\t\(data.items[Int(data.itemIndices[k])])\t\(valueText)\t\(data.timestamps[k])\n"
    }
    return text
  }
}

/// `affinity generate`: write a synthetic world to files.
struct GenerateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Write a seeded synthetic ratings file (and optionally its item and user tables).")

  @Option(help: "Number of users.") var users: Int = 1_000
  @Option(help: "Number of items.") var items: Int = 1_700
  @Option(help: "Number of ratings.") var ratings: Int = 100_000
  @Option(help: "Seed.") var seed: UInt64 = 42
  @Option(help: "Ratings file to write (headerless user item rating timestamp).") var out: String
  @Option(help: "Also write items (id, title, year, genres) as TSV here.") var itemsOut: String?
  @Option(help: "Also write users (id, age, gender, occupation) as TSV here.") var usersOut: String?

  func run() throws {
    try CLIErrors.mapped {
      let world = try SyntheticWorld(
        configuration: .init(userCount: users, itemCount: items, ratingCount: ratings), seed: seed)
      try AtomicFile.write(SplitCommand.tsv(world.ratings), to: out)
      if let itemsOut {
        let text = "item_id\ttitle\tyear\tgenres\n"
          + world.items.map { "\($0.id)\t\($0.title)\t\($0.year)\t\($0.genres.joined(separator: "|"))" }
          .joined(separator: "\n") + "\n"
        try AtomicFile.write(text, to: itemsOut)
      }
      if let usersOut {
        let text = "user_id\tage\tgender\toccupation\n"
          + world.users.map { "\($0.id)\t\($0.age)\t\($0.gender)\t\($0.occupation)" }.joined(separator: "\n") + "\n"
        try AtomicFile.write(text, to: usersOut)
      }
      print("wrote \(world.ratings.count) ratings by \(users) users on \(items) items to \(out)")
    }
  }
}

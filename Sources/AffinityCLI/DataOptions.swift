import AffinityCore
import AffinityEvaluation
public import ArgumentParser
import Foundation

/// How to read interaction files.
struct ReadOptions: ParsableArguments {
  @Option(help: "File layout: auto, headerless (u.data), recbole, csv.")
  var inputFormat: InteractionReader.Format = .auto
  @Option(help: "User column name, for files with a header.")
  var userColumn: String?
  @Option(help: "Item column name, for files with a header.")
  var itemColumn: String?
  @Option(help: "Rating column name, for files with a header.")
  var ratingColumn: String?
  @Option(help: "Timestamp column name, for files with a header.")
  var timestampColumn: String?

  var reader: InteractionReader {
    InteractionReader(
      format: inputFormat,
      columns: .init(user: userColumn, item: itemColumn, rating: ratingColumn, timestamp: timestampColumn))
  }

  func read(_ path: String) throws -> InteractionData { try reader.read(path) }
}

extension InteractionReader.Format: ExpressibleByArgument {}

/// Where the train and test sets come from: two files, or one file and a split.
struct SplitSourceOptions: ParsableArguments {
  @Option(help: "Training interactions (headerless 'user item rating timestamp', RecBole or CSV).")
  var train: String?
  @Option(help: "Test interactions, same layouts as --train.")
  var test: String?
  @Option(help: "One interaction file to split (instead of --train/--test).")
  var data: String?
  @Option(help: "Split for --data: \(SplitMethod.names.joined(separator: ", ")).")
  var split: String = "random"
  @Option(help: "Fraction of --data held out for testing.")
  var testFraction: Double = 0.2
  @Option(help: "Seed for the split and for training.")
  var seed: UInt64 = 42
  @OptionGroup var read: ReadOptions

  func validate() throws {
    switch (train, test, data) {
    case (.some, .some, nil), (nil, nil, .some): break
    case (nil, nil, nil):
      throw ValidationError("give --train and --test, or --data to split one file")
    case (_, _, .some):
      throw ValidationError("give either --data or --train/--test, not both")
    default:
      throw ValidationError("--train and --test go together; add the missing one")
    }
    if SplitMethod.named(split, testFraction: testFraction) == nil {
      throw ValidationError(
        "--split must be one of \(SplitMethod.names.joined(separator: ", ")); got '\(split)'")
    }
  }

  func load() throws -> DataSplit {
    if let train, let test {
      return DataSplit(train: try read.read(train), test: try read.read(test))
    }
    guard let data, let method = SplitMethod.named(split, testFraction: testFraction) else {
      throw ValidationError("give --train and --test, or --data to split one file")
    }
    return try method.split(try read.read(data), seed: seed)
  }
}

/// User and item feature files for the models that use side information.
struct FeatureOptions: ParsableArguments {
  @Option(help: "User features: GroupLens u.user, RecBole .user or a CSV with a header (first column: user id).")
  var userFeatures: String?
  @Option(help: "Item features: GroupLens u.item, RecBole .item or a CSV with a header (first column: item id).")
  var itemFeatures: String?
  @Option(help: "User feature columns to use, comma-separated (default: all but near-unique categoricals such as zip codes).")
  var userFeatureColumns: String?
  @Option(help: "Item feature columns to use, comma-separated (default: all but near-unique categoricals).")
  var itemFeatureColumns: String?
  @Option(help: "Year columns as decade, year or both.")
  var years: FeatureEncoder.YearEncoding = .decade
  @Option(help: "Dense item vectors (text or image embeddings): little-endian Float32, one row per line of --item-vector-ids.")
  var itemVectors: String?
  @Option(help: "Item ids of --item-vectors, one per line, in row order.")
  var itemVectorIds: String?
  @Option(help: "Dense user vectors: little-endian Float32, one row per line of --user-vector-ids.")
  var userVectors: String?
  @Option(help: "User ids of --user-vectors, one per line, in row order.")
  var userVectorIds: String?

  func columns(_ text: String?) -> [String] {
    (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  func load() throws -> SideInformation {
    let reader = FeatureReader()
    var side = SideInformation()
    func table<ID: ExternalID>(_ file: String?, vectors: String?, ids: String?, flag: String) throws -> FeatureTable<ID>? {
      var table: FeatureTable<ID>? = try file.map { try reader.read($0) }
      switch (vectors, ids) {
      case (nil, nil): break
      case (let vectors?, let ids?):
        let dense: FeatureTable<ID> = try reader.readVectors(vectors, ids: ids)
        table = try table.map { try $0.merged(with: dense) } ?? dense
      default:
        throw RuntimeError(message: "--\(flag)-vectors and --\(flag)-vector-ids go together; add the missing one")
      }
      return table
    }
    // Named vector columns are always kept, whatever the column selection says.
    func chosen(_ text: String?, vectors: String?) -> [String] {
      let names = columns(text)
      return names.isEmpty || vectors == nil ? names : names + ["embedding"]
    }
    if let users: FeatureTable<UserID> = try table(userFeatures, vectors: userVectors, ids: userVectorIds, flag: "user") {
      side.users = try FeatureEncoder(columns: chosen(userFeatureColumns, vectors: userVectors), years: years).encode(users)
    }
    if let items: FeatureTable<ItemID> = try table(itemFeatures, vectors: itemVectors, ids: itemVectorIds, flag: "item") {
      side.items = try FeatureEncoder(columns: chosen(itemFeatureColumns, vectors: itemVectors), years: years).encode(items)
    }
    return side
  }
}

extension CandidateSet: ExpressibleByArgument {}
extension FeatureEncoder.YearEncoding: ExpressibleByArgument {}

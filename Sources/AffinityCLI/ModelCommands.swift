import AffinityCatalog
import AffinityCore
import ArgumentParser
import Foundation

/// `affinity train`: fit a model on every row of a file and save it.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train a model on an interaction file and save it.")

  @Option(help: "Interaction file (every row is training data).") var data: String
  @Option(help: "Model name; `affinity models` lists them.") var model: String
  @Option(name: .customLong("param"), help: "key=value (repeatable).") var parameters: [String] = []
  @Option(
    help: """
      Where to write the model, atomically: a bundle (safetensors layout + JSON manifest, \
      e.g. model.affinity) unless the path ends in .json, which gets the older single JSON document.
      """)
  var out: String
  @Option(help: "Seed.") var seed: UInt64 = 42
  @OptionGroup var read: ReadOptions
  @OptionGroup var featureOptions: FeatureOptions

  func validate() throws {
    _ = try CLIErrors.mapped { try ModelCatalog.descriptor(named: model) }
    _ = try CLIErrors.mapped { try ModelCatalog.parseParameters(parameters) }
  }

  func run() throws {
    try CLIErrors.mapped {
      let descriptor = try ModelCatalog.descriptor(named: model)
      let data = try read.read(self.data)
      let bar = ProgressBar()
      bar.begin(descriptor.name)
      let start = Date()
      let fitted = try descriptor.fit(
        data, parameters: try ModelCatalog.parseParameters(parameters), options: FitOptions(seed: seed, progress: bar.callback),
        features: try featureOptions.load())
      bar.finish(String(format: "fit %.2fs", Date().timeIntervalSince(start)))
      try ModelFile.save(
        fitted, kind: descriptor.name, dataSource: self.data, to: out,
        dataFingerprint: try ModelFile.fingerprint(ofFile: self.data))
      print("saved \(descriptor.name) (\(fitted.users.count) users, \(fitted.items.count) items) to \(out)")
    }
  }
}

/// Options shared by the commands that query a saved model.
struct ModelFileOptions: ParsableArguments {
  @Option(help: "A model saved by `affinity train` (.affinity bundle or .json).") var modelFile: String
  @Option(help: "Item features (u.item, RecBole .item, CSV) to show titles next to ids.") var itemFeatures: String?

  func load() throws -> (String, any Recommender) { try CLIErrors.mapped { try ModelFile.load(modelFile) } }

  /// A label for an item: its title (or first text/categorical feature) when features are given.
  func labeler() throws -> (ItemID) -> String {
    guard let itemFeatures else { return { $0.rawValue } }
    let table = try CLIErrors.mapped { try FeatureReader().read(itemFeatures, as: ItemID.self) }
    let column = table.columns.first { $0.kind == .text } ?? table.columns.first
    return { id in
      guard let column, let value = table.value(of: id, in: column.name) else { return id.rawValue }
      switch value {
      case .text(let t), .category(let t): return "\(id.rawValue)  \(t)"
      default: return id.rawValue
      }
    }
  }
}

/// `affinity recommend`: top-N for a known user or for a history given at request time.
struct RecommendCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "recommend",
    abstract: "Recommend items for a user, or for a list of items (fold-in of a new user).")

  @OptionGroup var file: ModelFileOptions
  @Option(help: "A user id from the training data.") var user: String?
  @Option(help: "Comma-separated item ids the user interacted with (for a new user, or added to a known one).")
  var history: String?
  @Option(help: "How many items.") var count: Int = 10
  @Option(help: "Comma-separated item ids never to return.") var exclude: String?
  @Option(help: "Comma-separated item ids: return only these.") var allow: String?
  @Flag(help: "Allow items the user has already seen.") var includeSeen = false
  @Option(
    help: "Comma-separated encoded features of a user the model has no features for, such as gender=F,age=25-34,occupation=writer (feature models).")
  var features: String?
  @Option(help: "table or json.") var format: OutputFormat = .table

  func validate() throws {
    if user == nil && history == nil && features == nil {
      throw ValidationError("give --user, --history, --features or a combination")
    }
  }

  static func ids(_ text: String?) -> [ItemID] {
    (text ?? "").split(separator: ",").map { ItemID($0.trimmingCharacters(in: .whitespaces)) }
  }

  func run() throws {
    let (kind, model) = try file.load()
    let label = try file.labeler()
    let query = RecommendationQuery(
      user: user.map { UserID($0) }, history: Self.ids(history), count: count,
      excluding: Set(Self.ids(exclude)), allowing: Set(Self.ids(allow)), excludesHistory: !includeSeen,
      features: (features ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    let list = try CLIErrors.mapped { try model.recommend(query) }
    if format == .json {
      print(try Output.json(list))
      return
    }
    let who = user.map { model.users.contains(UserID($0)) ? "user \($0)" : "new user \($0) (folded in from --history)" }
      ?? (features != nil ? "a new user with features \(features ?? "")" : "a new user with \(Self.ids(history).count) history items")
    print("\(kind): top \(list.count) for \(who)")
    print(Output.table(["rank", "item", "score"], list.enumerated().map { [String($0.offset + 1), label($0.element.item), Output.number(Double($0.element.score))] }))
  }
}

/// `affinity similar`: items most like one item.
struct SimilarCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "similar", abstract: "Items most similar to an item.")

  @OptionGroup var file: ModelFileOptions
  @Option(help: "Item id.") var item: String
  @Option(help: "How many items.") var count: Int = 10

  func run() throws {
    let (kind, model) = try file.load()
    guard let similar = model as? any SimilarItemsProviding else {
      throw RuntimeError(message: "model '\(kind)' cannot list similar items; try als, bpr, warp or item-knn")
    }
    let label = try file.labeler()
    let list = try CLIErrors.mapped { try similar.similarItems(to: ItemID(item), count: count) }
    print("\(kind): items most similar to \(label(ItemID(item)))")
    print(Output.table(["rank", "item", "similarity"], list.enumerated().map { [String($0.offset + 1), label($0.element.item), Output.number(Double($0.element.score))] }))
  }
}

/// `affinity explain`: why an item was recommended to a user.
struct ExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "explain", abstract: "Why a model scores an item for a user.")

  @OptionGroup var file: ModelFileOptions
  @Option(help: "User id.") var user: String?
  @Option(help: "Comma-separated history item ids (for a new user).") var history: String?
  @Option(help: "Item id to explain.") var item: String
  @Option(help: "How many contributions to show.") var count: Int = 10

  func run() throws {
    let (kind, model) = try file.load()
    guard let explainable = model as? any Explainable else {
      throw RuntimeError(message: "model '\(kind)' cannot explain its scores; try als or item-knn")
    }
    let label = try file.labeler()
    let query = RecommendationQuery(user: user.map { UserID($0) }, history: RecommendCommand.ids(history))
    let explanation = try CLIErrors.mapped { try explainable.explanation(of: ItemID(item), for: query) }
    print("\(kind): score \(Output.number(Double(explanation.score))) for \(label(explanation.item)); largest contributions:")
    print(Output.table(["from", "contribution"], explanation.contributions.prefix(count).map { [label(ItemID($0.source)), Output.number(Double($0.weight))] }))
  }
}

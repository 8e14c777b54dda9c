import AffinityCatalog
import ArgumentParser
import Foundation

/// `affinity models`: what this build can train.
struct ModelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "models", abstract: "List every model with its tasks and description.")

  @Option(help: "table or json.")
  var format: OutputFormat = .table
  @Flag(help: "Show each model's default parameters.")
  var parameters = false

  struct Entry: Encodable {
    let name: String
    let tasks: [String]
    let description: String
    let parameters: [String: String]?
  }

  func run() throws {
    let entries = ModelCatalog.all.map {
      Entry(
        name: $0.name, tasks: $0.tasks.map(\.rawValue), description: $0.summary,
        parameters: parameters ? $0.defaults() : nil)
    }
    switch format {
    case .json:
      print(try Output.json(entries))
    case .table:
      print(Output.table(["name", "tasks", "description"], entries.map { [$0.name, $0.tasks.joined(separator: ","), $0.description] }))
      if parameters {
        for entry in entries {
          let text = (entry.parameters ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
          print("\n\(entry.name): " + (text.isEmpty ? "(no parameters)" : text.joined(separator: " ")))
        }
      }
    }
  }
}

import AffinityCatalog
import AffinityCore
import AffinityNeural
import AffinityReinforcement
import ArgumentParser
import Foundation

/// `affinity inspect`: what a saved model holds, after checking it as loading does.
struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect",
    abstract: "Check a saved model and show its kind, format, provenance, configuration and tensors.")

  @Argument(help: "A model saved by `affinity train` (.affinity bundle or .json).") var file: String
  @Option(help: "table or json.") var format: OutputFormat = .table

  func run() throws {
    // Neural agents (`affinity rl train`) share the layout but not the recommender catalogue.
    if let bundle = try? NeuralBundle.read(from: file), bundle.kind == DRR.bundleKind {
      let agent = try DRR(bundle: bundle, file: file)
      print("file            \(file) (neural bundle, format \(NeuralBundle.formatVersion))")
      print("kind            \(bundle.kind) (\(agent.configuration.stateModule.rawValue))")
      for key in bundle.provenance.keys.sorted() { print("\(key.padding(toLength: 16, withPad: " ", startingAt: 0))\(bundle.provenance[key] ?? "")") }
      print("configuration   \(bundle.configuration)")
      for name in bundle.networks.keys.sorted() {
        guard let network = bundle.networks[name] else { continue }
        print("network         \(name): \(network.inputWidth) → \(network.outputWidth), \(network.parameterCount) parameters")
      }
      print("items × width   \(agent.itemCount) × \(agent.embeddingWidth)")
      return
    }
    let summary = try CLIErrors.mapped { try ModelFile.inspect(file) }
    if format == .json {
      print(try Output.json(summary))
      return
    }
    print(Self.text(summary))
  }

  static func text(_ summary: ModelFile.Summary) -> String {
    var lines = [
      "file            \(summary.file) (\(summary.layout), format \(summary.formatVersion))",
      "kind            \(summary.kind)",
      "created         \(summary.createdAt)",
      "data            \(summary.dataSource)",
      "fingerprint     \(summary.dataFingerprint ?? "none recorded")",
      "vocabularies    "
        + summary.vocabularies.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
    ]
    if !summary.metrics.isEmpty {
      lines.append(
        "metrics         "
          + summary.metrics.sorted { $0.key < $1.key }.map { "\($0.key) \(Output.number($0.value))" }.joined(separator: ", "))
    }
    lines.append("configuration")
    lines.append(
      Output.table(["field", "value"], summary.configuration.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }))
    if summary.tensors.isEmpty {
      lines.append("tensors         none (a JSON document keeps its arrays inline)")
    } else {
      let total = summary.tensors.reduce(0) { $0 + $1.bytes }
      lines.append("tensors         \(summary.tensors.count), \(total) bytes")
      lines.append(
        Output.table(
          ["name", "dtype", "shape", "bytes", "sha256"],
          summary.tensors.map {
            [$0.name, $0.dtype, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", String($0.bytes), String($0.sha256.prefix(12))]
          }))
    }
    return lines.joined(separator: "\n")
  }
}

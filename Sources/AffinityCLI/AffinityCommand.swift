public import ArgumentParser

/// The `affinity` command: train, evaluate and compare recommenders from the shell.
@available(macOS 15, *)
public struct AffinityCommand: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "affinity",
    abstract: "Affinity: recommender systems in Swift: rating prediction, top-N, evaluation.",
    discussion: """
      Start with `affinity demo`: it builds a synthetic movie world, trains several models and
      shows what they recommend. Real data: `affinity evaluate --data ratings.tsv --model svd`.
      """,
    version: "0.1.0",
    subcommands: [
      DemoCommand.self, EvaluateCommand.self, CompareCommand.self, ModelsCommand.self, DescribeCommand.self,
      TrainCommand.self, InspectCommand.self, RecommendCommand.self, SimilarCommand.self, ExplainCommand.self,
      TuneCommand.self, BenchCommand.self, KernelBenchCommand.self, SplitCommand.self, GenerateCommand.self, OffPolicyCommand.self, SimulateCommand.self,
      CTRCommand.self, BanditBenchCommand.self, ImportCommand.self, ServeCommand.self,
      ReplayCommand.self,
    ])

  public init() {}
}

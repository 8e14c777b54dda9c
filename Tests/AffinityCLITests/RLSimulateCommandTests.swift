import AffinityCLI
import ArgumentParser
import Foundation
import Testing

@Suite("affinity rl simulate")
struct RLSimulateCommandTests {
  static func message(_ arguments: [String]) -> String? {
    do {
      _ = try RLSimulateCommand.parse(arguments)
      return nil
    } catch {
      return RLSimulateCommand.message(for: error)
    }
  }

  @Test func explainsBadOptions() {
    #expect(
      Self.message(["--policy", "reinforce,ppo"])
        == "unknown policy 'ppo'; policies: reinforce, reinforce-ips, reinforce-naive, reinforce-learned-beta, dqn, logging, linucb, thompson, random"
    )
    #expect(Self.message(["--weight-cap", "0.5"]) == "--weight-cap must be a finite number ≥ 1; got 0.5")
    #expect(Self.message(["--gamma", "1"]) == "--gamma must be in [0, 1); got 1.0")
    #expect(Self.message(["--state", "rnn"]) == "--state must be history or context; got 'rnn'")
    #expect(Self.message(["--serving", "best"]) == "--serving must be sample or greedy; got 'best'")
    #expect(Self.message(["--slate-size", "60"]) == "--slate-size must be in 1…--pool (50); got 60")
    #expect(Self.message(["--rounds", "0"]) == "--rounds, --seeds, --logged-rounds and --epochs must be ≥ 1")
    #expect(Self.message(["--policy", "dqn,random", "--seeds", "2"]) == nil)
  }
}

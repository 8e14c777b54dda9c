import AffinityCLI
import ArgumentParser
import Testing

@Suite("affinity command line")
struct CommandTests {
  @Test func evaluateNeedsTrainAndTestOrData() {
    #expect(throws: (any Error).self) { _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd"]) }
    let message = AffinityCommand.message(for: ValidationError("x"))
    #expect(message == "x")
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--train", "a.tsv"])
      Issue.record("--train without --test must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error) == "--train and --test go together; add the missing one")
    }
  }

  @Test func evaluateRejectsAnUnknownModelBeforeReadingData() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd3", "--data", "x.tsv"])
      Issue.record("unknown model must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error).hasPrefix("no model named 'svd3'; run `affinity models` to list them"))
    }
  }

  @Test func evaluateRejectsAMalformedParameter() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--data", "x.tsv", "--param", "epochs"])
      Issue.record("malformed --param must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error) == "--param must look like key=value; got 'epochs'")
    }
  }

  @Test func evaluateTakesFeatureFilesAndCandidates() throws {
    let parsed = try AffinityCommand.parseAsRoot([
      "evaluate", "--model", "inductive", "--train", "a.tsv", "--test", "b.tsv", "--user-features", "u.user",
      "--item-features", "u.item", "--candidates", "test-items",
    ])
    #expect(String(describing: type(of: parsed)) == "EvaluateCommand")
    #expect(throws: (any Error).self) {
      _ = try AffinityCommand.parseAsRoot([
        "evaluate", "--model", "inductive", "--train", "a.tsv", "--test", "b.tsv", "--candidates", "some",
      ])
    }
  }

  @Test func splitNamesAreChecked() {
    do {
      _ = try AffinityCommand.parseAsRoot(["evaluate", "--model", "svd", "--data", "x.tsv", "--split", "sideways"])
      Issue.record("unknown split must be rejected")
    } catch {
      #expect(AffinityCommand.message(for: error).hasPrefix("--split must be one of random, user-temporal"))
    }
  }

  /// The first message a user sees for a bad command line.
  static func message(_ arguments: [String]) -> String? {
    do {
      var command = try AffinityCommand.parseAsRoot(arguments)
      try command.validate()
      return nil
    } catch {
      return AffinityCommand.message(for: error)
    }
  }

  @Test func newCommandsCheckTheirArgumentsBeforeReadingData() {
    #expect(Self.message(["ctr", "--train", "a", "--test", "b", "--model", "svd"])?.contains("lr, poly2, fm") == true)
    #expect(Self.message(["ope", "--log", "x.csv", "--evaluation-policy", "uniform", "--resamples", "10"])
      == "--resamples needs --truth to compute relative errors")
    #expect(Self.message(["ope", "--log", "x.csv", "--evaluation-policy", "uniform", "--folds", "0"]) == "--folds must be ≥ 1; got 0")
    #expect(Self.message(["simulate", "--data", "x", "--policy", "ucb1", "--environment", "casino"])
      == "--environment must be movielens; got 'casino'")
    #expect(Self.message(["simulate", "--data", "x", "--policy", "ucb1", "--rounds", "0"]) == "--rounds, --seeds and --arms must be ≥ 1")
  }
}

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
}

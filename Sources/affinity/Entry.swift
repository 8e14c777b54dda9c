import AffinityCLI
import ArgumentParser

/// The `affinity` executable. `serve` is asynchronous, so the entry point is too.
@main
struct Entry {
  static func main() async {
    await AffinityCommand.main()
  }
}

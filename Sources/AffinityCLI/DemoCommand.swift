import AffinityBandits
import AffinityCatalog
import AffinityCore
import AffinityEvaluation
import AffinityLinalg
import ArgumentParser
import Foundation

/// `affinity demo`: the whole loop on a synthetic movie world, no files needed.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Generate a synthetic movie world, train several models, compare them, recommend.",
    discussion: """
      Four parts on one seeded world, no files needed: rating prediction and top-N ranking for
      several models; recommendations for a known user; a brand-new user ranked from their
      demographics alone (cold start, the lightfm model); bandit policies learning online which
      of the 20 most-rated films to show.
      """)

  @Option(help: "Number of users.") var users: Int = 1_000
  @Option(help: "Number of items.") var items: Int = 1_700
  @Option(help: "Number of ratings.") var ratings: Int = 100_000
  @Option(help: "Seed for the world, the split and training.") var seed: UInt64 = 42
  @Option(help: "Comma-separated models to compare.")
  var models: String = "global-mean,baseline,knn-baseline,slope-one,svd,svdpp,als,ease"
  @Option(help: "User whose recommendations are shown.") var user: String = "1"

  func run() throws {
    try CLIErrors.mapped {
      print("Affinity demo: a synthetic movie world (seed \(seed))\n")
      let world = try SyntheticWorld(
        configuration: .init(userCount: users, itemCount: items, ratingCount: ratings), seed: seed)
      let data = world.ratings
      let split = try SplitMethod.random(testFraction: 0.2).split(data, seed: seed)
      print(
        "world: \(data.users.count) users × \(data.items.count) items, \(data.count) ratings "
          + String(format: "(mean %.2f, density %.2f%%)", data.globalMean, 100 * Double(data.count) / Double(data.users.count * data.items.count)))
      print("split: random 80/20 → \(split.train.count) train, \(split.test.count) test ratings\n")

      let bar = ProgressBar()
      var reports: [EvaluationReport] = []
      var fitted: [String: any Recommender] = [:]
      for name in models.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        let descriptor = try ModelCatalog.descriptor(named: name)
        bar.begin(descriptor.name)
        let tasks = descriptor.tasks.map { EvaluationTask(rawValue: $0.rawValue) ?? .ranking }
        let experiment = Experiment(model: descriptor.name, cutoff: 10, positiveThreshold: 4, seed: seed)
        let (model, report) = try experiment.run(on: split, tasks: tasks, progress: bar.callback)
        bar.finish(String(format: "fit %.2fs", report.fitSeconds))
        reports.append(report)
        fitted[descriptor.name] = model
      }
      print("\nRating prediction (lower is better) and top-10 ranking (positives: test ratings ≥ 4):\n")
      let rows = reports.map { r in
        [
          r.model, Output.number(r.metrics["rmse"]), Output.number(r.metrics["mae"]),
          Output.number(r.metrics["ndcg@10"]), Output.number(r.metrics["recall@10"]),
          Output.number(r.metrics["coverage@10"], digits: 3), String(format: "%.2fs", r.fitSeconds),
        ]
      }
      print(Output.table(["model", "rmse", "mae", "ndcg@10", "recall@10", "coverage@10", "fit"], rows))

      let best = reports.filter { $0.metrics["rmse"] != nil }.min { ($0.metrics["rmse"] ?? 9) < ($1.metrics["rmse"] ?? 9) }
      guard let best, let model = fitted[best.model] else { return }
      let userID = UserID(user)
      guard model.users.contains(userID) else {
        throw ValidationError("--user '\(user)' is not in the training data; try --user 1")
      }
      let profile = world.users.first { $0.id == userID }
      print("\nTop 5 for user \(user)" + (profile.map { " (\($0.age), \($0.gender), \($0.occupation))" } ?? "") + " by \(best.model):")
      if let u = model.users.index(of: userID) {
        let favourites = model.seen.range(ofRow: u)
          .sorted { model.seen.values[$0] > model.seen.values[$1] }.prefix(3)
          .compactMap { world.item(model.items[Int(model.seen.columns[$0])]) }
        print("  liked before: " + favourites.map { "\($0.title) [\($0.genres.joined(separator: ", "))]" }.joined(separator: "; "))
      }
      for (rank, scored) in try model.recommend(RecommendationQuery(user: userID, count: 5)).enumerated() {
        let item = world.item(scored.item)
        let genres = item?.genres.joined(separator: ", ") ?? ""
        let predicted = (model as? any RatingPredictor)?.predictedRating(user: userID, item: scored.item).value ?? scored.score
        print("  \(rank + 1). \(item?.title ?? scored.item.rawValue)  [\(genres)]  predicted \(Output.number(Double(predicted), digits: 2))")
      }
      try coldStart(world: world, split: split)
      try bandits(world: world)
      print("\nNext: `affinity models`, `affinity evaluate --data FILE --model svd`, `affinity compare --help`,")
      print("`affinity simulate --help`, `affinity ope --help`, `affinity ctr --help`.")
    }
  }

  /// A new user described only by demographics, ranked by the feature-embedding model.
  func coldStart(world: SyntheticWorld, split: DataSplit) throws {
    let features = try world.encodedFeatures()
    let bar = ProgressBar()
    bar.begin("lightfm")
    let descriptor = try ModelCatalog.descriptor(named: "lightfm")
    let model = try descriptor.fit(
      split.train, parameters: [("epochs", "15"), ("featureWeight", "1")], options: FitOptions(seed: seed, progress: bar.callback), features: features)
    bar.finish("")
    for description in [["gender=F", "age=18-24", "occupation=student"], ["gender=M", "age=56+", "occupation=retired"]] {
      print("\nCold start: a new user (\(description.joined(separator: ", "))) with no history, top 5 by lightfm:")
      if description.first == "gender=F" {
        print("  (in this world only the age band shapes taste, and weakly, so the two lists overlap)")
      }
      let list = try model.recommend(RecommendationQuery(user: "new-user", count: 5, features: description))
      for (rank, scored) in list.enumerated() {
        let item = world.item(scored.item)
        print("  \(rank + 1). \(item?.title ?? scored.item.rawValue)  [\(item?.genres.joined(separator: ", ") ?? "")]")
      }
    }
  }

  /// Bandit policies learning online which of the 20 most-rated films to show.
  func bandits(world: SyntheticWorld) throws {
    let features = try FeatureEncoder().encode(world.userFeatureTable())
    let environment = RatingSimulator(world.ratings, arms: 20, threshold: 4, userFeatures: features, name: "synthetic world")
    let rounds = 5_000
    let policies: [() -> any BanditPolicy] = [
      { RandomPolicy(arms: environment.armCount) }, { EpsilonGreedy(arms: environment.armCount) },
      { ThompsonSampling(arms: environment.armCount) },
      { LinUCB(arms: environment.armCount, dimension: environment.contextDimension) },
    ]
    let results = try policies.map { try BanditSimulation.run($0, on: environment, rounds: rounds, seeds: [1, 2, 3]) }
    print(
      "\nBandits: show one of the 20 most-rated films to a random user, reward 1 if they rated it ≥ 4; "
        + "\(rounds) rounds × 3 seeds (best fixed film: \(String(format: "%.3f", environment.bestFixedArmValue))):\n")
    print(Output.table(
      ["policy", "mean reward", "95% CI", "regret"],
      results.map {
        [$0.policy, String(format: "%.3f", $0.meanReward), String(format: "[%.3f, %.3f]", $0.ciLow, $0.ciHigh), String(format: "%.0f", $0.regret)]
      }))
  }
}

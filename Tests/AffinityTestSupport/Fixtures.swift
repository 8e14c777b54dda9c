public import AffinityCore
import Foundation
public import Testing

/// Small data sets with known structure, built in memory.
public enum Fixtures {
  /// A 3 × 3 rating matrix small enough to work out baselines by hand.
  ///
  /// ```
  ///        i1  i2  i3
  ///   u1    5   3   .
  ///   u2    4   .   1
  ///   u3    .   2   2
  /// ```
  public static func tinyRatings() throws -> InteractionData {
    try InteractionData(
      [
        Interaction(user: "u1", item: "i1", value: 5, timestamp: 1),
        Interaction(user: "u1", item: "i2", value: 3, timestamp: 2),
        Interaction(user: "u2", item: "i1", value: 4, timestamp: 3),
        Interaction(user: "u2", item: "i3", value: 1, timestamp: 4),
        Interaction(user: "u3", item: "i2", value: 2, timestamp: 5),
        Interaction(user: "u3", item: "i3", value: 2, timestamp: 6),
      ], source: "tiny ratings")
  }

  /// The world's demographics and item metadata as feature tables, encoded (gender, age,
  /// occupation; genres, year, title).
  public static func features(of world: SyntheticWorld) throws -> SideInformation {
    try world.encodedFeatures()
  }

  /// A small seeded synthetic world: 120 users × 150 items × 3,000 ratings.
  public static func smallWorld(seed: UInt64 = 7) throws -> SyntheticWorld {
    try SyntheticWorld(
      configuration: .init(userCount: 120, itemCount: 150, ratingCount: 3_000), seed: seed)
  }
}

extension Tag {
  /// Needs a real data set from `../shared/datasets`.
  @Tag public static var realData: Self
  /// Takes more than a few seconds in a debug build.
  @Tag public static var slow: Self
}

/// Switches read from the environment, so one test binary serves the edit loop and CI.
public enum TestEnvironment {
  /// `AFFINITY_SLOW_TESTS=1` turns on tests tagged `.slow`.
  public static let runsSlowTests =
    ProcessInfo.processInfo.environment["AFFINITY_SLOW_TESTS"] == "1"
  /// True on CI, where missing real data is a failure rather than a skip.
  public static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
}

/// The real data sets beside the checkout (`../shared/datasets`), never copied into the repo.
public enum RealData {
  /// `<repo>/../shared/datasets`, found from this file's location.
  public static let root: String = {
    if let override = ProcessInfo.processInfo.environment["AFFINITY_DATASETS"] { return override }
    let here = URL(fileURLWithPath: #filePath)  // <repo>/Tests/AffinityTestSupport/Fixtures.swift
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("shared/datasets").path
  }()

  /// MovieLens-100k interactions in RecBole format.
  public static let movieLensInteractions = root + "/ml-100k/ml-100k.inter"

  /// Whether a real-data test should run: yes when the file exists, and always on CI, where a
  /// missing data set must fail loudly instead of skipping.
  public static func shouldRun(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path) || TestEnvironment.isCI
  }

  /// A trait that skips (locally) with the reason when the data set is missing.
  public static func required(_ path: String) -> ConditionTrait {
    .enabled(
      if: shouldRun(path),
      "\(path) is missing; put MovieLens-100k in ../shared/datasets (CI=true makes this a failure)")
  }
}

// swift-tools-version: 6.2
import PackageDescription

// Hot loops are written with SIMD8 and stay correct without these flags; with them LLVM emits
// AVX2 + FMA instead of one libm fmaf() call per lane (see ../shared/PERFORMANCE.md, rule 1).
// SwiftPM accepts unsafeFlags in a root package or a path dependency, not in a versioned one.
var swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]
#if arch(x86_64)
  swiftSettings.append(.unsafeFlags(["-Xcc", "-march=x86-64-v3", "-Xcc", "-fno-math-errno"]))
#endif
// CI sets CI=true: warnings fail the build there, not in the edit loop.
if Context.environment["CI"] == "true" {
  swiftSettings.append(.treatAllWarnings(as: .error))
}

let package = Package(
  name: "Affinity",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "AffinityLinalg", targets: ["AffinityLinalg"]),
    .library(name: "AffinityCore", targets: ["AffinityCore"]),
    .library(name: "AffinityBaselines", targets: ["AffinityBaselines"]),
    .library(name: "AffinityFactorization", targets: ["AffinityFactorization"]),
    .library(name: "AffinityNeighbors", targets: ["AffinityNeighbors"]),
    .library(name: "AffinityContent", targets: ["AffinityContent"]),
    .library(name: "AffinityCTR", targets: ["AffinityCTR"]),
    .library(name: "AffinityOffPolicy", targets: ["AffinityOffPolicy"]),
    .library(name: "AffinityBandits", targets: ["AffinityBandits"]),
    .library(name: "AffinityCatalog", targets: ["AffinityCatalog"]),
    .library(name: "AffinityNeural", targets: ["AffinityNeural"]),
    .library(name: "AffinityReinforcement", targets: ["AffinityReinforcement"]),
    .library(name: "AffinityEvaluation", targets: ["AffinityEvaluation"]),
    .library(name: "AffinityStore", targets: ["AffinityStore"]),
    .library(name: "AffinityPipeline", targets: ["AffinityPipeline"]),
    .library(name: "AffinityServer", targets: ["AffinityServer"]),
    .executable(name: "affinity", targets: ["affinity"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.4.0"),
  ],
  targets: [
    // MARK: - Library (no CLI or server dependencies)
    .target(name: "AffinityLinalg", swiftSettings: swiftSettings),
    .target(name: "AffinityCore", dependencies: ["AffinityLinalg"], swiftSettings: swiftSettings),
    .target(
      name: "AffinityBaselines", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityFactorization", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityNeighbors", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityContent", dependencies: ["AffinityCore", "AffinityLinalg", "AffinityFactorization"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityCTR", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityOffPolicy", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityBandits", dependencies: ["AffinityCore", "AffinityLinalg"],
      swiftSettings: swiftSettings),
    // Neural engine: CPU tensors, layers with hand-written backward passes, optimisers.
    .target(name: "AffinityNeural", dependencies: ["AffinityCore", "AffinityLinalg"], swiftSettings: swiftSettings),
    // Deep RL recommenders (DRR, REINFORCE, DQN) and their simulators and protocols.
    .target(
      name: "AffinityReinforcement",
      dependencies: ["AffinityCore", "AffinityLinalg", "AffinityNeural", "AffinityFactorization", "AffinityBandits"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityCatalog",
      dependencies: [
        "AffinityCore", "AffinityBaselines", "AffinityFactorization", "AffinityNeighbors", "AffinityContent",
      ],
      swiftSettings: swiftSettings),
    .target(name: "AffinityPipeline", dependencies: ["AffinityCore", "AffinityLinalg"], swiftSettings: swiftSettings),
    .target(
      name: "AffinityEvaluation", dependencies: ["AffinityCore", "AffinityLinalg", "AffinityCatalog", "AffinityPipeline"],
      swiftSettings: swiftSettings),

    // The service's storage: SQLite through GRDB (kept out of the model targets).
    .target(
      name: "AffinityStore",
      dependencies: ["AffinityCore", .product(name: "GRDB", package: "GRDB.swift")],
      swiftSettings: swiftSettings),

    // MARK: - Edges
    .target(
      name: "AffinityServer",
      dependencies: [
        "AffinityCore", "AffinityCatalog", "AffinityStore", "AffinityPipeline",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ],
      exclude: ["web"],
      swiftSettings: swiftSettings),
    .target(
      name: "AffinityCLI",
      dependencies: [
        "AffinityCatalog", "AffinityEvaluation", "AffinityLinalg", "AffinityCTR", "AffinityOffPolicy", "AffinityBandits",
        "AffinityStore", "AffinityServer", "AffinityPipeline", "AffinityNeural", "AffinityReinforcement",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "affinity",
      dependencies: [
        "AffinityCLI",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings),

    // MARK: - Tests
    .target(
      name: "AffinityTestSupport", dependencies: ["AffinityCore", "AffinityLinalg", "AffinityCatalog"],
      path: "Tests/AffinityTestSupport", swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityLinalgTests", dependencies: ["AffinityLinalg"], swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityCoreTests", dependencies: ["AffinityCore", "AffinityLinalg", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityModelTests",
      dependencies: [
        "AffinityCore", "AffinityLinalg", "AffinityBaselines", "AffinityFactorization",
        "AffinityNeighbors", "AffinityContent", "AffinityCatalog", "AffinityEvaluation", "AffinityTestSupport",
      ],
      // Model files written by earlier builds, read by path in CompatibilityTests.
      exclude: ["Bundles"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityEvaluationTests",
      dependencies: ["AffinityEvaluation", "AffinityCatalog", "AffinityPipeline", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityCTRTests", dependencies: ["AffinityCTR", "AffinityCore", "AffinityLinalg", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityBanditsTests", dependencies: ["AffinityBandits", "AffinityCore", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityOffPolicyTests", dependencies: ["AffinityOffPolicy", "AffinityCore", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityNeuralTests", dependencies: ["AffinityNeural", "AffinityCore", "AffinityTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityReinforcementTests",
      dependencies: [
        "AffinityReinforcement", "AffinityNeural", "AffinityCore", "AffinityFactorization", "AffinityBandits",
        // The real-data protocol tests cut MovieLens with SplitMethod, as the CLI does.
        "AffinityEvaluation", "AffinityTestSupport",
      ],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityStoreTests",
      dependencies: ["AffinityStore", "AffinityTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityPipelineTests", dependencies: ["AffinityPipeline", "AffinityBaselines", "AffinityCore"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityServerTests",
      dependencies: [
        "AffinityServer", "AffinityStore", "AffinityCore", "AffinityTestSupport",
        .product(name: "HummingbirdTesting", package: "hummingbird"),
      ],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "AffinityCLITests",
      dependencies: [
        "AffinityCLI", "AffinityTestSupport", "AffinityStore", "AffinityPipeline", "AffinityOffPolicy", "AffinityCore", "AffinityBandits",
        "AffinityReinforcement", "AffinityFactorization", "AffinityLinalg",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings),
  ]
)

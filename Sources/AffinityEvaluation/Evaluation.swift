public import AffinityCore
import AffinityLinalg
import Foundation
public import AffinityPipeline

/// The outcome of evaluating one model on one test set.
public struct EvaluationReport: Sendable, Codable {
  public var model: String
  public var parameters: [String: String]
  /// Metric name → value, with names such as `rmse`, `ndcg@10`.
  public var metrics: [String: Double]
  public var fitSeconds: Double
  public var evaluateSeconds: Double
  /// Test rows (rating task) or test users with a positive (ranking task).
  public var testCount: Int
  /// Predictions where the model fell back (unknown ids, no neighbours).
  public var fallbackCount: Int
  public var unknownUsers: Int
  public var unknownItems: Int

  public init(
    model: String, parameters: [String: String] = [:], metrics: [String: Double] = [:],
    fitSeconds: Double = 0, evaluateSeconds: Double = 0, testCount: Int = 0, fallbackCount: Int = 0,
    unknownUsers: Int = 0, unknownItems: Int = 0
  ) {
    self.model = model
    self.parameters = parameters
    self.metrics = metrics
    self.fitSeconds = fitSeconds
    self.evaluateSeconds = evaluateSeconds
    self.testCount = testCount
    self.fallbackCount = fallbackCount
    self.unknownUsers = unknownUsers
    self.unknownItems = unknownItems
  }

  enum CodingKeys: String, CodingKey {
    case model, parameters, metrics
    case fitSeconds = "fit_seconds"
    case evaluateSeconds = "evaluate_seconds"
    case testCount = "test_count"
    case fallbackCount = "fallback_count"
    case unknownUsers = "unknown_users"
    case unknownItems = "unknown_items"
  }
}

/// Offline evaluation of trained models on held-out interactions.
public enum Evaluator {
  /// RMSE, MAE and FCP of `model` on every row of `test`, predictions clipped to the rating scale.
  ///
  /// Unknown users and items get the model's fallback and are counted, as Surprise does.
  public static func rating(_ model: any RatingPredictor, on test: InteractionData) -> EvaluationReport {
    let start = Date()
    let userMap = (0..<test.users.count).map { model.users.index(of: test.users[$0]) }
    let itemMap = (0..<test.items.count).map { model.items.index(of: test.items[$0]) }
    let scale = model.ratingScale
    let predictions = Parallel.mapChunks(count: test.count, chunkCount: 32) { range, _ in
      range.map { k -> RatingPrediction in
        var p = model.estimate(
          userIndex: userMap[Int(test.userIndices[k])], itemIndex: itemMap[Int(test.itemIndices[k])])
        p.value = min(max(p.value, scale.lowerBound), scale.upperBound)
        return p
      }
    }.flatMap { $0 }
    let predicted = predictions.map(\.value)
    var report = EvaluationReport(model: type(of: model).kind)
    report.metrics["rmse"] = RatingMetrics.rmse(actual: test.values, predicted: predicted)
    report.metrics["mae"] = RatingMetrics.mae(actual: test.values, predicted: predicted)
    report.metrics["fcp"] = RatingMetrics.fcp(
      users: test.userIndices.map { Int($0) }, actual: test.values, predicted: predicted)
    report.testCount = test.count
    report.fallbackCount = predictions.filter(\.isFallback).count
    report.unknownUsers = userMap.filter { $0 == nil }.count
    report.unknownItems = itemMap.filter { $0 == nil }.count
    report.evaluateSeconds = Date().timeIntervalSince(start)
    return report
  }

  /// Top-k ranking metrics over the full catalogue of training items.
  ///
  /// For each test user with at least one positive (test value ≥ `positiveThreshold`, or every
  /// test item when it is nil) the model ranks every training item except the user's training
  /// items. Positives the model never saw still count in |P|. Metrics are averaged over those
  /// users; coverage, novelty and Gini describe the top-k lists as a whole.
  ///
  /// With `candidates`, only those items are ranked (`--candidates test-items`: the cold-item
  /// protocol ranks the held-out items only).
  public static func ranking(
    _ model: any Recommender, on test: InteractionData, k: Int = 10, positiveThreshold: Float? = nil,
    candidates: Set<ItemID>? = nil
  ) -> EvaluationReport {
    let start = Date()
    let candidateMask: [Bool]? = candidates.map { set in (0..<model.items.count).map { set.contains(model.items[$0]) } }
    var positivesByUser: [[Int32]] = Array(repeating: [], count: test.users.count)
    var relevantCounts = [Int](repeating: 0, count: test.users.count)
    for row in 0..<test.count {
      guard positiveThreshold.map({ test.values[row] >= $0 }) ?? true else { continue }
      let u = Int(test.userIndices[row])
      relevantCounts[u] += 1
      if let i = model.items.index(of: test.items[Int(test.itemIndices[row])]) {
        positivesByUser[u].append(Int32(i))
      }
    }
    let evaluated = (0..<test.users.count).filter { relevantCounts[$0] > 0 }
    let itemCount = model.items.count
    let results = Parallel.mapChunks(count: evaluated.count, chunkCount: 32, minimumParallelCount: 64) {
      range, _ -> [(RankingMetrics, [Int], Bool)] in
      range.map { position in
        let testUser = evaluated[position]
        let user = test.users[testUser]
        let known = model.users.index(of: user)
        let query = RecommendationQuery(user: known == nil ? nil : user, count: k)
        var scores = (try? model.scores(for: query)) ?? [Float](repeating: 0, count: itemCount)
        if let u = known {
          for p in model.seen.range(ofRow: u) { scores[Int(model.seen.columns[p])] = -.infinity }
        }
        if let candidateMask {
          for i in 0..<scores.count where !candidateMask[i] { scores[i] = -.infinity }
        }
        let positives = Set(positivesByUser[testUser].map { Int($0) })
        let top = TopK.indices(of: scores, count: k)
        let (firstRank, auc) = fullRankStatistics(scores: scores, positives: positives)
        let metrics = RankingMetrics.at(
          k, ranked: top, isRelevant: { positives.contains($0) },
          relevantCount: relevantCounts[testUser], rankOfFirstRelevant: firstRank, auc: auc)
        return (metrics, top, known == nil)
      }
    }.flatMap { $0 }

    var sum = RankingMetrics()
    for r in results { sum.add(r.0) }
    let mean = sum.divided(by: Double(max(results.count, 1)))
    let lists = results.map(\.1)
    var itemUserCounts = [Int](repeating: 0, count: itemCount)
    for u in 0..<model.seen.rowCount {
      for p in model.seen.range(ofRow: u) { itemUserCounts[Int(model.seen.columns[p])] += 1 }
    }
    var report = EvaluationReport(model: type(of: model).kind)
    report.record(mean, at: k)
    report.metrics["mrr"] = mean.reciprocalRank
    report.metrics["auc"] = mean.auc
    // With a candidate set, coverage is the share of the candidates that were recommended.
    let catalogueSize = candidateMask.map { mask in mask.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? itemCount
    report.metrics["coverage@\(k)"] = DiversityMetrics.coverage(lists: lists, catalogueSize: catalogueSize)
    report.metrics["gini@\(k)"] = DiversityMetrics.gini(lists: lists, catalogueSize: itemCount)
    report.metrics["novelty@\(k)"] = DiversityMetrics.novelty(
      lists: lists, itemUserCounts: itemUserCounts, userCount: model.users.count)
    report.testCount = results.count
    report.unknownUsers = results.filter(\.2).count
    report.fallbackCount = report.unknownUsers
    report.evaluateSeconds = Date().timeIntervalSince(start)
    return report
  }

  /// Top-`k` metrics of the slates a served pipeline shows each test user: the same sources,
  /// filters, rules and exploration as `affinity serve`. Users the model has never met get
  /// what the pipeline's fallback sources give them. MRR counts within the slate only, and
  /// there is no AUC (a slate is not a full ranking).
  public static func ranking(
    through served: ServedPipeline, on test: InteractionData, k: Int = 10, positiveThreshold: Float? = nil, seed: UInt64 = 42
  ) -> EvaluationReport {
    let start = Date()
    var positivesByUser: [Set<ItemID>] = Array(repeating: [], count: test.users.count)
    for row in 0..<test.count where positiveThreshold.map({ test.values[row] >= $0 }) ?? true {
      positivesByUser[Int(test.userIndices[row])].insert(test.items[Int(test.itemIndices[row])])
    }
    let evaluated = (0..<test.users.count).filter { !positivesByUser[$0].isEmpty }
    let model = served.model
    let results = Parallel.mapChunks(count: evaluated.count, chunkCount: 32, minimumParallelCount: 64) {
      range, _ -> [(RankingMetrics, [ItemID], Bool)] in
      range.map { position in
        let testUser = evaluated[position]
        let user = test.users[testUser]
        let known = model.users.index(of: user) != nil
        let request = PipelineRequest(user: known ? user : nil, count: k, seed: seed &+ UInt64(testUser))
        let slate = ((try? served.run(request))?.items ?? []).map(\.item)
        let positives = positivesByUser[testUser]
        let firstRank = slate.firstIndex(where: positives.contains).map { $0 + 1 }
        let metrics = RankingMetrics.at(
          k, ranked: Array(slate.indices), isRelevant: { positives.contains(slate[$0]) }, relevantCount: positives.count,
          rankOfFirstRelevant: firstRank, auc: 0.5)
        return (metrics, slate, !known)
      }
    }.flatMap { $0 }
    var sum = RankingMetrics()
    for r in results { sum.add(r.0) }
    let mean = sum.divided(by: Double(max(results.count, 1)))
    var report = EvaluationReport(model: type(of: model).kind + "+pipeline")
    report.record(mean, at: k)
    report.metrics["mrr@\(k)"] = mean.reciprocalRank
    let shown = Set(results.flatMap(\.1))
    report.metrics["coverage@\(k)"] = Double(shown.count) / Double(max(model.items.count, 1))
    report.testCount = results.count
    report.unknownUsers = results.filter(\.2).count
    report.fallbackCount = report.unknownUsers
    report.evaluateSeconds = Date().timeIntervalSince(start)
    return report
  }

  /// The 1-based rank of the best-ranked positive and the AUC over candidates (finite scores).
  ///
  /// AUC = Σ over ranked positives of the negatives ranked below it, over `P · N`.
  static func fullRankStatistics(scores: [Float], positives: Set<Int>) -> (Int?, Double) {
    var candidates = (0..<scores.count).filter { scores[$0] > -.infinity }
    candidates.sort { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    let positiveCount = candidates.reduce(0) { $0 + (positives.contains($1) ? 1 : 0) }
    let negativeCount = candidates.count - positiveCount
    var firstRank: Int?
    var negativesAbove = 0
    var correctPairs = 0
    for (rank, item) in candidates.enumerated() {
      if positives.contains(item) {
        if firstRank == nil { firstRank = rank + 1 }
        correctPairs += negativeCount - negativesAbove
      } else {
        negativesAbove += 1
      }
    }
    guard positiveCount > 0, negativeCount > 0 else { return (firstRank, 0.5) }
    return (firstRank, Double(correctPairs) / (Double(positiveCount) * Double(negativeCount)))
  }
}

extension EvaluationReport {
  /// The top-`k` metrics both ranking protocols report, under their `@k` names.
  mutating func record(_ mean: RankingMetrics, at k: Int) {
    metrics["precision@\(k)"] = mean.precision
    metrics["recall@\(k)"] = mean.recall
    metrics["ndcg@\(k)"] = mean.ndcg
    metrics["map@\(k)"] = mean.averagePrecision
    metrics["hit@\(k)"] = mean.hit
  }
}

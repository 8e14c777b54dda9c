import AffinityCTR
import Foundation
import Testing

@Suite("CTR metrics")
struct CTRMetricsTests {
  @Test func aucCountsOrderedPairs() throws {
    // Positives 0.9, 0.4; negatives 0.5, 0.1: 3 of the 4 (positive, negative) pairs are ordered.
    let auc = try #require(CTRMetrics.auc(labels: [1, 0, 1, 0], scores: [0.9, 0.5, 0.4, 0.1]))
    #expect(abs(auc - 0.75) < 1e-12)
  }

  @Test func aucGivesTiesHalfCredit() throws {
    // Ranks by score: 0.2 → 1; the three 0.5s share rank 3; 0.8 → 5.
    // Positives sit at 3 and 5: (3 + 5 − 2·3/2) / (2 · 3) = 5/6.
    let auc = try #require(CTRMetrics.auc(labels: [0, 1, 0, 0, 1], scores: [0.2, 0.5, 0.5, 0.5, 0.8]))
    #expect(abs(auc - 5.0 / 6.0) < 1e-12)
    #expect(CTRMetrics.auc(labels: [1, 0, 1, 0], scores: [0.3, 0.3, 0.3, 0.3]) == 0.5)
    #expect(CTRMetrics.auc(labels: [1, 1, 0], scores: [0.1, 0.2, 0.9]) == 0)
  }

  @Test func aucIsUndefinedForOneClass() {
    #expect(CTRMetrics.auc(labels: [1, 1], scores: [0.2, 0.3]) == nil)
    #expect(CTRMetrics.auc(labels: [1, 0], scores: [0.2]) == nil)
  }

  @Test func logLossMatchesTheFormulaAndClips() throws {
    let loss = try #require(CTRMetrics.logLoss(labels: [1, 0], probabilities: [0.8, 0.3]))
    #expect(abs(loss - -(log(0.8) + log(0.7)) / 2) < 1e-6)
    // p = 1 for a negative would be infinite; clipping to 1 − 1e-7 gives −ln(1e-7) ≈ 16.118.
    let clipped = try #require(CTRMetrics.logLoss(labels: [0], probabilities: [1]))
    #expect(abs(clipped - -log(1e-7)) < 1e-3)
    #expect(CTRMetrics.logLoss(labels: [], probabilities: []) == nil)
  }
}

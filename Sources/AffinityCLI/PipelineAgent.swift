import AffinityBandits
import AffinityCatalog
import AffinityCore
import AffinityPipeline

/// A served pipeline in the slate simulator: the same value `affinity serve` answers with,
/// bound to a model trained once on the synthetic world's ratings and restricted to the
/// simulator's item pool. It does not learn during the run (the service retrains on a schedule,
/// not per click). A slate the pipeline leaves short (every pool item filtered) is topped up
/// with the pool's most-rated items, so the user always sees `slateSize` items.
struct PipelineAgent: SlateAgent {
  let served: ServedPipeline
  let environment: SlateEnvironment
  let poolIndex: [ItemID: Int]
  let name: String

  init(pipeline: Pipeline, model kind: String, parameters: [(String, String)], world: SyntheticWorld, environment: SlateEnvironment, seed: UInt64)
    throws
  {
    var bound = pipeline
    bound.filters.allow = environment.poolItems.map(\.rawValue)
    let model = try ModelCatalog.descriptor(named: kind).fit(
      world.ratings, parameters: parameters, options: FitOptions(seed: seed), features: try world.encodedFeatures())
    served = try ServedPipeline(pipeline: bound, model: model)
    self.environment = environment
    poolIndex = Dictionary(uniqueKeysWithValues: environment.poolItems.enumerated().map { ($1, $0) })
    name = "pipeline(\(kind), \(pipeline.exploration.method.rawValue))"
  }

  mutating func slate(for observation: SlateObservation, generator: inout SeededGenerator) throws(SlateSimulationError) -> [Int] {
    let request = PipelineRequest(
      user: environment.userIDs[observation.user], count: environment.slateSize, seed: generator.next())
    var slate = ((try? served.run(request))?.items ?? []).compactMap { poolIndex[$0.item] }
    for arm in 0..<environment.armCount where slate.count < environment.slateSize && !slate.contains(arm) { slate.append(arm) }
    return slate
  }

  mutating func learn(_ observation: SlateObservation, _ outcome: SlateFeedback) throws(SlateSimulationError) {}
}

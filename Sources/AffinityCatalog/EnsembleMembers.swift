import AffinityCore
import Foundation

/// What `blend` and `rank-blend` share: fitting catalogued members and storing them.
enum EnsembleMembers {
  /// One member in a saved ensemble: its kind and its own JSON.
  struct Stored: Codable {
    let kind: String
    let model: Data
  }

  /// Fits `descriptor` at its defaults with `options`' seed and thread count (no progress), and
  /// reports a member that cannot fit as a configuration error of `ensemble`.
  static func fit(
    _ descriptor: ModelDescriptor, _ data: InteractionData, options: FitOptions, ensemble: String
  ) throws(FitError) -> any Recommender {
    do {
      return try descriptor.fit(data, options: FitOptions(seed: options.seed, threadCount: options.threadCount))
    } catch let error as FitError {
      throw error
    } catch {
      throw .invalidConfiguration(
        ConfigurationError(
          model: ensemble, parameter: "models", value: descriptor.name, requirement: "models that fit (\(error))"))
    }
  }

  static func encode(_ members: [any Recommender]) throws -> [Stored] {
    try members.map { Stored(kind: type(of: $0).kind, model: try JSONEncoder().encode($0)) }
  }

  static func decode(_ stored: [Stored]) throws -> [any Recommender] {
    try stored.map { try ModelCatalog.descriptor(named: $0.kind).decode($0.model) }
  }
}

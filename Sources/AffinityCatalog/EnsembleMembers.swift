import AffinityCore
import Foundation

/// What `blend` and `rank-blend` share: fitting catalogued members and storing them.
enum EnsembleMembers {
  /// One member in a saved ensemble: its kind and its own `Codable` form, nested, so a bundle
  /// stores the member's arrays as tensors too. Older files hold the member as base64 JSON
  /// (`"model": "eyJ…"`); those still decode.
  struct Stored: Codable {
    let kind: String
    let model: any Recommender

    init(_ model: any Recommender) {
      kind = type(of: model).kind
      self.model = model
    }

    enum CodingKeys: String, CodingKey { case kind, model }

    init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      kind = try container.decode(String.self, forKey: .kind)
      let descriptor = try ModelCatalog.descriptor(named: kind)
      if let json = try? container.decode(Data.self, forKey: .model) {
        model = try descriptor.decode(json)
      } else {
        model = try descriptor.decode(from: container.superDecoder(forKey: .model))
      }
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(kind, forKey: .kind)
      try model.encode(to: container.superEncoder(forKey: .model))
    }
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

  static func encode(_ members: [any Recommender]) throws -> [Stored] { members.map(Stored.init) }

  static func decode(_ stored: [Stored]) throws -> [any Recommender] { stored.map(\.model) }
}

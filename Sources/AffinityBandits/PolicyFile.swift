public import AffinityCore
public import Foundation

/// Saves and loads bandit policies, statistics included, as one JSON document:
/// `{"format": "affinity-policy", "version": 1, "kind": "linucb", "policy": {…}}`.
///
/// Written atomically (temp file, fsync, rename); a truncated or edited file is refused with a
/// typed error, and so is a newer format version.
public enum PolicyFile {
  public static let format = "affinity-policy"
  public static let version = 1

  /// Every kind a file may hold, by the policy's `name`.
  static let kinds: [String: any BanditPolicy.Type] = [
    "random": RandomPolicy.self, "epsilon-greedy": EpsilonGreedy.self, "softmax": Softmax.self, "ucb1": UCB1.self,
    "kl-ucb": KLUCB.self, "thompson": ThompsonSampling.self, "gaussian-thompson": GaussianThompsonSampling.self,
    "linucb": LinUCB.self, "lin-ts": LinearThompsonSampling.self, "lin-epsilon-greedy": LinearEpsilonGreedy.self,
    "logistic-ucb": LogisticBandit.self, "logistic-ts": LogisticBandit.self, "hybrid-linucb": HybridLinUCB.self,
  ]

  struct Header: Codable {
    var format: String
    var version: Int
    var kind: String
  }

  struct Envelope<P: BanditPolicy>: Codable {
    var format: String
    var version: Int
    var kind: String
    var policy: P
  }

  static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
  }

  static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
  }

  public static func encode(_ policy: some BanditPolicy) throws(BundleError) -> Data {
    do {
      return try encoder().encode(Envelope(format: format, version: version, kind: policy.name, policy: policy))
    } catch {
      throw .writeFailed(file: policy.name, reason: "cannot encode the policy: \(error)")
    }
  }

  public static func write(_ policy: any BanditPolicy, to path: String) throws(BundleError) {
    try AtomicFile.write(try encode(policy), to: path)
  }

  public static func decode(_ data: Data, source: String) throws(BundleError) -> any BanditPolicy {
    let header: Header
    do {
      header = try decoder().decode(Header.self, from: data)
    } catch {
      throw .corrupted(file: source, reason: "not an Affinity policy file (\(describe(error)))")
    }
    guard header.format == format else {
      throw .corrupted(file: source, reason: "format is '\(header.format)', expected '\(format)'")
    }
    guard header.version <= version, header.version >= 1 else {
      throw .unsupportedFormatVersion(found: header.version, supported: 1...version)
    }
    guard let type = kinds[header.kind] else { throw .unknownKind(header.kind, known: kinds.keys.sorted()) }
    return try open(type, data, source)
  }

  static func open<P: BanditPolicy>(_ type: P.Type, _ data: Data, _ source: String) throws(BundleError) -> any BanditPolicy {
    do {
      let policy = try decoder().decode(Envelope<P>.self, from: data).policy
      guard policy.isConsistent else {
        throw BundleError.corrupted(file: source, reason: "the statistics do not match the number of arms or the context width")
      }
      return policy
    } catch let error as BundleError {
      throw error
    } catch {
      throw .corrupted(file: source, reason: describe(error))
    }
  }

  public static func read(_ path: String) throws(BundleError) -> any BanditPolicy {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .unreadable(file: path, reason: error.localizedDescription)
    }
    return try decode(data, source: path)
  }

  static func describe(_ error: any Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let context): "data corrupted at \(path(context.codingPath)): \(context.debugDescription)"
    case DecodingError.keyNotFound(let key, let context): "missing '\(key.stringValue)' at \(path(context.codingPath))"
    case DecodingError.typeMismatch(_, let context): "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
    case DecodingError.valueNotFound(_, let context): "missing value at \(path(context.codingPath))"
    default: "\(error)"
    }
  }

  static func path(_ keys: [any CodingKey]) -> String {
    keys.isEmpty ? "the top level" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
  }
}

import Foundation
import AffinityCore

/// A parameter name or value the catalog cannot apply.
public enum CatalogError: Error, Equatable, Sendable, CustomStringConvertible {
  case unknownModel(String, known: [String])
  case unknownParameter(model: String, parameter: String, known: [String])
  case invalidValue(model: String, parameter: String, value: String, expected: String)
  case malformedParameter(String)

  public var description: String {
    switch self {
    case .unknownModel(let name, let known):
      "no model named '\(name)'; run `affinity models` to list them (\(known.joined(separator: ", ")))"
    case .unknownParameter(let model, let parameter, let known):
      "\(model) has no parameter '\(parameter)'; its parameters are \(known.joined(separator: ", "))"
    case .invalidValue(let model, let parameter, let value, let expected):
      "\(model).\(parameter) must be \(expected); got '\(value)'"
    case .malformedParameter(let text):
      "--param must look like key=value; got '\(text)'"
    }
  }
}

/// A JSON value, for reading and writing configurations field by field.
enum JSONValue: Codable, Equatable {
  case bool(Bool)
  case number(Double)
  case string(String)
  case null

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let b = try? container.decode(Bool.self) {
      self = .bool(b)
    } else if let d = try? container.decode(Double.self) {
      self = .number(d)
    } else {
      self = .string(try container.decode(String.self))
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .bool(let b): try container.encode(b)
    case .number(let d): try container.encode(d)
    case .string(let s): try container.encode(s)
    case .null: try container.encodeNil()
    }
  }

  var text: String {
    switch self {
    case .bool(let b): String(b)
    case .number(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    case .string(let s): s
    case .null: "null"
    }
  }
}

/// Surprise's parameter names, mapped to ours; one alias may set several fields.
let parameterAliases: [String: [String]] = [
  "n_factors": ["embeddingSize"], "factors": ["embeddingSize"], "no_components": ["embeddingSize"],
  "iterations": ["epochs"], "alpha": ["confidenceWeight"], "cg_steps": ["cgSteps"],
  "K": ["neighborCount"], "item_alpha": ["itemRegularization", "regularization"],
  "user_alpha": ["userRegularization", "regularization"], "max_sampled": ["maximumSampled"],
  "n": ["positiveSampleCount"], "K1": ["bm25K1"], "B": ["bm25B"],
  "n_epochs": ["epochs", "baselineEpochs"],
  "method": ["method", "baselineMethod"], "learning_rate": ["learningRate", "baselineLearningRate"],
  "reg": ["regularization", "baselineRegularization"],
  "lr_all": ["learningRate", "biasLearningRate"],
  "reg_all": ["regularization", "biasRegularization"],
  "lr_pu": ["learningRate"], "lr_qi": ["learningRate"], "lr_yj": ["learningRate"],
  "reg_pu": ["regularization", "userRegularization"], "reg_qi": ["regularization", "itemRegularization"],
  "reg_yj": ["regularization"],
  "lr_bu": ["biasLearningRate"], "lr_bi": ["biasLearningRate"],
  "reg_bu": ["biasRegularization"], "reg_bi": ["biasRegularization"],
  "reg_u": ["userRegularization"], "reg_i": ["itemRegularization"],
  "init_std": ["initialStandardDeviation"], "init_mean": ["initialMean"],
  "init_low": ["initialLow"], "init_high": ["initialHigh"],
  "biased": ["usesBiases"],
  "k": ["neighborCount", "kthPositive"], "min_k": ["minimumNeighbors"], "user_based": ["userBased"],
  "name": ["similarity"], "sim": ["similarity"], "min_support": ["minimumSupport"],
]

extension ModelConfiguration {
  fileprivate func isALS(_ field: String, fields: [String: JSONValue]) -> Bool {
    fields[field] == .string("als")
  }
}

/// Reads and rewrites a ``ModelConfiguration`` as a flat dictionary of JSON values.
enum ConfigurationFields {
  static func fields<C: ModelConfiguration>(_ configuration: C) -> [String: JSONValue] {
    guard let data = try? JSONEncoder().encode(configuration),
      let fields = try? JSONDecoder().decode([String: JSONValue].self, from: data)
    else { return [:] }
    return fields
  }

  /// `base` with `parameters` applied; names may be ours or Surprise's.
  static func apply<C: ModelConfiguration>(
    _ parameters: [(String, String)], to base: C, model: String
  ) throws(CatalogError) -> C {
    var fields = fields(base)
    let known = fields.keys.sorted()
    for (name, value) in parameters {
      let targets: [String]
      if fields[name] != nil {
        targets = [name]
      } else if let aliased = parameterAliases[name]?.filter({ fields[$0] != nil }), !aliased.isEmpty {
        targets = aliased
      } else {
        throw .unknownParameter(model: model, parameter: name, known: known)
      }
      for target in targets {
        switch fields[target] {
        case .bool:
          switch value.lowercased() {
          case "true", "1", "yes": fields[target] = .bool(true)
          case "false", "0", "no": fields[target] = .bool(false)
          default:
            throw .invalidValue(model: model, parameter: target, value: value, expected: "true or false")
          }
        case .number(let old):
          guard let number = Double(value), number.isFinite else {
            throw .invalidValue(model: model, parameter: target, value: value, expected: "a number")
          }
          if old == old.rounded(), number != number.rounded(), isIntegerField(target, in: base) {
            throw .invalidValue(model: model, parameter: target, value: value, expected: "a whole number")
          }
          fields[target] = .number(number)
        default:
          // Enum-valued fields: accept Surprise's snake_case spelling too.
          fields[target] = .string(value.replacingOccurrences(of: "_", with: "-"))
        }
      }
    }
    // Surprise's SGD baselines default to 20 epochs, ALS to 10: follow a method change unless
    // the epochs were given too.
    let names = Set(parameters.map(\.0))
    for (method, epochs) in [("method", "epochs"), ("baselineMethod", "baselineEpochs")]
    where fields[method] == .string("sgd") && base.isALS(method, fields: Self.fields(base))
      && names.isDisjoint(with: [epochs, "n_epochs"])
    {
      fields[epochs] = .number(20)
    }
    guard let data = try? JSONEncoder().encode(fields) else { return base }
    do {
      return try JSONDecoder().decode(C.self, from: data)
    } catch {
      let field = parameters.last?.0 ?? "?"
      throw .invalidValue(
        model: model, parameter: field, value: parameters.last?.1 ?? "",
        expected: "a valid value for that field (see `affinity models --parameters`)")
    }
  }

  /// True when the field decodes only from whole numbers.
  static func isIntegerField<C: ModelConfiguration>(_ name: String, in base: C) -> Bool {
    var fields = fields(base)
    fields[name] = .number(0.5)
    guard let data = try? JSONEncoder().encode(fields) else { return false }
    return (try? JSONDecoder().decode(C.self, from: data)) == nil
  }
}

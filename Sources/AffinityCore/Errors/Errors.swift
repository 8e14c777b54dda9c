/// A hyperparameter outside its allowed range.
///
/// Message shape: `SVD.learningRate must be > 0; got -0.1`.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
  public var model: String
  public var parameter: String
  public var value: String
  public var requirement: String

  public init(
    model: String, parameter: String, value: some CustomStringConvertible, requirement: String
  ) {
    self.model = model
    self.parameter = parameter
    self.value = value.description
    self.requirement = requirement
  }

  public var description: String {
    "\(model).\(parameter) must be \(requirement); got \(value)"
  }
}

/// Checks shared by every `validate()`: each throws a ``ConfigurationError`` naming the field.
public struct ConfigurationCheck: Sendable {
  public let model: String
  public init(_ model: String) { self.model = model }

  public func positive(_ parameter: String, _ value: Int) throws(ConfigurationError) {
    if value < 1 {
      throw ConfigurationError(model: model, parameter: parameter, value: value, requirement: "≥ 1")
    }
  }

  public func positive(_ parameter: String, _ value: Float) throws(ConfigurationError) {
    if !(value > 0) || !value.isFinite {
      throw ConfigurationError(
        model: model, parameter: parameter, value: value, requirement: "a finite number > 0")
    }
  }

  public func nonNegative(_ parameter: String, _ value: Float) throws(ConfigurationError) {
    if !(value >= 0) || !value.isFinite {
      throw ConfigurationError(
        model: model, parameter: parameter, value: value, requirement: "a finite number ≥ 0")
    }
  }

  public func nonNegative(_ parameter: String, _ value: Int) throws(ConfigurationError) {
    if value < 0 {
      throw ConfigurationError(model: model, parameter: parameter, value: value, requirement: "≥ 0")
    }
  }

  public func oneOf(_ parameter: String, _ value: String, _ allowed: [String])
    throws(ConfigurationError)
  {
    if !allowed.contains(value) {
      throw ConfigurationError(
        model: model, parameter: parameter, value: "'\(value)'",
        requirement: "one of " + allowed.map { "'\($0)'" }.joined(separator: ", "))
    }
  }
}

/// Where in an input file a problem was found.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
  public var file: String
  public var line: Int?
  public var field: String?

  public init(file: String, line: Int? = nil, field: String? = nil) {
    self.file = file
    self.line = line
    self.field = field
  }

  public var description: String {
    var text = file
    if let line { text += ":\(line)" }
    if let field { text += " field '\(field)'" }
    return text
  }
}

/// A problem with training, test or feature data that the caller can fix.
public enum DataError: Error, Equatable, Sendable {
  /// No interactions at all.
  case empty(source: String)
  /// A file could not be opened or read.
  case unreadable(file: String, reason: String)
  /// A row has fewer fields than the format needs.
  case shortRow(SourceLocation, expected: Int, found: Int, fix: String)
  /// A field's text is not a valid value of its type.
  case invalidValue(SourceLocation, value: String, expected: String)
  /// Two header columns have the same name.
  case duplicateHeader(file: String, column: String)
  /// A column the caller asked for is not in the header.
  case missingColumn(file: String, column: String, available: [String])
  /// A value is NaN or infinite.
  case nonFiniteValue(user: UserID, item: ItemID)
  /// Two inputs disagree in size.
  case dimensionMismatch(what: String, expected: Int, actual: Int)
}

extension DataError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .empty(let source):
      "\(source) has no interactions; training needs at least one row of 'user item rating'"
    case .unreadable(let file, let reason):
      "cannot read '\(file)': \(reason)"
    case .shortRow(let location, let expected, let found, let fix):
      "\(location): expected \(expected) fields, found \(found); \(fix)"
    case .invalidValue(let location, let value, let expected):
      "\(location): '\(value)' is not \(expected); fix or remove that row"
    case .duplicateHeader(let file, let column):
      "\(file): the header names column '\(column)' twice; rename one of them"
    case .missingColumn(let file, let column, let available):
      "\(file): no column '\(column)' in the header; columns are "
        + available.map { "'\($0)'" }.joined(separator: ", ")
    case .nonFiniteValue(let user, let item):
      "the value for user '\(user)' and item '\(item)' is NaN or infinite; remove or fix that row"
    case .dimensionMismatch(let what, let expected, let actual):
      "\(what) has \(actual) entries but \(expected) were expected"
    }
  }
}

/// Why training stopped without producing a model.
public enum FitError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidConfiguration(ConfigurationError)
  case invalidData(DataError)
  case diverged(model: String, epoch: Int)
  /// The model needs user or item features and got none.
  case missingFeatures(model: String, needs: String)

  public var description: String {
    switch self {
    case .invalidConfiguration(let error): error.description
    case .invalidData(let error): error.description
    case .missingFeatures(let model, let needs):
      "\(model) needs \(needs); pass --user-features FILE and/or --item-features FILE "
        + "(GroupLens u.user/u.item, RecBole .user/.item or a CSV with a header)"
    case .diverged(let model, let epoch):
      "\(model): parameters became NaN or infinite at epoch \(epoch); "
        + "lower learningRate or raise regularization"
    }
  }
}

/// A request the model cannot answer as asked.
public enum QueryError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidCount(Int)
  case unknownUser(UserID)
  case unknownItem(ItemID)

  public var description: String {
    switch self {
    case .invalidCount(let count):
      "count must be between 1 and 10000; got \(count)"
    case .unknownUser(let user):
      "user '\(user)' was not in the training data; pass their recent items as `history` instead"
    case .unknownItem(let item):
      "item '\(item)' was not in the training data"
    }
  }
}

/// A model bundle that cannot be read or written.
public enum BundleError: Error, Equatable, Sendable, CustomStringConvertible {
  case unreadable(file: String, reason: String)
  case corrupted(file: String, reason: String)
  /// The file ends before the length its header gives (cut short by a copy or a full disk).
  case truncated(file: String, reason: String)
  /// A tensor's bytes do not hash to the SHA-256 its manifest records.
  case checksumMismatch(file: String, tensor: String)
  case unsupportedFormatVersion(found: Int, supported: ClosedRange<Int>, file: String? = nil)
  case unknownKind(String, known: [String], file: String? = nil)
  case writeFailed(file: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let file, let reason): "cannot read model bundle '\(file)': \(reason)"
    case .corrupted(let file, let reason):
      "model bundle '\(file)' is corrupted (\(reason)); retrain or restore it from a backup"
    case .truncated(let file, let reason):
      "model bundle '\(file)' is truncated (\(reason)); copy it again or retrain"
    case .checksumMismatch(let file, let tensor):
      "model bundle '\(file)' is corrupted: tensor '\(tensor)' does not match its SHA-256 in the manifest; "
        + "copy it again or retrain"
    case .unsupportedFormatVersion(let found, let supported, let file?):
      "'\(file)' was written by a newer Affinity (format \(found)); this build reads formats "
        + "\(supported.lowerBound)...\(supported.upperBound) — upgrade affinity"
    case .unsupportedFormatVersion(let found, let supported, nil):
      "bundle format \(found) is newer than this build reads "
        + "(\(supported.lowerBound)...\(supported.upperBound)); upgrade affinity or re-export the model"
    case .unknownKind(let kind, let known, let file):
      (file.map { "'\($0)' holds " } ?? "") + "model kind '\(kind)', which this build does not know; it knows "
        + known.joined(separator: ", ") + "; upgrade affinity or retrain with one of these"
    case .writeFailed(let file, let reason):
      "could not write '\(file)': \(reason); the previous file, if any, is unchanged"
    }
  }
}

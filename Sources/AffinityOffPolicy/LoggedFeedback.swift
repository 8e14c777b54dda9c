public import AffinityCore
import Foundation

/// Logged decisions of a slate policy: per round the context, the action shown at one position,
/// its reward and the logging policy's propensity, in the layout of the Open Bandit Dataset.
///
/// Positions are 0-based here (OBD's files count from 1). Contexts and action features are dense
/// rows of `contextWidth` / `actionFeatureWidth` values.
public struct LoggedFeedback: Sendable {
  public let rounds: Int
  public let actionCount: Int
  public let positionCount: Int
  public var actions: [Int32]
  public var positions: [Int32]
  public var rewards: [Double]
  public var propensities: [Double]
  /// `rounds × contextWidth`.
  public var contexts: [Double]
  public let contextWidth: Int
  /// `actionCount × actionFeatureWidth`.
  public let actionFeatures: [Double]
  public let actionFeatureWidth: Int
  public let source: String

  public init(
    rounds: Int, actionCount: Int, positionCount: Int, actions: [Int32], positions: [Int32], rewards: [Double],
    propensities: [Double], contexts: [Double], contextWidth: Int, actionFeatures: [Double], actionFeatureWidth: Int,
    source: String
  ) {
    self.rounds = rounds
    self.actionCount = actionCount
    self.positionCount = positionCount
    self.actions = actions
    self.positions = positions
    self.rewards = rewards
    self.propensities = propensities
    self.contexts = contexts
    self.contextWidth = contextWidth
    self.actionFeatures = actionFeatures
    self.actionFeatureWidth = actionFeatureWidth
    self.source = source
  }

  /// The on-policy value of the logging policy: the mean reward.
  public var meanReward: Double { rewards.reduce(0, +) / Double(max(rounds, 1)) }

  /// The rounds at `indices`, in that order (repeats allowed: bootstrap resamples).
  public func resampled(_ indices: [Int]) -> LoggedFeedback {
    var copy = self
    copy.actions = indices.map { actions[$0] }
    copy.positions = indices.map { positions[$0] }
    copy.rewards = indices.map { rewards[$0] }
    copy.propensities = indices.map { propensities[$0] }
    copy.contexts = indices.flatMap { contexts[($0 * contextWidth)..<(($0 + 1) * contextWidth)] }
    return copy
  }
}

/// Reads the Open Bandit Dataset: `all.csv` (index, timestamp, item_id, position, click,
/// propensity_score, user_feature_0…, user-item_affinity_0…) and `item_context.csv`.
///
/// Contexts are the one-hot user features (every category, in order of first appearance)
/// followed by the user–item affinities; action features are `item_feature_0` (numeric) and the
/// one-hot categorical item features.
public enum OpenBanditLog {
  public static func read(log logPath: String, itemContext contextPath: String?) throws(DataError) -> LoggedFeedback {
    let text = try DelimitedText(path: logPath)
    var header: [String] = []
    var rows: [(Int, [Range<Int>])] = []
    try text.forEachLine { line, bytes throws(DataError) in
      let fields = DelimitedText.fields(of: bytes, separator: .byte(UInt8(ascii: ",")))
      if header.isEmpty {
        header = fields.map { text.string($0) }
        return
      }
      guard fields.count == header.count else {
        throw .shortRow(
          SourceLocation(file: logPath, line: line), expected: header.count, found: fields.count,
          fix: "every row of an Open Bandit log has one field per header column")
      }
      rows.append((line, fields))
    }
    guard !rows.isEmpty else { throw .empty(source: logPath) }
    func column(_ name: String) throws(DataError) -> Int {
      guard let index = header.firstIndex(of: name) else {
        throw .missingColumn(file: logPath, column: name, available: header)
      }
      return index
    }
    let itemColumn = try column("item_id")
    let positionColumn = try column("position")
    let clickColumn = try column("click")
    let propensityColumn = try column("propensity_score")
    let userColumns = header.indices.filter { header[$0].hasPrefix("user_feature_") }
    let affinityColumns = header.indices.filter { header[$0].hasPrefix("user-item_affinity_") }
    func number(_ row: (Int, [Range<Int>]), _ c: Int, _ what: String) throws(DataError) -> Double {
      guard let value = text.number(row.1[c]), value.isFinite else {
        throw .invalidValue(SourceLocation(file: logPath, line: row.0, field: header[c]), value: text.string(row.1[c]), expected: what)
      }
      return value
    }
    var actions: [Int32] = []
    var positions: [Int32] = []
    var rewards: [Double] = []
    var propensities: [Double] = []
    var categories = userColumns.map { _ in [String: Int]() }
    var userValues: [[Int]] = []
    var affinities: [Double] = []
    for row in rows {
      let item = try number(row, itemColumn, "an item index ≥ 0")
      let position = try number(row, positionColumn, "a position ≥ 1")
      let propensity = try number(row, propensityColumn, "a propensity in (0, 1]")
      guard item >= 0, item == item.rounded(), position >= 1, position == position.rounded(),
        propensity > 0, propensity <= 1
      else {
        throw .invalidValue(
          SourceLocation(file: logPath, line: row.0, field: "item_id/position/propensity_score"),
          value: "\(text.string(row.1[itemColumn])), \(text.string(row.1[positionColumn])), \(text.string(row.1[propensityColumn]))",
          expected: "an item index ≥ 0, a position ≥ 1 and a propensity in (0, 1]")
      }
      actions.append(Int32(item))
      positions.append(Int32(position) - 1)
      rewards.append(try number(row, clickColumn, "a reward (click 0 or 1)"))
      propensities.append(propensity)
      userValues.append(userColumns.enumerated().map { n, c in
        let value = text.string(row.1[c])
        if let known = categories[n][value] { return known }
        categories[n][value] = categories[n].count
        return categories[n].count - 1
      })
      for c in affinityColumns { affinities.append(try number(row, c, "a number")) }
    }
    let offsets = categories.reduce(into: [0]) { $0.append(($0.last ?? 0) + $1.count) }
    let contextWidth = (offsets.last ?? 0) + affinityColumns.count
    var contexts = [Double](repeating: 0, count: rows.count * contextWidth)
    for r in 0..<rows.count {
      for (n, value) in userValues[r].enumerated() { contexts[r * contextWidth + offsets[n] + value] = 1 }
      for k in 0..<affinityColumns.count {
        contexts[r * contextWidth + (offsets.last ?? 0) + k] = affinities[r * affinityColumns.count + k]
      }
    }
    let actionCount = Int(actions.max() ?? 0) + 1
    let (actionFeatures, actionWidth) = try contextPath.map { path throws(DataError) in
      try readItemContext(path, actionCount: actionCount)
    } ?? ([Double](repeating: 0, count: actionCount), 1)
    return LoggedFeedback(
      rounds: rows.count, actionCount: actionCount, positionCount: Int(positions.max() ?? 0) + 1, actions: actions,
      positions: positions, rewards: rewards, propensities: propensities, contexts: contexts,
      contextWidth: contextWidth, actionFeatures: actionFeatures, actionFeatureWidth: actionWidth, source: logPath)
  }

  /// `item_context.csv`: numeric columns as they are, other columns one-hot.
  static func readItemContext(_ path: String, actionCount: Int) throws(DataError) -> ([Double], Int) {
    let text = try DelimitedText(path: path)
    var header: [String] = []
    var rows: [(Int, [String])] = []
    try text.forEachLine { line, bytes throws(DataError) in
      let fields = DelimitedText.fields(of: bytes, separator: .byte(UInt8(ascii: ","))).map { text.string($0) }
      if header.isEmpty { header = fields } else { rows.append((line, fields)) }
    }
    guard let itemColumn = header.firstIndex(of: "item_id") else {
      throw .missingColumn(file: path, column: "item_id", available: header)
    }
    let featureColumns = header.indices.filter { header[$0].hasPrefix("item_feature_") }
    let numeric = featureColumns.map { c in rows.allSatisfy { Double($0.1[c]) != nil } }
    var vocabularies = featureColumns.map { _ in [String: Int]() }
    for row in rows {
      for (n, c) in featureColumns.enumerated() where !numeric[n] && vocabularies[n][row.1[c]] == nil {
        vocabularies[n][row.1[c]] = vocabularies[n].count
      }
    }
    let widths = featureColumns.indices.map { numeric[$0] ? 1 : vocabularies[$0].count }
    let offsets = widths.reduce(into: [0]) { $0.append(($0.last ?? 0) + $1) }
    let width = max(offsets.last ?? 0, 1)
    var features = [Double](repeating: 0, count: actionCount * width)
    for row in rows {
      guard let item = Int(row.1[itemColumn]), (0..<actionCount).contains(item) else {
        throw .invalidValue(
          SourceLocation(file: path, line: row.0, field: "item_id"), value: row.1[itemColumn],
          expected: "an item index in 0..<\(actionCount) (the log's items)")
      }
      for (n, c) in featureColumns.enumerated() {
        if numeric[n] {
          features[item * width + offsets[n]] = Double(row.1[c]) ?? 0
        } else if let value = vocabularies[n][row.1[c]] {
          features[item * width + offsets[n] + value] = 1
        }
      }
    }
    return (features, width)
  }
}

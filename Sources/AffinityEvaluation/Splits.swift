public import AffinityCore
import AffinityLinalg

/// A train/test pair cut from one data set.
public struct DataSplit: Sendable {
  public let train: InteractionData
  public let test: InteractionData
  public init(train: InteractionData, test: InteractionData) {
    self.train = train
    self.test = test
  }
}

/// Problems a split can have: too little data for the requested cut.
public enum SplitError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidFraction(Double)
  case invalidFoldCount(Int, rows: Int)
  case emptyPart(method: String, part: String, fix: String)

  public var description: String {
    switch self {
    case .invalidFraction(let f): "test fraction must be in (0, 1); got \(f)"
    case .invalidFoldCount(let k, let rows): "fold count must be in 2...\(rows); got \(k)"
    case .emptyPart(let method, let part, let fix): "the \(method) split left the \(part) set empty; \(fix)"
    }
  }
}

/// Seeded ways to cut interactions into train and test.
///
/// Every method is deterministic for a seed. Temporal methods order by timestamp and break ties
/// by item id (numerically when both ids are numbers), then by row order.
public enum SplitMethod: Sendable, Equatable, Hashable {
  /// A uniformly random `testFraction` of rows (⌈f·n⌉, as Surprise's `train_test_split`).
  case random(testFraction: Double)
  /// Each user's latest `testFraction` of rows (rounded, at least one kept in train).
  case userTemporal(testFraction: Double)
  /// The latest `testFraction` of all rows by timestamp.
  case globalTemporal(testFraction: Double)
  /// Each user's latest row, for users with at least two.
  case leaveLastOut
  /// `testFraction` of users, all of their rows, go to test.
  case coldUsers(testFraction: Double)
  /// `testFraction` of items, all of their rows, go to test.
  case coldItems(testFraction: Double)

  /// The name used by the CLI.
  public var name: String {
    switch self {
    case .random: "random"
    case .userTemporal: "user-temporal"
    case .globalTemporal: "global-temporal"
    case .leaveLastOut: "leave-last-out"
    case .coldUsers: "cold-users"
    case .coldItems: "cold-items"
    }
  }

  /// Every CLI name.
  public static let names = [
    "random", "user-temporal", "global-temporal", "leave-last-out", "cold-users", "cold-items",
  ]

  /// The method called `name` with `testFraction`.
  public static func named(_ name: String, testFraction: Double) -> SplitMethod? {
    switch name {
    case "random": .random(testFraction: testFraction)
    case "user-temporal", "temporal": .userTemporal(testFraction: testFraction)
    case "global-temporal": .globalTemporal(testFraction: testFraction)
    case "leave-last-out", "loo": .leaveLastOut
    case "cold-users", "cold-user": .coldUsers(testFraction: testFraction)
    case "cold-items", "cold-item": .coldItems(testFraction: testFraction)
    default: nil
    }
  }

  /// Cuts `data`; the same seed gives the same rows.
  public func split(_ data: InteractionData, seed: UInt64) throws -> DataSplit {
    let testRows = try testRowMask(data, seed: seed)
    var train: [Int] = []
    var test: [Int] = []
    for k in 0..<data.count { if testRows[k] { test.append(k) } else { train.append(k) } }
    if train.isEmpty {
      throw SplitError.emptyPart(method: name, part: "train", fix: "lower the test fraction")
    }
    if test.isEmpty {
      throw SplitError.emptyPart(method: name, part: "test", fix: "raise the test fraction or use more data")
    }
    return DataSplit(
      train: try data.subset(train, source: "\(data.source) (train)"),
      test: try data.subset(test, source: "\(data.source) (test)"))
  }

  func testRowMask(_ data: InteractionData, seed: UInt64) throws -> [Bool] {
    var generator = SeededGenerator(seed: seed, stream: 11)
    var mask = [Bool](repeating: false, count: data.count)
    func checked(_ f: Double) throws -> Double {
      guard f > 0, f < 1 else { throw SplitError.invalidFraction(f) }
      return f
    }
    switch self {
    case .random(let f):
      let fraction = try checked(f)
      var order = Array(0..<data.count)
      generator.shuffle(&order)
      let testCount = Int((fraction * Double(data.count)).rounded(.up))
      for k in order.prefix(testCount) { mask[k] = true }
    case .userTemporal(let f):
      let fraction = try checked(f)
      let order = data.interactionIndicesByUser()
      for u in 0..<data.users.count {
        let rows = chronological(data.byUser.range(ofRow: u).map { Int(order[$0]) }, data)
        let testCount = min(Int((fraction * Double(rows.count)).rounded()), rows.count - 1)
        for k in rows.suffix(max(testCount, 0)) { mask[k] = true }
      }
    case .globalTemporal(let f):
      let fraction = try checked(f)
      let rows = chronological(Array(0..<data.count), data)
      let testCount = Int((fraction * Double(data.count)).rounded(.up))
      for k in rows.suffix(testCount) { mask[k] = true }
    case .leaveLastOut:
      let order = data.interactionIndicesByUser()
      for u in 0..<data.users.count {
        let rows = chronological(data.byUser.range(ofRow: u).map { Int(order[$0]) }, data)
        if rows.count >= 2, let last = rows.last { mask[last] = true }
      }
    case .coldUsers(let f):
      let fraction = try checked(f)
      var order = Array(0..<data.users.count)
      generator.shuffle(&order)
      var chosen = [Bool](repeating: false, count: data.users.count)
      for u in order.prefix(Int((fraction * Double(order.count)).rounded())) { chosen[u] = true }
      for k in 0..<data.count where chosen[Int(data.userIndices[k])] { mask[k] = true }
    case .coldItems(let f):
      let fraction = try checked(f)
      var order = Array(0..<data.items.count)
      generator.shuffle(&order)
      var chosen = [Bool](repeating: false, count: data.items.count)
      for i in order.prefix(Int((fraction * Double(order.count)).rounded())) { chosen[i] = true }
      for k in 0..<data.count where chosen[Int(data.itemIndices[k])] { mask[k] = true }
    }
    return mask
  }

  /// Rows ordered by (timestamp, item id, row).
  func chronological(_ rows: [Int], _ data: InteractionData) -> [Int] {
    rows.sorted { a, b in
      if data.timestamps[a] != data.timestamps[b] { return data.timestamps[a] < data.timestamps[b] }
      let ia = data.items[Int(data.itemIndices[a])].rawValue
      let ib = data.items[Int(data.itemIndices[b])].rawValue
      if ia != ib {
        if let na = Int(ia), let nb = Int(ib) { return na < nb }
        return ia < ib
      }
      return a < b
    }
  }
}

/// K-fold cross-validation folds: a seeded shuffle cut into `count` near-equal parts.
public func crossValidationFolds(_ data: InteractionData, count: Int, seed: UInt64) throws -> [DataSplit] {
  guard count >= 2, count <= data.count else {
    throw SplitError.invalidFoldCount(count, rows: data.count)
  }
  var generator = SeededGenerator(seed: seed, stream: 12)
  var order = Array(0..<data.count)
  generator.shuffle(&order)
  return try (0..<count).map { fold in
    let lower = data.count * fold / count
    let upper = data.count * (fold + 1) / count
    let test = Array(order[lower..<upper])
    let train = Array(order[..<lower]) + Array(order[upper...])
    return DataSplit(
      train: try data.subset(train, source: "\(data.source) (fold \(fold + 1) train)"),
      test: try data.subset(test, source: "\(data.source) (fold \(fold + 1) test)"))
  }
}

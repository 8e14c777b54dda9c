public import AffinityCore
import AffinityLinalg

/// Each user's positive items (rating ≥ a threshold) in time order, stored flat (CSR).
///
/// Order is by timestamp, then item id (numerically when both ids are numbers), then row, the
/// rule of the temporal splits in `AffinityEvaluation`. An item a user rated positively twice appears
/// once, at its latest position. The DRR state is the last N of these items, so the simulator
/// and the offline protocols build it the same way, from training data only.
///
/// - Complexity: O(n log n) to build; O(1) to read a user's slice.
public struct PositiveHistories: Sendable, Equatable {
  /// `userCount + 1` offsets into ``items``.
  public let starts: [Int]
  /// Item indices of the data the histories were built from, user after user.
  public let items: [Int]
  public let threshold: Float

  /// The positives of every user of `data` (indices are `data`'s).
  public init(_ data: InteractionData, threshold: Float) {
    self.threshold = threshold
    let order = data.interactionIndicesByUser()
    var starts = [0]
    var items: [Int] = []
    starts.reserveCapacity(data.users.count + 1)
    let numericID = data.items.ids.map { Int($0.rawValue) }
    for u in 0..<data.users.count {
      let rows = data.byUser.range(ofRow: u).map { Int(order[$0]) }.filter { data.values[$0] >= threshold }
      let sorted = rows.sorted { a, b in
        if data.timestamps[a] != data.timestamps[b] { return data.timestamps[a] < data.timestamps[b] }
        let ia = Int(data.itemIndices[a])
        let ib = Int(data.itemIndices[b])
        if ia != ib {
          if let na = numericID[ia], let nb = numericID[ib] { return na < nb }
          return data.items[ia].rawValue < data.items[ib].rawValue
        }
        return a < b
      }
      var seen = Set<Int>()
      var latestFirst: [Int] = []
      for row in sorted.reversed() where seen.insert(Int(data.itemIndices[row])).inserted {
        latestFirst.append(Int(data.itemIndices[row]))
      }
      items += latestFirst.reversed()
      starts.append(items.count)
    }
    self.starts = starts
    self.items = items
  }

  public var userCount: Int { starts.count - 1 }

  /// User `user`'s positive items, oldest first.
  public func items(of user: Int) -> ArraySlice<Int> { items[starts[user]..<starts[user + 1]] }

  /// The number of positive items of `user`.
  public func count(of user: Int) -> Int { starts[user + 1] - starts[user] }

  /// The latest `n` positives of `user` (fewer when the user has fewer), oldest first.
  public func latest(_ n: Int, of user: Int) -> [Int] { Array(items(of: user).suffix(max(n, 0))) }
}

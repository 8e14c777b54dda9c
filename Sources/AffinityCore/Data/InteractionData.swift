public import AffinityLinalg

/// One observed interaction: a user, an item, a value (a rating, a count, 1 for a click) and a time.
public struct Interaction: Sendable, Hashable, Codable {
  public var user: UserID
  public var item: ItemID
  public var value: Float
  /// Seconds since 1970, or 0 when the source has no time.
  public var timestamp: Int64

  public init(user: UserID, item: ItemID, value: Float = 1, timestamp: Int64 = 0) {
    self.user = user
    self.item = item
    self.value = value
    self.timestamp = timestamp
  }
}

/// A set of interactions with dense user and item indices, stored column-wise and as CSR.
///
/// Users and items are indexed in order of first appearance. ``byUser`` is the user × item
/// matrix in CSR (a user's items in input order), ``byItem`` its transpose. Repeated
/// (user, item) pairs are kept as separate rows, as Surprise keeps them.
///
/// - Complexity: building is `O(n)`; memory is about 36 bytes per interaction (20 in the columns, 8 in each CSR).
public struct InteractionData: Sendable {
  public let users: IDVocabulary<UserID>
  public let items: IDVocabulary<ItemID>
  public let userIndices: [Int32]
  public let itemIndices: [Int32]
  public let values: [Float]
  public let timestamps: [Int64]
  /// User × item, rows in user index order, entries in input order.
  public let byUser: SparseRowMatrix
  /// Item × user, the transpose of ``byUser``, each item's users in input order.
  public let byItem: SparseRowMatrix
  /// Where the data came from, for messages.
  public let source: String

  /// Data from interactions in order.
  public init(_ interactions: [Interaction], source: String = "the data") throws(DataError) {
    var builder = InteractionData.Builder(source: source)
    for interaction in interactions { try builder.append(interaction) }
    self = try builder.build()
  }

  /// Data from dense arrays already indexed against `users` and `items`.
  public init(
    users: IDVocabulary<UserID>, items: IDVocabulary<ItemID>, userIndices: [Int32],
    itemIndices: [Int32], values: [Float], timestamps: [Int64], source: String
  ) throws(DataError) {
    let n = userIndices.count
    guard n > 0 else { throw .empty(source: source) }
    for (what, count) in [
      ("item indices", itemIndices.count), ("values", values.count),
      ("timestamps", timestamps.count),
    ] where count != n {
      throw .dimensionMismatch(what: what, expected: n, actual: count)
    }
    for k in 0..<n where !values[k].isFinite {
      throw .nonFiniteValue(user: users[Int(userIndices[k])], item: items[Int(itemIndices[k])])
    }
    self.users = users
    self.items = items
    self.userIndices = userIndices
    self.itemIndices = itemIndices
    self.values = values
    self.timestamps = timestamps
    self.source = source
    byUser = SparseRowMatrix(
      rowCount: users.count, columnCount: items.count, rows: userIndices, columns: itemIndices,
      values: values)
    // Built from the triples, not by transposing, so each item's raters keep input order
    // (Surprise's neighbour tie-breaking depends on it).
    byItem = SparseRowMatrix(
      rowCount: items.count, columnCount: users.count, rows: itemIndices, columns: userIndices,
      values: values)
  }

  /// For each stored position of ``byUser``, the index of the interaction it came from (rows
  /// `userIndices[n]`, `itemIndices[n]`, …): user `u`'s interactions in input order are
  /// `order[byUser.range(ofRow: u)]`. Computed on demand in `O(n)`, so the CSR does not carry it.
  public func interactionIndicesByUser() -> [Int32] {
    var next = Array(byUser.rowStarts.dropLast())
    var order = [Int32](repeating: 0, count: count)
    for n in 0..<count {
      let u = Int(userIndices[n])
      order[next[u]] = Int32(n)
      next[u] += 1
    }
    return order
  }

  /// Number of interactions.
  public var count: Int { values.count }

  /// The interaction at row `k`.
  public subscript(k: Int) -> Interaction {
    Interaction(
      user: users[Int(userIndices[k])], item: items[Int(itemIndices[k])], value: values[k],
      timestamp: timestamps[k])
  }

  /// All interactions in order.
  public var interactions: [Interaction] { (0..<count).map { self[$0] } }

  /// The mean value, μ in the notation of the docs.
  public var globalMean: Float {
    var sum = 0.0
    for v in values { sum += Double(v) }
    return Float(sum / Double(max(count, 1)))
  }

  /// The lowest and highest value.
  public var valueRange: ClosedRange<Float> {
    guard let low = values.min(), let high = values.max() else { return 0...0 }
    return low...high
  }

  /// The rows at `indices`, in that order, with vocabularies rebuilt in order of appearance.
  public func subset(_ indices: [Int], source: String? = nil) throws(DataError) -> InteractionData {
    var builder = Builder(source: source ?? self.source)
    builder.reserve(indices.count)
    for k in indices {
      builder.append(
        user: users[Int(userIndices[k])], item: items[Int(itemIndices[k])], value: values[k],
        timestamp: timestamps[k])
    }
    return try builder.build()
  }

  /// Accumulates interactions and builds ``InteractionData`` once.
  public struct Builder: Sendable {
    public let source: String
    private var users = IDVocabulary<UserID>()
    private var items = IDVocabulary<ItemID>()
    private var userIndices: [Int32] = []
    private var itemIndices: [Int32] = []
    private var values: [Float] = []
    private var timestamps: [Int64] = []

    public init(source: String) { self.source = source }

    /// A builder whose vocabularies start as `users` and `items`, so existing ids keep their
    /// indices and new ones are appended (used to grow a trained model).
    public init(source: String, users: IDVocabulary<UserID>, items: IDVocabulary<ItemID>) {
      self.source = source
      self.users = users
      self.items = items
    }

    public var count: Int { values.count }

    public mutating func reserve(_ n: Int) {
      userIndices.reserveCapacity(n)
      itemIndices.reserveCapacity(n)
      values.reserveCapacity(n)
      timestamps.reserveCapacity(n)
    }

    public mutating func append(_ interaction: Interaction) throws(DataError) {
      guard interaction.value.isFinite else {
        throw .nonFiniteValue(user: interaction.user, item: interaction.item)
      }
      append(
        user: interaction.user, item: interaction.item, value: interaction.value,
        timestamp: interaction.timestamp)
    }

    public mutating func append(user: UserID, item: ItemID, value: Float, timestamp: Int64) {
      userIndices.append(Int32(users.insert(user)))
      itemIndices.append(Int32(items.insert(item)))
      values.append(value)
      timestamps.append(timestamp)
    }

    public func build() throws(DataError) -> InteractionData {
      try InteractionData(
        users: users, items: items, userIndices: userIndices, itemIndices: itemIndices,
        values: values, timestamps: timestamps, source: source)
    }
  }
}

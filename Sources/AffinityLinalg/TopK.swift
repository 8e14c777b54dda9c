/// Selection of the largest scores without sorting everything.
public enum TopK {
  /// Indices of the `count` largest finite-or-infinite scores, best first, ties by lower index.
  ///
  /// Entries equal to `-.infinity` or NaN are never returned. Runs in `O(n log count)` with a
  /// bounded min-heap and a threshold test that skips most entries once the heap is full.
  public static func indices(of scores: [Float], count: Int) -> [Int] {
    scores.withUnsafeBufferPointer { indices(of: $0, count: count) }
  }

  /// Indices of the `count` largest entries of a buffer, best first, ties by lower index.
  public static func indices(of scores: UnsafeBufferPointer<Float>, count: Int) -> [Int] {
    guard count > 0, let base = scores.baseAddress else { return [] }
    let n = scores.count
    var heap = BoundedMinHeap(capacity: min(count, n))
    // Once the heap is full, anything ≤ its worst score loses (equal scores lose on the later
    // index, and indices only grow), so most entries cost one comparison.
    var threshold = -Float.infinity
    var i = 0
    let raw = UnsafeRawPointer(base)
    while i + 8 <= n {
      // One comparison per 8 scores: the block's maximum against the threshold (a tree of
      // pointwise maxima; `any(mask)` here compiled to a slow generic reduction).
      let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
      // Eight scalar comparisons joined by `||`: LLVM turns them into one vector compare and
      // a mask test; `any(mask)` and `pointwiseMax` compiled to slow generic code here. A NaN
      // lane compares false and never hides a real score (a test pins this).
      let t = threshold
      if v[0] > t || v[1] > t || v[2] > t || v[3] > t || v[4] > t || v[5] > t || v[6] > t || v[7] > t {
        for j in i..<(i + 8) {
          let s = base[j]
          if s > threshold {
            heap.offer(score: s, index: j)
            if heap.isFull { threshold = heap.worstScore }
          }
        }
      }
      i += 8
    }
    while i < n {
      let s = base[i]
      if s > threshold {
        heap.offer(score: s, index: i)
        if heap.isFull { threshold = heap.worstScore }
      }
      i += 1
    }
    return heap.sortedDescending().map(\.index)
  }
}

/// A min-heap of `(score, index)` that keeps the `capacity` best pairs.
///
/// Order: higher score is better; on equal scores the lower index is better.
public struct BoundedMinHeap: Sendable {
  public struct Entry: Sendable, Equatable {
    public var score: Float
    public var index: Int
  }
  public let capacity: Int
  public private(set) var entries: [Entry] = []

  public init(capacity: Int) {
    self.capacity = max(0, capacity)
    entries.reserveCapacity(self.capacity)
  }

  @inline(__always)
  static func isWorse(_ a: Entry, _ b: Entry) -> Bool {
    a.score < b.score || (a.score == b.score && a.index > b.index)
  }

  /// True once `capacity` entries are kept.
  @inline(__always)
  public var isFull: Bool { entries.count == capacity }

  /// The score of the worst entry kept (meaningful when ``isFull``).
  @inline(__always)
  public var worstScore: Float { entries.isEmpty ? -.infinity : entries[0].score }

  /// The worst entry kept so far, once the heap is full.
  public var threshold: Entry? { entries.count == capacity ? entries.first : nil }

  /// Offers a candidate; keeps it if it beats the current worst.
  @inline(__always)
  public mutating func offer(score: Float, index: Int) {
    let entry = Entry(score: score, index: index)
    if entries.count < capacity {
      entries.append(entry)
      siftUp(entries.count - 1)
    } else if capacity > 0, BoundedMinHeap.isWorse(entries[0], entry) {
      entries[0] = entry
      siftDown(0)
    }
  }

  /// The kept entries, best first.
  public func sortedDescending() -> [Entry] {
    entries.sorted { BoundedMinHeap.isWorse($1, $0) }
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      if BoundedMinHeap.isWorse(entries[child], entries[parent]) {
        entries.swapAt(child, parent)
        child = parent
      } else {
        return
      }
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    let n = entries.count
    while true {
      let left = 2 * parent + 1
      if left >= n { return }
      var worst = left
      let right = left + 1
      if right < n, BoundedMinHeap.isWorse(entries[right], entries[left]) { worst = right }
      if BoundedMinHeap.isWorse(entries[worst], entries[parent]) {
        entries.swapAt(worst, parent)
        parent = worst
      } else {
        return
      }
    }
  }
}

import Dispatch

/// Deterministic data parallelism over a fixed partition of work.
///
/// The partition depends only on `count` and `chunkCount`, never on the number of threads, so a
/// computation whose chunks are independent (or reduced in chunk order) gives the same bytes on
/// one core or many.
public enum Parallel {
  /// When true, every parallel loop in this task runs on the calling thread; set it with
  /// `Parallel.$isSerial.withValue(true) { … }` to measure or debug single-threaded behaviour.
  @TaskLocal public static var isSerial = false

  /// Calls `body(range, chunk)` for `chunkCount` contiguous ranges covering `0..<count`.
  ///
  /// Chunks run concurrently on the available cores; `body` must only write state owned by its
  /// chunk. With `count` below `minimumParallelCount` everything runs on the calling thread.
  public static func forEachChunk(
    count: Int, chunkCount requested: Int = 128, minimumParallelCount: Int = 2_048,
    _ body: (Range<Int>, Int) -> Void
  ) {
    guard count > 0 else { return }
    let chunkCount = max(1, min(requested, count))
    let ranges = (0..<chunkCount).map { chunk in
      (count * chunk / chunkCount)..<(count * (chunk + 1) / chunkCount)
    }
    if count < minimumParallelCount || Parallel.isSerial {
      for (chunk, range) in ranges.enumerated() { body(range, chunk) }
      return
    }
    withoutActuallyEscaping(body) { escapable in
      let box = UncheckedBox(escapable)
      DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
        box.value(ranges[chunk], chunk)
      }
    }
  }

  /// Maps each chunk to a value and returns the values in chunk order, for ordered reductions.
  public static func mapChunks<T>(
    count: Int, chunkCount: Int = 64, minimumParallelCount: Int = 2_048,
    _ body: (Range<Int>, Int) -> T
  ) -> [T] {
    let chunks = max(1, min(chunkCount, max(count, 1)))
    var results = [T?](repeating: nil, count: chunks)
    results.withUnsafeMutableBufferPointer { buffer in
      let out = UncheckedBox(buffer)
      forEachChunk(count: count, chunkCount: chunks, minimumParallelCount: minimumParallelCount) {
        range, chunk in
        out.value[chunk] = body(range, chunk)
      }
    }
    return results.compactMap { $0 }
  }
}

/// Hands a value to concurrent chunks that each touch a disjoint part of it.
package struct UncheckedBox<T>: @unchecked Sendable {
  package var value: T
  package init(_ value: T) { self.value = value }
}

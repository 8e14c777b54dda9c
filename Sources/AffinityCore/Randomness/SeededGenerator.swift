import Foundation

/// A fast, seedable random number generator (xoshiro256**), with independent streams.
///
/// `SeededGenerator(seed: s, stream: k)` gives the same sequence on every platform for the same
/// `(s, k)`; parallel code gives each fixed chunk its own stream, so results do not depend on
/// the thread count.
///
/// Blackman, Vigna. "Scrambled Linear Pseudorandom Number Generators." 2021.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  @usableFromInline var s0: UInt64
  @usableFromInline var s1: UInt64
  @usableFromInline var s2: UInt64
  @usableFromInline var s3: UInt64

  public init(seed: UInt64, stream: UInt64 = 0) {
    var mix = seed ^ (stream &* 0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03
    func next() -> UInt64 {
      mix &+= 0x9E37_79B9_7F4A_7C15
      var z = mix
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = next()
    s1 = next()
    s2 = next()
    s3 = next()
  }

  @inlinable
  public mutating func next() -> UInt64 {
    let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << 45) | (s3 >> 19)
    return result
  }

  /// A uniform `Double` in `[0, 1)` with 53 random bits.
  @inlinable
  public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

  /// A standard normal draw (Box–Muller).
  public mutating func nextGaussian() -> Double {
    var u1 = nextUniform()
    while u1 <= .leastNormalMagnitude { u1 = nextUniform() }
    let u2 = nextUniform()
    return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
  }

  /// A uniform integer in `0..<upperBound`.
  @inlinable
  public mutating func nextInt(below upperBound: Int) -> Int {
    Int(truncatingIfNeeded: next(upperBound: UInt64(upperBound)))
  }

  /// Shuffles `array` in place (Fisher–Yates).
  @inlinable
  public mutating func shuffle<T>(_ array: inout [T]) {
    guard array.count > 1 else { return }
    for i in stride(from: array.count - 1, to: 0, by: -1) {
      let j = nextInt(below: i + 1)
      if i != j { array.swapAt(i, j) }
    }
  }
}

@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }

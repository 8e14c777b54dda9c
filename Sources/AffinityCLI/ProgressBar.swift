import AffinityCore
import Foundation

/// A one-line progress bar on standard error, redrawn in place when stderr is a terminal.
///
/// When stderr is not a terminal (CI logs, pipes) it prints one line per finished task instead,
/// so logs stay readable.
final class ProgressBar: @unchecked Sendable {
  private let lock = NSLock()
  private let isTerminal = isatty(2) != 0
  private let enabled: Bool
  private var label = ""
  private var started = Date()

  init(enabled: Bool = true) { self.enabled = enabled }

  /// Starts a new task.
  func begin(_ label: String) {
    fflush(nil)  // keep stdout lines ahead of the bar when both go to a terminal or log
    lock.withLock {
      self.label = label
      started = Date()
      draw(fraction: 0, detail: "")
    }
  }

  /// A `FitOptions.progress` callback that updates this bar.
  var callback: @Sendable (FitProgress) -> Void {
    { [self] progress in
      let detail =
        "step \(progress.step)/\(progress.totalSteps)"
        + (progress.loss.map { String(format: "  train rmse %.4f", $0) } ?? "")
      lock.withLock {
        draw(fraction: Double(progress.step) / Double(max(progress.totalSteps, 1)), detail: detail)
      }
    }
  }

  /// Shows `fraction` (0…1) done with a detail text.
  func update(fraction: Double, detail: String) {
    lock.withLock { draw(fraction: fraction, detail: detail) }
  }

  /// Ends the current task with a summary.
  func finish(_ summary: String) {
    lock.withLock {
      guard enabled else { return }
      if isTerminal {
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
      }
      FileHandle.standardError.write(Data("  ✓ \(label)  \(summary)\n".utf8))
    }
  }

  /// `m:ss` or `h:mm:ss`.
  static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600
      ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }

  private func draw(fraction: Double, detail: String) {
    guard enabled, isTerminal else { return }
    let width = 28
    let filled = Int((fraction * Double(width)).rounded())
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
    let elapsed = Date().timeIntervalSince(started)
    let eta = fraction > 0 && fraction < 1 ? "  ETA \(ProgressBar.clock(elapsed / fraction * (1 - fraction)))" : ""
    let line = "\r\u{1B}[2K  \(label) \(bar) \(Int(fraction * 100))%  \(ProgressBar.clock(elapsed))\(eta)  \(detail)"
    FileHandle.standardError.write(Data(line.utf8))
  }
}

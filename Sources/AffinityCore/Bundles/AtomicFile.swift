public import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Writes files so that a reader sees the old content or the new, never a torn one.
///
/// The bytes go to a temporary file in the same directory, which is flushed with `fsync` and
/// then renamed over the target; a failure at any step leaves the old file untouched.
public enum AtomicFile {
  public static func write(_ data: Data, to path: String) throws(BundleError) {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw .writeFailed(file: path, reason: "the directory '\(directory)' does not exist")
    }
    let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
      throw .writeFailed(file: path, reason: String(cString: strerror(errno)))
    }
    var written = 0
    let ok = data.withUnsafeBytes { raw -> Bool in
      guard let base = raw.baseAddress else { return true }
      while written < raw.count {
        let n = Glibc.write(fd, base + written, raw.count - written)
        if n <= 0 { return false }
        written += n
      }
      return true
    }
    let synced = fsync(fd) == 0
    close(fd)
    guard ok, synced else {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      throw .writeFailed(file: path, reason: reason)
    }
    guard rename(temporary, path) == 0 else {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      throw .writeFailed(file: path, reason: reason)
    }
  }

  /// Writes UTF-8 text atomically.
  public static func write(_ text: String, to path: String) throws(BundleError) {
    try write(Data(text.utf8), to: path)
  }
}

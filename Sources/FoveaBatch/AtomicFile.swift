import Foundation
import FoveaServer

/// Batch outputs use the server's crash-safe writes (temporary file, fsync, rename, fsync of the folder); a part on
/// disk is whole or absent, never half-written.
extension AtomicFile {
    /// Removes temporary files a killed writer left behind in `dir`.
    public static func removeLeftovers(in dir: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for n in names where n.hasPrefix(".") && n.contains(".tmp-") { unlink(dir.appendingPathComponent(n).path) }
    }
}

/// A batch job error: one message naming the setting, file or line.
public struct BatchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Writes all of `data` to a file descriptor; false when the other end is gone (EPIPE) or another error occurs.
/// (FileHandle.write traps on errors; a worker whose job died must exit quietly instead.)
@discardableResult
public func writeAll(_ fd: Int32, _ data: Data) -> Bool {
    data.withUnsafeBytes { raw -> Bool in
        var off = 0
        while off < raw.count {
            let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }
}

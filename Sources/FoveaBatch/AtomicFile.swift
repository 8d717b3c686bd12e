import Foundation

/// Crash-safe file writes: the bytes go to a temporary file in the same folder, are fsynced, then renamed over the
/// target, and the folder is fsynced — a reader (or a resumed job after `kill -9`) sees the old file or the whole new
/// one, never a part.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BatchError("cannot write \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; break }
                off += n
            }
        }
        let err = errno
        if ok && fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok else {
            unlink(tmp.path)
            throw BatchError("cannot write \(url.path): \(String(cString: strerror(err)))")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let e = errno
            unlink(tmp.path)
            throw BatchError("cannot rename into \(url.path): \(String(cString: strerror(e)))")
        }
        syncDirectory(dir)
    }

    public static func syncDirectory(_ dir: URL) {
        let d = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 { fsync(d); close(d) }
    }

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

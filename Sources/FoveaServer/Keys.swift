import Foundation

/// Endpoint keys: 32 random bytes from the system CSPRNG (getrandom), base64url without padding.
public struct EndpointKeys: Codable, Equatable, Sendable {
    public var primaryKey: String
    public var secondaryKey: String

    public static func generate() -> EndpointKeys { EndpointKeys(primaryKey: randomKey(), secondaryKey: randomKey()) }

    public static func randomKey() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Whether `presented` is either key, compared in constant time (no early exit on the first difference).
    public func accepts(_ presented: String) -> Bool {
        let a = constantTimeEquals(presented, primaryKey)
        let b = constantTimeEquals(presented, secondaryKey)
        return a || b
    }
}

/// Compares two strings in time that depends only on their lengths.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    let n = max(x.count, y.count)
    for i in 0..<n {
        let p = i < x.count ? x[i] : 0, q = i < y.count ? y[i] : 0
        diff |= p ^ q
    }
    return diff == 0
}

/// Writes files so that a crash never leaves a half-written one: a temporary file in the same folder,
/// fsync, rename over the target, fsync of the folder. `mode` applies before any byte is written.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL, mode: mode_t = 0o600) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw ConfigError("cannot write \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Foundation.write(fd, p.baseAddress! + off, p.count - off)
                if n <= 0 { ok = false; break }
                off += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp.path, url.path) == 0 else {
            unlink(tmp.path)
            throw ConfigError("cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
        let dfd = open(dir.path, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

import Foundation

/// Structured JSON log lines (one object per line) with the fields every line carries: time, level, message,
/// and whatever context the caller adds (deployment, instance, request_id, status, latency_ms...).
public final class JSONLog: @unchecked Sendable {
    private let lock: NSLock
    private let handle: FileHandle
    public let base: [String: String]

    public init(handle: FileHandle = .standardError, base: [String: String] = [:]) {
        self.handle = handle
        self.base = base
        lock = NSLock()
    }

    /// Appends to a file (created 0600 if missing).
    public static func file(_ url: URL, base: [String: String] = [:]) throws -> JSONLog {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot open log \(url.path): \(String(cString: strerror(errno)))") }
        return JSONLog(handle: FileHandle(fileDescriptor: fd, closeOnDealloc: true), base: base)
    }

    public func with(_ extra: [String: String]) -> JSONLog {
        JSONLog(handle: handle, base: base.merging(extra) { $1 }, sharing: lock)
    }
    private init(handle: FileHandle, base: [String: String], sharing: NSLock) {
        self.handle = handle
        self.base = base
        lock = sharing
    }

    public func info(_ msg: String, _ fields: [String: Any] = [:]) { write("info", msg, fields) }
    public func warning(_ msg: String, _ fields: [String: Any] = [:]) { write("warning", msg, fields) }
    public func error(_ msg: String, _ fields: [String: Any] = [:]) { write("error", msg, fields) }

    static let time: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    func write(_ level: String, _ msg: String, _ fields: [String: Any]) {
        var o: [String: Any] = base
        for (k, v) in fields { o[k] = v }
        o["ts"] = JSONLog.time.string(from: Date())
        o["level"] = level
        o["msg"] = msg
        guard var d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return }
        d.append(0x0A)
        lock.lock()
        handle.write(d)
        lock.unlock()
    }
}

/// A value shared between tasks under a lock.
public final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    public init(_ v: T) { value = v }
    public func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    public func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    @discardableResult public func update<R>(_ f: (inout T) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try f(&value)
    }
}

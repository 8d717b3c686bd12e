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

    /// One line, formatted by hand: Foundation's ISO8601DateFormatter and JSONSerialization cost ~250 µs a line
    /// here, more than the rest of a request's HTTP handling.
    func write(_ level: String, _ msg: String, _ fields: [String: Any]) {
        var o: [String: Any] = base
        for (k, v) in fields { o[k] = v }
        o["ts"] = JSONLog.timestamp()
        o["level"] = level
        o["msg"] = msg
        var line = "{"
        for (i, k) in o.keys.sorted().enumerated() {
            if i > 0 { line += "," }
            JSONLog.quote(k, into: &line)
            line += ":"
            switch o[k]! {
            case let b as Bool: line += b ? "true" : "false"
            case let n as Int: line += String(n)
            case let n as Int32: line += String(n)
            case let d as Double: line += d.isFinite ? String(d) : "null"
            case let s as String: JSONLog.quote(s, into: &line)
            case let v: JSONLog.quote("\(v)", into: &line)
            }
        }
        line += "}\n"
        let d = Data(line.utf8)
        lock.lock()
        handle.write(d)
        lock.unlock()
    }

    /// A JSON string exactly as JSONSerialization writes it (batch lines rely on that: FoveaBatch/FastJSON.swift).
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        var plain = true
        for u in s.utf8 where u < 0x20 || u == UInt8(ascii: "\"") || u == UInt8(ascii: "\\") { plain = false; break }
        if plain { out += s; out += "\""; return }
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        out += "\""
    }

    /// UTC, ISO 8601 with milliseconds: 2026-11-24T06:09:15.790Z.
    static func timestamp() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = time_t(tv.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(tv.tv_usec / 1000), 3))Z"
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

/// Work done a few milliseconds later, in batches, on one serial queue: per-request log lines. Formatting and
/// writing a line right after each answer woke a thread per request and competed for the CPU with the next
/// request (~60 µs of added latency on 2 vCPUs); deferred, the lines are written while the server waits on the
/// model. `flush()` writes what is pending (at shutdown); a crash can lose the last `delay` of lines.
public final class DeferredWork: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [@Sendable () -> Void] = []
    private var scheduled = false
    private let queue: DispatchQueue
    private let delay: DispatchTimeInterval
    private let maxPending: Int

    public init(label: String, delay: DispatchTimeInterval = .milliseconds(5), maxPending: Int = 256) {
        queue = DispatchQueue(label: label)
        self.delay = delay
        self.maxPending = maxPending
    }

    public func add(_ work: @escaping @Sendable () -> Void) {
        lock.lock()
        pending.append(work)
        let full = pending.count >= maxPending
        let schedule = !scheduled || full
        scheduled = true
        lock.unlock()
        if full { queue.async { self.run() } } else if schedule { queue.asyncAfter(deadline: .now() + delay) { self.run() } }
    }

    /// Runs everything added so far before returning.
    public func flush() { queue.sync { run() } }

    private func run() {
        lock.lock()
        let batch = pending
        pending = []
        scheduled = false
        lock.unlock()
        for w in batch { w() }
    }
}

import Foundation

/// The router → instance scoring hop: one length-prefixed frame each way over a loopback TCP connection
/// that stays open between requests (one request at a time per connection).
///
///     request:  "FVQ1" | u32 metaLength | u32 bodyLength | meta | body
///     response: "FVR1" | u32 status | u32 metaLength | u32 bodyLength | meta | body
///
/// Integers are little-endian; `meta` is string pairs (request: `request_id`, `content_type`; response:
/// `server_timing`, the model path's time; `row_errors` when rows were dropped), see `encodeMeta`; `body` is the HTTP body as is. It replaces an HTTP
/// request through AsyncHTTPClient and Hummingbird whose thread hops and parsing added ~1 ms a request.
/// Probes (`/live`, `/ready`) and direct calls to an instance still use its HTTP port.
enum Frame {
    static let requestMagic: [UInt8] = Array("FVQ1".utf8)
    static let responseMagic: [UInt8] = Array("FVR1".utf8)
    /// Largest meta block either side accepts.
    static let maxMeta = 1 << 16

    struct FormatError: Error, CustomStringConvertible { let description: String }

    /// meta: per entry u16 key length, key, u32 value length, value (UTF-8). Hand-rolled: Foundation's
    /// JSONSerialization cost ~40 µs per frame here.
    static func encodeMeta(_ m: [String: String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for (k, v) in m {
            let kb = Array(k.utf8.prefix(0xFFFF)), vb = Array(v.utf8)
            out.append(UInt8(kb.count & 0xFF)); out.append(UInt8(kb.count >> 8))
            out += kb
            out += u32(vb.count)
            out += vb
        }
        return out
    }

    static func decodeMeta(_ b: [UInt8]) throws -> [String: String] {
        var m: [String: String] = [:]
        var i = 0
        while i < b.count {
            guard i + 2 <= b.count else { throw FormatError(description: "truncated frame meta") }
            let kl = Int(b[i]) | Int(b[i + 1]) << 8
            i += 2
            guard i + kl + 4 <= b.count else { throw FormatError(description: "truncated frame meta") }
            let k = String(decoding: b[i..<i + kl], as: UTF8.self)
            i += kl
            let vl = Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24
            i += 4
            guard i + vl <= b.count else { throw FormatError(description: "truncated frame meta") }
            m[k] = String(decoding: b[i..<i + vl], as: UTF8.self)
            i += vl
        }
        return m
    }

    static func u32(_ v: Int) -> [UInt8] {
        let x = UInt32(v)
        return [UInt8(x & 0xFF), UInt8((x >> 8) & 0xFF), UInt8((x >> 16) & 0xFF), UInt8(x >> 24)]
    }

    static func readU32(_ p: UnsafeRawBufferPointer, _ at: Int) -> Int {
        Int(p[at]) | Int(p[at + 1]) << 8 | Int(p[at + 2]) << 16 | Int(p[at + 3]) << 24
    }

    /// `{"error": {"message": ...}}`, the body Hummingbird's HTTPError gives on the HTTP port.
    static func errorBody(_ message: String) -> Data {
        (try? JSONSerialization.data(withJSONObject: ["error": ["message": message]])) ?? Data()
    }
}

/// The instance side: a blocking accept loop, one thread per connection, each request answered on the
/// connection's own thread (no hand-offs between threads on the way in or out).
public final class FrameServer: @unchecked Sendable {
    /// The answer, and work to do once it is sent (its log line).
    public typealias Handler = @Sendable (_ meta: [String: String], _ body: Data)
        -> (status: Int, meta: [String: String], body: Data, after: (@Sendable () -> Void)?)
    public let port: Int
    private let fd: Int32
    private let maxBody: Int
    private let handler: Handler

    public init(host: String, maxBody: Int, handler: @escaping Handler) throws {
        self.maxBody = maxBody
        self.handler = handler
        (fd, port) = try Socket.listen(host: host, port: 0, what: "frame socket")

    }

    public func start() {
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                var one: Int32 = 1
                setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                Thread.detachNewThread { [self] in serve(c) }
            }
        }
    }

    private func serve(_ c: Int32) {
        defer { close(c) }
        var head = [UInt8](repeating: 0, count: 12)
        while true {
            guard readFully(c, &head, 12) else { return }
            let (metaLen, bodyLen) = head.withUnsafeBytes { (Frame.readU32($0, 4), Frame.readU32($0, 8)) }
            guard Array(head[0..<4]) == Frame.requestMagic, metaLen <= Frame.maxMeta else { return }
            var metaBytes = [UInt8](repeating: 0, count: metaLen)
            guard readFully(c, &metaBytes, metaLen) else { return }
            let answer: (status: Int, meta: [String: String], body: Data, after: (@Sendable () -> Void)?)
            if bodyLen > maxBody {
                // drain, then refuse, so the connection stays usable
                var scratch = [UInt8](repeating: 0, count: 1 << 16)
                var left = bodyLen
                while left > 0 {
                    let n = min(left, scratch.count)
                    guard readFully(c, &scratch, n) else { return }
                    left -= n
                }
                answer = (413, [:], Frame.errorBody("the request body is larger than \(maxBody) bytes"), nil)
            } else {
                var body = Data(count: bodyLen)
                let ok = body.withUnsafeMutableBytes { p in readFully(c, p.baseAddress!, bodyLen) }
                guard ok || bodyLen == 0 else { return }
                guard let meta = try? Frame.decodeMeta(metaBytes) else { return }
                answer = handler(meta, body)
            }
            let head = Frame.responseMagic + Frame.u32(answer.status) + Frame.u32(0) + Frame.u32(answer.body.count)
            let m = Frame.encodeMeta(answer.meta)
            var h = head
            h.replaceSubrange(8..<12, with: Frame.u32(m.count))
            h += m
            // header + meta and the body in one writev: no copy of the body
            let sent = h.withUnsafeBytes { hp in
                answer.body.withUnsafeBytes { bp in
                    Socket.sendAll(c, [(hp.baseAddress!, hp.count), (bp.baseAddress, bp.count)])
                }
            }
            answer.after?()
            guard sent else { return }
        }
    }

    private func readFully(_ c: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        (try? Socket.readFully(c, p, n, deadline: nil)) != nil
    }

    private func readFully(_ c: Int32, _ a: inout [UInt8], _ n: Int) -> Bool {
        if n == 0 { return true }
        return a.withUnsafeMutableBytes { readFully(c, $0.baseAddress!, n) }
    }
}

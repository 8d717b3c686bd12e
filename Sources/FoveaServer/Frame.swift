import Foundation

/// The router → instance scoring hop: one length-prefixed frame each way over a loopback TCP connection
/// that stays open between requests (one request at a time per connection).
///
///     request:  "FVQ1" | u32 metaLength | u32 bodyLength | meta | body
///     response: "FVR1" | u32 status | u32 metaLength | u32 bodyLength | meta | body
///
/// Integers are little-endian; `meta` is a JSON object of strings (request: `request_id`, `content_type`;
/// response: `row_errors` when rows were dropped); `body` is the HTTP body as is. It replaces an HTTP
/// request through AsyncHTTPClient and Hummingbird whose thread hops and parsing added ~1 ms a request.
/// Probes (`/live`, `/ready`) and direct calls to an instance still use its HTTP port.
enum Frame {
    static let requestMagic: [UInt8] = Array("FVQ1".utf8)
    static let responseMagic: [UInt8] = Array("FVR1".utf8)
    /// Largest meta block either side accepts.
    static let maxMeta = 1 << 16

    struct FormatError: Error, CustomStringConvertible { let description: String }

    static func encodeMeta(_ m: [String: String]) -> Data {
        (try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    static func decodeMeta(_ d: Data) throws -> [String: String] {
        guard let o = try JSONSerialization.jsonObject(with: d) as? [String: String] else {
            throw FormatError(description: "frame meta is not a JSON object of strings")
        }
        return o
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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConfigError("frame socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw ConfigError("frame socket: bad host \(host)") }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let e = String(cString: strerror(errno)); close(fd)
            throw ConfigError("frame socket: \(e)")
        }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: got.sin_port))
        self.fd = fd
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
                guard let meta = try? Frame.decodeMeta(Data(metaBytes)) else { return }
                answer = handler(meta, body)
            }
            let m = Frame.encodeMeta(answer.meta)
            var out = Data(Frame.responseMagic + Frame.u32(answer.status) + Frame.u32(m.count) + Frame.u32(answer.body.count))
            out.append(m)
            out.append(answer.body)
            let sent = out.withUnsafeBytes { writeFully(c, $0.baseAddress!, out.count) }
            answer.after?()
            guard sent else { return }
        }
    }

    private func readFully(_ c: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        var got = 0
        while got < n {
            let r = read(c, p + got, n - got)
            if r > 0 { got += r } else if r < 0 && errno == EINTR { continue } else { return false }
        }
        return true
    }

    private func readFully(_ c: Int32, _ a: inout [UInt8], _ n: Int) -> Bool {
        if n == 0 { return true }
        return a.withUnsafeMutableBytes { readFully(c, $0.baseAddress!, n) }
    }

    private func writeFully(_ c: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var sent = 0
        while sent < n {
            let r = send(c, p + sent, n - sent, Int32(MSG_NOSIGNAL))
            if r > 0 { sent += r } else if r < 0 && errno == EINTR { continue } else { return false }
        }
        return true
    }
}

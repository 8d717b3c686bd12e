import Foundation
import NIOCore
import NIOHTTP1

/// A request head as the scoring port parses it.
struct RequestHead {
    var method: String
    var uri: String
    var minorVersion: Int
    /// Names lower-cased, in order.
    var headers: [(String, String)]

    func first(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }

    var keepAlive: Bool {
        let c = first("connection")?.lowercased() ?? ""
        return minorVersion >= 1 ? !c.contains("close") : c.contains("keep-alive")
    }
}

/// How the body of a request is framed.
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
}

/// HTTP/1.1 on one blocking socket (the scoring port's connection threads): reads request heads and bodies
/// with a per-read time limit, writes responses with one sendmsg. Requests sent back to back (pipelined) are
/// read from the same buffer in order.
struct HTTPConnection {
    struct Failure: Error { let status: Int; let message: String }
    enum ReadError: Error { case closed, timedOut, bad(Failure) }

    let fd: Int32
    /// Longest wait for the next bytes of a request already started.
    var readTimeout: TimeAmount = .seconds(30)
    private var buf = [UInt8](repeating: 0, count: 16 << 10)
    private var start = 0, end = 0

    init(fd: Int32) { self.fd = fd }

    var buffered: Int { end - start }

    /// Reads more bytes into the buffer (growing it up to `limit`); throws on EOF or timeout.
    private mutating func fill(limit: Int) throws(ReadError) {
        if start > 0 && start == end { start = 0; end = 0 }
        if end == buf.count {
            if start > 0 {
                buf.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + start, end - start) }
                end -= start; start = 0
            } else if buf.count < limit {
                buf += [UInt8](repeating: 0, count: min(buf.count, limit - buf.count))
            } else {
                throw .bad(Failure(status: 431, message: "the request head is larger than \(limit) bytes"))
            }
        }
        let fd = self.fd, deadline = NIODeadline.now() + readTimeout, at = end
        do {
            end += try buf.withUnsafeMutableBytes { p in try Socket.receive(fd, p.baseAddress! + at, p.count - at, deadline: deadline) }
        } catch Socket.Failure.timedOut { throw .timedOut } catch { throw .closed }
    }

    /// Waits up to `timeout` for the first byte of the next request; false if none came (or the peer closed).
    mutating func awaitRequest(timeout: TimeAmount) -> Bool {
        if buffered > 0 { return true }
        if !Socket.waitReadable(fd, deadline: .now() + timeout) { return false }
        return true
    }

    /// The next request's head; `.closed` when the peer closed between requests.
    mutating func readHead(limit: Int = 64 << 10) throws(ReadError) -> (RequestHead, BodyFraming) {
        var scanFrom = start
        while true {
            if let e = findHeadEnd(from: scanFrom) {
                let head = try parseHead(start, e)
                start = e + 4
                return head
            }
            scanFrom = max(start, end - 3)
            let before = start
            try fill(limit: limit)
            scanFrom -= before - start  // the buffer may have moved
        }
    }

    private func findHeadEnd(from: Int) -> Int? {
        var i = max(from, start)
        while i + 3 < end {
            if buf[i] == 13 && buf[i + 1] == 10 && buf[i + 2] == 13 && buf[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    /// Parses the head in buf[a..<b] (without its final CRLF CRLF) byte by byte: no Foundation, no Character
    /// (grapheme) processing — `split`/`trimmingCharacters` on String cost ~60 µs a request here.
    private func parseHead(_ a: Int, _ b: Int) throws(ReadError) -> (RequestHead, BodyFraming) {
        let bad = { (m: String) in ReadError.bad(Failure(status: 400, message: m)) }
        return try buf.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(ReadError) -> (RequestHead, BodyFraming) in
            func lineEnd(_ from: Int) -> Int {
                var i = from
                while i + 1 < b && !(p[i] == 13 && p[i + 1] == 10) { i += 1 }
                return i + 1 < b ? i : b
            }
            func text(_ x: Int, _ y: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: p[x..<y]), as: UTF8.self) }
            // request line: METHOD SP target SP HTTP/1.x
            let e0 = lineEnd(a)
            var sp1 = a
            while sp1 < e0 && p[sp1] != 32 { sp1 += 1 }
            var sp2 = sp1 + 1
            while sp2 < e0 && p[sp2] != 32 { sp2 += 1 }
            guard sp1 > a, sp2 < e0, sp2 > sp1 + 1, p[sp1 + 1] == 47 || (sp2 == sp1 + 2 && p[sp1 + 1] == 42), e0 - sp2 == 9 else {
                throw bad("malformed request line")
            }
            let version = text(sp2 + 1, e0)
            guard version == "HTTP/1.1" || version == "HTTP/1.0" else { throw bad("malformed request line") }
            var headers: [(String, String)] = []
            headers.reserveCapacity(16)
            var i = e0 + 2
            while i < b {
                let e = lineEnd(i)
                guard p[i] != 32 && p[i] != 9 else { throw bad("malformed header line (folded)") }
                var colon = i
                while colon < e && p[colon] != 58 { colon += 1 }
                guard colon < e, colon > i else { throw bad("malformed header line") }
                var lower = [UInt8](UnsafeBufferPointer(rebasing: p[i..<colon]))
                for k in lower.indices {
                    let c = lower[k]
                    guard c > 32 && c < 127 else { throw bad("malformed header name") }
                    if c >= 65 && c <= 90 { lower[k] = c + 32 }
                }
                var v0 = colon + 1, v1 = e
                while v0 < v1 && (p[v0] == 32 || p[v0] == 9) { v0 += 1 }
                while v1 > v0 && (p[v1 - 1] == 32 || p[v1 - 1] == 9) { v1 -= 1 }
                headers.append((String(decoding: lower, as: UTF8.self), text(v0, v1)))
                i = e + 2
            }
            let head = RequestHead(method: text(a, sp1), uri: text(sp1 + 1, sp2), minorVersion: version == "HTTP/1.1" ? 1 : 0, headers: headers)
            return try framing(head)
        }
    }

    private func framing(_ head: RequestHead) throws(ReadError) -> (RequestHead, BodyFraming) {
        let bad = { (m: String) in ReadError.bad(Failure(status: 400, message: m)) }
        let headers = head.headers
        let te = headers.filter { $0.0 == "transfer-encoding" }.map { $0.1.lowercased() }
        let cl = headers.filter { $0.0 == "content-length" }.map(\.1)
        if !te.isEmpty {
            guard cl.isEmpty else { throw bad("both Content-Length and Transfer-Encoding") }
            guard te.last!.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) == "chunked" else {  // rare: Foundation is fine
                throw ReadError.bad(Failure(status: 501, message: "unsupported Transfer-Encoding \(te.last!)"))
            }
            return (head, .chunked)
        }
        if let v = cl.first {
            guard Set(cl).count == 1, let n = Int(v), n >= 0, v.allSatisfy(\.isASCII) else { throw bad("invalid Content-Length") }
            return (head, n == 0 ? .none : .length(n))
        }
        return (head, .none)
    }

    /// The body, up to `limit` bytes (a 413 failure past it; the connection is then unusable for chunked bodies).
    mutating func readBody(_ framing: BodyFraming, limit: Int) throws(ReadError) -> ByteBuffer {
        switch framing {
        case .none: return ByteBuffer()
        case .length(let n):
            guard n <= limit else { throw .bad(Failure(status: 413, message: "the request body is \(n) bytes; the limit is \(limit) bytes")) }
            var out = ByteBufferAllocator().buffer(capacity: n)
            try copyBody(n, into: &out)
            return out
        case .chunked:
            var out = ByteBufferAllocator().buffer(capacity: 64 << 10)
            while true {
                let line = try readLine()
                let hex = line.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let size = Int(hex, radix: 16), size >= 0 else { throw .bad(Failure(status: 400, message: "malformed chunk size")) }
                if size == 0 {
                    while try !readLine().isEmpty {}  // trailers
                    return out
                }
                guard out.readableBytes + size <= limit else {
                    throw .bad(Failure(status: 413, message: "the request body is larger than the limit of \(limit) bytes"))
                }
                try copyBody(size, into: &out)
                guard try readLine().isEmpty else { throw .bad(Failure(status: 400, message: "malformed chunk")) }
            }
        }
    }

    /// Reads and drops a body that will not be used; false when it is too long to be worth reading (the caller
    /// then closes the connection).
    mutating func discardBody(_ framing: BodyFraming) -> Bool {
        guard case .length(var n) = framing, n <= 64 << 20 else { return framing == .none }
        while n > 0 {
            if buffered == 0 { do { try fill(limit: buf.count) } catch { return false } }
            let k = min(n, buffered)
            start += k
            n -= k
        }
        return true
    }

    private mutating func copyBody(_ n: Int, into out: inout ByteBuffer) throws(ReadError) {
        let fromBuffer = min(n, buffered)
        buf.withUnsafeBytes { p in _ = out.writeBytes(UnsafeRawBufferPointer(rebasing: p[start..<start + fromBuffer])) }
        start += fromBuffer
        var left = n - fromBuffer
        let fd = self.fd, timeout = readTimeout
        while left > 0 {
            let got: Int
            do {
                got = try out.writeWithUnsafeMutableBytes(minimumWritableBytes: left) { p -> Int in
                    try Socket.receive(fd, p.baseAddress!, left, deadline: .now() + timeout)
                }
            } catch Socket.Failure.timedOut { throw .timedOut } catch { throw .closed }
            left -= got
        }
    }

    private mutating func readLine() throws(ReadError) -> String {
        while true {
            var i = start
            while i + 1 < end {
                if buf[i] == 13 && buf[i + 1] == 10 {
                    let s = String(decoding: buf[start..<i], as: UTF8.self)
                    start = i + 2
                    return s
                }
                i += 1
            }
            guard end - start < 8192 else { throw .bad(Failure(status: 400, message: "chunk line too long")) }
            try fill(limit: max(buf.count, 16 << 10))
        }
    }

    /// Status line, headers (plus Content-Length) and body in one sendmsg; false when the peer is gone.
    func write(status: Int, minorVersion: Int, headers: [(String, String)], body: ByteBuffer) -> Bool {
        var h = "HTTP/1.\(minorVersion) \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)\r\n"
        for (k, v) in headers { h += k; h += ": "; h += v; h += "\r\n" }
        h += "content-length: \(body.readableBytes)\r\n\r\n"
        let bytes = Array(h.utf8)
        return bytes.withUnsafeBytes { hp in
            body.withUnsafeReadableBytes { bp in Socket.sendAll(fd, [(hp.baseAddress, hp.count), (bp.baseAddress, bp.count)]) }
        }
    }

    /// `100 Continue`, for a client that waits for it before sending the body.
    func writeContinue() -> Bool {
        let s = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
        return s.withUnsafeBytes { Socket.sendAll(fd, [($0.baseAddress, $0.count)]) }
    }
}

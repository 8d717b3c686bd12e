import Foundation
import XCTest

/// The scoring port's HTTP/1.1 handling (ScoringFront.swift + HTTP1.swift), byte by byte over a raw socket to a
/// real `fovea serve`: pipelining, chunked bodies, 100-continue, HTTP/1.0, malformed heads, bodies of early
/// answers, limits.
final class ScoringPortTests: XCTestCase {
    static let cat = fixture("images/chelsea.jpg")

    /// A blocking client socket with a receive timeout and its own read buffer.
    final class Raw {
        let fd: Int32
        var buffer: [UInt8] = []

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard r == 0 else { throw NSError(domain: "Raw", code: 1) }
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ s: String) { send(Array(s.utf8)) }
        func send(_ d: Data) { send([UInt8](d)) }
        func send(_ b: [UInt8]) {
            var off = 0
            while off < b.count {
                let n = b.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, b.count - off, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return }
                off += n
            }
        }

        /// false: the peer closed (or the timeout passed) before more bytes came.
        private func more() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            guard n > 0 else { return false }
            buffer += chunk[0..<n]
            return true
        }

        struct Response { let status: Int; let headers: [String: String]; let body: Data }

        /// The next response (an interim 1xx has no body); nil if the connection closed first.
        func response() -> Response? {
            var end: Int?
            while true {
                if buffer.count >= 4 { end = (0...(buffer.count - 4)).first { buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10 } }
                if end != nil { break }
                guard more() else { return nil }
            }
            let head = String(decoding: buffer[0..<end!], as: UTF8.self).components(separatedBy: "\r\n")
            let status = Int(head[0].split(separator: " ")[1])!
            var headers: [String: String] = [:]
            for l in head.dropFirst() {
                let kv = l.split(separator: ":", maxSplits: 1)
                headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces)
            }
            buffer.removeFirst(end! + 4)
            let n = status < 200 ? 0 : Int(headers["content-length"] ?? "0")!
            while buffer.count < n { guard more() else { return nil } }
            let body = Data(buffer[0..<n])
            buffer.removeFirst(n)
            return Response(status: status, headers: headers, body: body)
        }

        /// True when the server closed the connection (nothing more to read).
        func closedByPeer() -> Bool { buffer.isEmpty && !more() }
    }

    func scoreHead(_ key: String, length: Int? = nil, extra: [String] = [], version: String = "1.1") -> String {
        var lines = ["POST /score HTTP/\(version)", "Host: 127.0.0.1", "Content-Type: image/jpeg", "Authorization: Bearer \(key)"]
        if let length { lines.append("Content-Length: \(length)") }
        return (lines + extra).joined(separator: "\r\n") + "\r\n\r\n"
    }

    func testHTTP11Framing() throws {
        let s = try TestServer(deployments: [TestServer.deployment("blue")], args: ["--max-body-bytes", "200000"])
        defer { s.stop() }
        try s.waitReady("blue")
        let key = s.keys().0
        let cat = Self.cat

        // pipelined: three requests in one write, answered in order on the same connection
        var c = try Raw(port: s.port)
        c.send("GET /live HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n" + scoreHead(key, length: cat.count, extra: ["X-Request-Id: second"]))
        c.send(cat)
        c.send("GET /ready HTTP/1.1\r\nHost: x\r\nX-Request-Id: third\r\n\r\n")
        let r1 = try XCTUnwrap(c.response()), r2 = try XCTUnwrap(c.response()), r3 = try XCTUnwrap(c.response())
        XCTAssertEqual([r1.status, r2.status, r3.status], [200, 200, 200])
        XCTAssertEqual([r1.headers["x-request-id"], r2.headers["x-request-id"], r3.headers["x-request-id"]], ["first", "second", "third"])
        XCTAssertEqual(r2.headers["azureml-model-deployment"], "blue")
        let reference = r2.body

        // chunked body (three chunks, a chunk extension, a trailer): the same answer as with Content-Length
        c.send(scoreHead(key, extra: ["Transfer-Encoding: chunked"]))
        let parts = [cat.prefix(1000), cat.dropFirst(1000).prefix(20000), cat.dropFirst(21000)]
        for (i, p) in parts.enumerated() {
            c.send(String(p.count, radix: 16) + (i == 1 ? ";ext=1" : "") + "\r\n")
            c.send(Data(p))
            c.send("\r\n")
        }
        c.send("0\r\nX-Trailer: t\r\n\r\n")
        let chunked = try XCTUnwrap(c.response())
        XCTAssertEqual(chunked.status, 200)
        XCTAssertEqual(chunked.body, reference)

        // Expect: 100-continue — the interim answer comes before the body is sent
        c.send(scoreHead(key, length: cat.count, extra: ["Expect: 100-continue"]))
        XCTAssertEqual(c.response()?.status, 100)
        c.send(cat)
        XCTAssertEqual(c.response()?.body, reference)

        // an early answer (401) with a body: the body is read and dropped, the connection stays usable
        c.send(scoreHead("wrong", length: cat.count))
        c.send(cat)
        XCTAssertEqual(c.response()?.status, 401)
        c.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.response()?.status, 200)

        // Connection: close is honoured
        c.send("GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(c.response()?.headers["connection"], "close")
        XCTAssertTrue(c.closedByPeer())

        // HTTP/1.0: closed after the answer unless keep-alive is asked for
        c = try Raw(port: s.port)
        c.send("GET /live HTTP/1.0\r\n\r\n")
        let old = try XCTUnwrap(c.response())
        XCTAssertEqual(old.status, 200)
        XCTAssertTrue(c.closedByPeer())
        c = try Raw(port: s.port)
        c.send(scoreHead(key, length: cat.count, extra: ["Connection: keep-alive"], version: "1.0"))
        c.send(cat)
        let kept = try XCTUnwrap(c.response())
        XCTAssertEqual(kept.headers["connection"], "keep-alive")
        XCTAssertEqual(kept.body, reference)
        c.send("GET /live HTTP/1.0\r\n\r\n")
        XCTAssertEqual(c.response()?.status, 200)

        // a chunked body past --max-body-bytes: 413 as soon as it passes, and the connection closes
        c = try Raw(port: s.port)
        c.send(scoreHead(key, extra: ["Transfer-Encoding: chunked"]))
        for _ in 0..<3 { c.send(String(100_000, radix: 16) + "\r\n"); c.send([UInt8](repeating: 65, count: 100_000)); c.send("\r\n") }
        let big = try XCTUnwrap(c.response())
        XCTAssertEqual(big.status, 413)
        XCTAssertTrue(String(decoding: big.body, as: UTF8.self).contains("200000"), String(decoding: big.body, as: UTF8.self))
        XCTAssertNotNil(big.headers["x-request-id"])

        // malformed heads: 400 with a message, then the connection closes
        for bad in ["NONSENSE\r\n\r\n", "GET /live HTTP/2.0\r\n\r\n", "GET /live HTTP/1.1\r\nno colon here\r\n\r\n",
                    "POST /score HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", "POST /score HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"] {
            c = try Raw(port: s.port)
            c.send(bad)
            let r = try XCTUnwrap(c.response(), bad)
            XCTAssertEqual(r.status, 400, bad)
            XCTAssertTrue(c.closedByPeer(), bad)
        }
        // a head over 64 KB: 431
        c = try Raw(port: s.port)
        c.send("GET /live HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\n\r\n")
        XCTAssertEqual(c.response()?.status, 431)

        // a peer that closes mid-body costs nothing: the server still answers others
        c = try Raw(port: s.port)
        c.send(scoreHead(key, length: cat.count))
        c.send(Data(cat.prefix(100)))
        c = try Raw(port: s.port)
        c.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.response()?.status, 200)
    }
}

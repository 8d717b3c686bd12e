import Foundation
import NIOCore
import ServiceLifecycle

/// The scoring port: HTTP/1.1 with one thread per connection and blocking I/O. A scoring request is read,
/// routed, sent to an instance and answered on its connection's thread, which sleeps in read()/poll() between
/// the steps and wakes straight into the next one — the same shape as the least a relay can do
/// (scripts/bench/relay_floor.c). On SwiftNIO the same path cost ~0.4 ms of CPU per request on this VM (the
/// event loop, channel pipeline, HTTP codec, a task and its continuation, run with cold caches after the
/// instance's 30 ms of compute), and the added latency per request was ~0.7 ms against the relay's ~0.1 ms.
/// Connections are capped (`maxConnections`; past it a 503 and close); an idle keep-alive connection closes
/// after `idleTimeout`; a started request must keep sending within 30 s. The management port stays on
/// Hummingbird (see Management.swift).
///
/// Routes: `GET /live`, `GET /ready`, `GET /metrics`, `GET /swagger.json`, `POST /score` (the default endpoint)
/// and `POST /endpoints/<name>/score`. Every answer carries `x-request-id`. A body whose Content-Length is over
/// the limit is refused (413) before it is read; a chunked one as soon as it passes the limit.
final class ScoringFront: Service, @unchecked Sendable {
    let server: EndpointServer
    let onBound: @Sendable (Int) -> Void
    static let maxConnections = 1024
    static let idleTimeout: TimeAmount = .seconds(120)
    private let lock = NSLock()
    /// Open connections: fd → whether it is inside a request.
    private var connections: [Int32: Bool] = [:]
    private var stopping = false

    init(server: EndpointServer, onBound: @escaping @Sendable (Int) -> Void) {
        self.server = server
        self.onBound = onBound
    }

    /// Listens until graceful shutdown; then stops accepting, lets every connection finish the request it is
    /// in (idle ones close within a quarter second) and returns when they are closed.
    func run() async throws {
        let (fd, port) = try Socket.listen(host: server.options.host, port: server.options.port, what: "scoring socket")
        onBound(port)
        let acceptor = Thread { [self] in acceptLoop(fd) }
        acceptor.name = "fovea-accept"
        acceptor.start()
        try? await gracefulShutdown()
        lock.withLock { stopping = true }
        shutdown(fd, Int32(SHUT_RDWR))  // wakes accept(); the acceptor closes fd
        let deadline = ContinuousClock.now + .seconds(server.options.drainSeconds)
        while lock.withLock({ !connections.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for c in lock.withLock({ Array(connections.keys) }) { shutdown(c, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop(_ fd: Int32) {
        defer { close(fd) }
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE { usleep(10_000); continue }
                return  // shut down
            }
            Socket.noDelay(c)
            let admitted: Bool = lock.withLock {
                guard !stopping, connections.count < Self.maxConnections else { return false }
                connections[c] = false
                return true
            }
            guard admitted else {
                let conn = HTTPConnection(fd: c)
                let a = Answer.error(503, "the server has too many open connections", headers: [("retry-after", "1"), ("connection", "close")])
                _ = conn.write(status: a.status, minorVersion: 1, headers: a.headers, body: a.body)
                close(c)
                continue
            }
            let t = Thread { [self] in serve(c) }
            t.stackSize = 512 << 10
            t.start()
        }
    }

    private func setBusy(_ fd: Int32, _ busy: Bool) -> Bool {
        lock.withLock { connections[fd] = busy; return stopping }
    }

    /// One connection: requests one after another until the peer closes, an error, idleness or shutdown.
    private func serve(_ fd: Int32) {
        defer {
            lingeringClose(fd)
            lock.withLock { connections[fd] = nil }
        }
        var conn = HTTPConnection(fd: fd)
        var idleSince = NIODeadline.now()
        while true {
            // between requests: wait for the next one's first byte, checking for shutdown and idleness
            while !conn.awaitRequest(timeout: .milliseconds(250)) {
                if lock.withLock({ stopping }) || NIODeadline.now() - idleSince > Self.idleTimeout { return }
            }
            _ = setBusy(fd, true)
            let head: RequestHead, framing: BodyFraming
            do {
                (head, framing) = try conn.readHead()
            } catch {
                if case .bad(let f) = error {
                    let a = Answer.error(f.status, f.message)
                    _ = conn.write(status: a.status, minorVersion: 1, headers: a.headers + [("x-request-id", randomRequestID()), ("connection", "close")], body: a.body)
                }
                return
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let given = head.first("x-request-id") ?? head.first("x-ms-client-request-id")
            let id = given.map { headerSafe($0, limit: 200) } ?? randomRequestID()
            var keepAlive = head.keepAlive
            let answer: Answer
            switch route(head, requestID: id) {
            case .answer(let a):
                answer = a
                // the body is not needed: read and drop it to keep the connection, unless the client waits for
                // a 100 Continue first or it is too long to be worth reading
                if framing != .none && (head.first("expect")?.lowercased() == "100-continue" || !conn.discardBody(framing)) { keepAlive = false }
            case .score(let e):
                if framing != .none, head.first("expect")?.lowercased() == "100-continue", !conn.writeContinue() { return }
                let body: ByteBuffer
                do {
                    body = try conn.readBody(framing, limit: server.options.maxBodyBytes)
                } catch {
                    guard case .bad(let f) = error else { return }
                    let a = Answer.error(f.status, f.message)
                    _ = write(conn, head: head, requestID: id, keepAlive: false, a)
                    return
                }
                answer = server.score(e, body: body, contentType: head.first("content-type"), pin: head.first("azureml-model-deployment"),
                                      requestID: id, started: started, path: head.uri)
            }
            let draining = setBusy(fd, false)
            keepAlive = keepAlive && !draining
            let sent = write(conn, head: head, requestID: id, keepAlive: keepAlive, answer)
            answer.after?()
            if !sent || !keepAlive { return }
            idleSince = NIODeadline.now()
        }
    }

    /// Closes after the peer has had our last answer: shutting down our side first and reading what the peer still
    /// sends (until it closes or is silent for 500 ms; at most 2 s and 4 MB), so that closing with unread bytes (a refused body) does not reset the connection
    /// and destroy the answer in flight (a 413, a 400).
    private func lingeringClose(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_WR))
        let end = NIODeadline.now() + .seconds(2)
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var total = 0
        while total < 4 << 20, NIODeadline.now() < end, Socket.waitReadable(fd, deadline: min(end, .now() + .milliseconds(500))) {
            let n = scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            total += n
        }
        close(fd)
    }

    private func write(_ conn: HTTPConnection, head: RequestHead, requestID: String, keepAlive: Bool, _ a: Answer) -> Bool {
        var h = a.headers
        h.reserveCapacity(h.count + 4)
        if let d = a.deployment { h.removeAll { $0.0 == "azureml-model-deployment" }; h.append(("azureml-model-deployment", d)) }
        h.removeAll { $0.0 == "x-request-id" }
        h.append(("x-request-id", requestID))
        if !keepAlive { h.append(("connection", "close")) } else if head.minorVersion == 0 { h.append(("connection", "keep-alive")) }
        return conn.write(status: a.status, minorVersion: head.minorVersion, headers: h, body: a.body)
    }

    // MARK: routing

    /// What the head alone decides: an answer now, or a scoring request whose body is to be collected.
    enum Route {
        case answer(Answer)
        case score(EndpointRuntime)
    }

    func route(_ head: RequestHead, requestID: String) -> Route {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case ("GET", "/live"): return .answer(.json(200, ["live": true]))
        case ("GET", "/ready"):
            let ready = !server.isDraining && (server.defaultEndpoint.flatMap { server.endpoint($0)?.isReady } ?? false)
            return .answer(.json(ready ? 200 : 503, ["ready": ready]))
        case ("GET", "/metrics"):
            return .answer(Answer(status: 200, headers: [("content-type", "text/plain; version=0.0.4")],
                                  body: ByteBuffer(string: server.metrics.text())))
        case ("GET", "/swagger.json"): return .answer(.json(200, Swagger.document))
        default: break
        }
        let name: String?
        if path == "/score" { name = server.defaultEndpoint } else {
            let parts = path.split(separator: "/")
            guard parts.count == 3, parts[0] == "endpoints", parts[2] == "score" else {
                return .answer(.error(404, "no route for \(head.method) \(path)"))
            }
            name = String(parts[1])
        }
        guard head.method == "POST" else {
            return .answer(.error(405, "\(path) takes POST", headers: [("allow", "POST")]))
        }
        guard let name, let e = server.endpoint(name) else { return .answer(.error(404, "no endpoint for \(path)")) }
        guard e.authorize(head.first("authorization")) else {
            server.log.warning("unauthorized", ["request_id": requestID, "endpoint": name])
            return .answer(.error(401, "missing or invalid credentials: send Authorization: Bearer <key> (fovea endpoint get-credentials --name \(name))",
                                  headers: [("www-authenticate", "Bearer")]))
        }
        if let len = head.first("content-length").flatMap({ Int($0) }), len > server.options.maxBodyBytes {
            return .answer(.error(413, "the request body is \(len) bytes; the limit is \(server.options.maxBodyBytes) bytes"))
        }
        if server.isDraining {
            return .answer(.error(503, "the server is shutting down", headers: [("retry-after", "1")]))
        }
        return .score(e)
    }
}

extension Answer {
    static func json(_ status: Int, _ object: Any) -> Answer {
        let d = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return Answer(status: status, headers: [("content-type", "application/json")], body: ByteBuffer(data: d))
    }
}

/// A random (version 4) UUID in lower-case hex, for requests that come without an id. Foundation's
/// `UUID().uuidString` took ~30 µs here.
func randomRequestID() -> String {
    var g = SystemRandomNumberGenerator()
    var b = [UInt8](repeating: 0, count: 16)
    for i in stride(from: 0, to: 16, by: 8) {
        let r = g.next()
        for j in 0..<8 { b[i + j] = UInt8(truncatingIfNeeded: r >> (8 * j)) }
    }
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    let hex = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(36)
    for (i, x) in b.enumerated() {
        if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
        out.append(hex[Int(x >> 4)])
        out.append(hex[Int(x & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

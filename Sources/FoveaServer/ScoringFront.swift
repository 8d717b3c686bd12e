import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The scoring port: HTTP/1.1 on SwiftNIO's own pipeline, with each request handled on the event loop that
/// read it. A scoring request's task prefers that loop as its executor, so routing, admission, the frame to the
/// instance (whose connection lives on the same loop), the reply and the response all run on one thread: no
/// hand-offs to Swift's cooperative pool and back (through Hummingbird, whose handlers run on that pool, a
/// trivial GET took 220 µs against 95 µs here, and a loopback round trip is 27 µs). The management port stays
/// on Hummingbird (see Management.swift).
///
/// Routes: `GET /live`, `GET /ready`, `GET /metrics`, `GET /swagger.json`, `POST /score` (the default endpoint)
/// and `POST /endpoints/<name>/score`. Every answer carries `x-request-id`. A body whose Content-Length is over
/// the limit is refused (413) before it is read; a chunked one as soon as it passes the limit.
final class ScoringFront: Service, @unchecked Sendable {
    let server: EndpointServer
    let group: MultiThreadedEventLoopGroup
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: Channel] = [:]
    let onBound: @Sendable (Int) -> Void

    init(server: EndpointServer, group: MultiThreadedEventLoopGroup = .singleton, onBound: @escaping @Sendable (Int) -> Void) {
        self.server = server
        self.group = group
        self.onBound = onBound
    }

    /// Listens until graceful shutdown; then stops accepting, lets every connection finish the request it is
    /// in (idle ones close at once) and returns when they are closed.
    func run() async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // a request body (an image, tens to hundreds of KB) in one read, not 2 KB at a time
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 256 << 10, maximum: 4 << 20))
            .childChannelOption(.maxMessagesPerRead, value: 64)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try ch.pipeline.syncOperations.addHandler(FrontHandler(front: self))
                    self.track(ch)
                }
            }
            .bind(host: server.options.host, port: server.options.port).get()
        onBound(channel.localAddress?.port ?? 0)
        try? await gracefulShutdown()
        try? await channel.close()
        let open = lock.withLock { Array(connections.values) }
        for c in open { c.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        let deadline = ContinuousClock.now + .seconds(server.options.drainSeconds)
        while lock.withLock({ !connections.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for c in lock.withLock({ Array(connections.values) }) { try? await c.close() }
    }

    private func track(_ ch: Channel) {
        let id = ObjectIdentifier(ch)
        lock.withLock { connections[id] = ch }
        ch.closeFuture.whenComplete { _ in self.lock.withLock { self.connections[id] = nil } }
    }

    // MARK: routing

    /// What the head alone decides: an answer now, or a scoring request whose body is to be collected.
    enum Route {
        case answer(Answer)
        case score(EndpointRuntime)
    }

    func route(_ head: HTTPRequestHead, requestID: String) -> Route {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case (.GET, "/live"): return .answer(.json(200, ["live": true]))
        case (.GET, "/ready"):
            let ready = !server.isDraining && (server.defaultEndpoint.flatMap { server.endpoint($0)?.isReady } ?? false)
            return .answer(.json(ready ? 200 : 503, ["ready": ready]))
        case (.GET, "/metrics"):
            return .answer(Answer(status: 200, headers: [("content-type", "text/plain; version=0.0.4")],
                                  body: ByteBuffer(string: server.metrics.text())))
        case (.GET, "/swagger.json"): return .answer(.json(200, Swagger.document))
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
        guard head.method == .POST else {
            return .answer(.error(405, "\(path) takes POST", headers: [("allow", "POST")]))
        }
        guard let name, let e = server.endpoint(name) else { return .answer(.error(404, "no endpoint for \(path)")) }
        guard e.authorize(head.headers.first(name: "authorization")) else {
            server.log.warning("unauthorized", ["request_id": requestID, "endpoint": name])
            return .answer(.error(401, "missing or invalid credentials: send Authorization: Bearer <key> (fovea endpoint get-credentials --name \(name))",
                                  headers: [("www-authenticate", "Bearer")]))
        }
        if let len = head.headers.first(name: "content-length").flatMap({ Int($0) }), len > server.options.maxBodyBytes {
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

/// Runs the jobs of tasks that prefer it on one event loop.
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    let loop: EventLoop
    init(_ loop: EventLoop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop of the singleton group (what the scoring port and the frame connections run on).
    static let singleton: [ObjectIdentifier: EventLoopExecutor] = {
        var ex: [ObjectIdentifier: EventLoopExecutor] = [:]
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() { ex[ObjectIdentifier(loop)] = EventLoopExecutor(loop) }
        return ex
    }()

    static func `for`(_ loop: EventLoop) -> EventLoopExecutor { singleton[ObjectIdentifier(loop)] ?? EventLoopExecutor(loop) }
}

/// One connection of the scoring port: collects a request (head, body up to the limit, end), answers it. The
/// pipelining handler in front of it holds the next request back until this one's answer is written.
final class FrontHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// A scoring request's body is being read.
        case collecting(EndpointRuntime, HTTPRequestHead, String, UInt64, ByteBuffer)
        /// The answer was written before the body ended (401, 413...): the rest of the body is read and dropped.
        case discarding
        /// The request is being scored.
        case scoring
    }

    private let front: ScoringFront
    private var state = State.idle

    init(front: ScoringFront) { self.front = front }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let started = DispatchTime.now().uptimeNanoseconds
            let given = head.headers.first(name: "x-request-id") ?? head.headers.first(name: "x-ms-client-request-id")
            let id = given.map { headerSafe($0, limit: 200) } ?? randomRequestID()
            switch front.route(head, requestID: id) {
            case .answer(let a):
                state = .discarding
                write(context, head: head, requestID: id, a)
            case .score(let e):
                let expected = head.headers.first(name: "content-length").flatMap { Int($0) }.map { min($0, 1 << 20) } ?? 4096
                state = .collecting(e, head, id, started, context.channel.allocator.buffer(capacity: expected))
            }
        case .body(var chunk):
            guard case .collecting(let e, let head, let id, let started, var body) = state else { return }
            state = .idle  // drop the buffer's other reference before appending, so it grows in place
            if body.readableBytes + chunk.readableBytes > front.server.options.maxBodyBytes {
                state = .discarding
                write(context, head: head, requestID: id,
                      .error(413, "the request body is larger than the limit of \(front.server.options.maxBodyBytes) bytes"))
                return
            }
            body.writeBuffer(&chunk)
            state = .collecting(e, head, id, started, body)
        case .end:
            switch state {
            case .collecting(let e, let head, let id, let started, let body):
                state = .scoring
                score(context, e, head, id, started, body)
            default:
                state = .idle
            }
        }
    }

    private func score(_ context: ChannelHandlerContext, _ e: EndpointRuntime, _ head: HTTPRequestHead, _ id: String, _ started: UInt64, _ body: ByteBuffer) {
        let server = front.server
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let contentType = head.headers.first(name: "content-type")
        let pin = head.headers.first(name: "azureml-model-deployment")
        Task(executorPreference: EventLoopExecutor.for(context.eventLoop)) {
            let a = await server.score(e, body: body, contentType: contentType, pin: pin, requestID: id, started: started, path: head.uri)
            let answer: @Sendable () -> Void = {
                let (handler, context) = bound.value
                handler.state = .idle
                handler.write(context, head: head, requestID: id, a)
            }
            if bound.eventLoop.inEventLoop { answer() } else { bound.eventLoop.execute(answer) }
        }
    }

    private func write(_ context: ChannelHandlerContext, head: HTTPRequestHead, requestID: String, _ a: Answer) {
        var h = HTTPHeaders()
        h.reserveCapacity(a.headers.count + 5)
        for (k, v) in a.headers { h.add(name: k, value: v) }
        if let d = a.deployment { h.replaceOrAdd(name: "azureml-model-deployment", value: d) }
        h.replaceOrAdd(name: "x-request-id", value: requestID)
        h.add(name: "content-length", value: String(a.body.readableBytes))
        let keepAlive = head.isKeepAlive && !front.server.isDraining
        if !keepAlive { h.add(name: "connection", value: "close") } else if head.version.minor == 0 { h.add(name: "connection", value: "keep-alive") }
        let status = HTTPResponseStatus(statusCode: a.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: h))), promise: nil)
        if a.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(a.body))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        a.after?()
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
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

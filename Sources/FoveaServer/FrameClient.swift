import Foundation
import NIOCore
import NIOPosix

/// The router side of the scoring hop (see Frame.swift): a pool of kept-open connections to one instance's
/// frame port, one request at a time per connection. A connection that fails, or whose request is
/// cancelled (timeout), is closed; the error reaches the caller, which retries on another instance.
public final class FrameClient: @unchecked Sendable {
    public struct ConnectionLost: Error, CustomStringConvertible { public let description: String }
    /// The deadline passed before the answer came; the connection is closed (the worker's answer is dropped).
    public struct TimedOut: Error, CustomStringConvertible { public var description: String { "no answer before the deadline" } }
    public struct Reply: Sendable { public let status: Int; public let meta: [String: String]; public let body: ByteBuffer }

    public let port: Int
    private let group: EventLoopGroup
    private let lock = NSLock()
    private var idle: [Connection] = []
    private var closed = false

    public init(port: Int, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.port = port
        self.group = group
    }

    final class Connection: @unchecked Sendable {
        let channel: Channel
        let handler: ReplyHandler
        init(channel: Channel, handler: ReplyHandler) { self.channel = channel; self.handler = handler }
    }

    public func call(meta: [String: String], body: ByteBuffer, deadline: NIODeadline = .distantFuture) async throws -> Reply {
        let conn = try await take()
        let promise = conn.channel.eventLoop.makePromise(of: Reply.self)
        let m = Frame.encodeMeta(meta)
        var frame = conn.channel.allocator.buffer(capacity: 12 + m.count + body.readableBytes)
        frame.writeBytes(Frame.requestMagic)
        frame.writeBytes(Frame.u32(m.count))
        frame.writeBytes(Frame.u32(body.readableBytes))
        frame.writeBytes(m)
        frame.writeImmutableBuffer(body)
        let out = frame
        let send: @Sendable () -> Void = {
            conn.handler.start(promise)
            conn.channel.writeAndFlush(out).whenFailure { promise.fail($0) }
            if deadline != .distantFuture {
                let timer = conn.channel.eventLoop.scheduleTask(deadline: deadline) { conn.handler.fail(TimedOut()) }
                promise.futureResult.whenComplete { _ in timer.cancel() }
            }
        }
        if conn.channel.eventLoop.inEventLoop { send() } else { conn.channel.eventLoop.execute(send) }
        do {
            let reply = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                conn.channel.close(promise: nil)
            }
            give(conn)
            return reply
        } catch {
            conn.channel.close(promise: nil)
            throw error
        }
    }

    /// Closes the idle connections; later calls fail.
    public func shutdown() {
        let all: [Connection] = lock.withLock { closed = true; defer { idle = [] }; return idle }
        for c in all { c.channel.close(promise: nil) }
    }

    /// An idle connection on the caller's event loop (the scoring port's request runs on one), else a new one
    /// there: the reply then wakes the thread that sends the answer, not another loop that hands it over.
    private func take() async throws -> Connection {
        let here = MultiThreadedEventLoopGroup.currentEventLoop
        let reused: Connection? = lock.withLock {
            idle.removeAll { !$0.channel.isActive }
            if let i = idle.lastIndex(where: { here == nil || $0.channel.eventLoop === here! }) { return idle.remove(at: i) }
            return nil
        }
        if let reused { return reused }
        if lock.withLock({ closed }) { throw ConnectionLost(description: "the instance is gone") }
        let handler = ReplyHandler()
        let channel = try await ClientBootstrap(group: here ?? group.next())
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            // an answer (~40 KB of JSON for ImageNet) in one read, not 2 KB at a time
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 256 << 10, maximum: 4 << 20))
            .channelOption(.maxMessagesPerRead, value: 64)
            .connectTimeout(.seconds(2))
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(handler) } }
            .connect(host: "127.0.0.1", port: port).get()
        return Connection(channel: channel, handler: handler)
    }

    private func give(_ c: Connection) {
        let keep: Bool = lock.withLock {
            guard !closed, c.channel.isActive, idle.count < 64 else { return false }
            idle.append(c)
            return true
        }
        if !keep { c.channel.close(promise: nil) }
    }

    /// Collects one response frame per request and fulfils the request's promise; fails it when the
    /// connection closes first.
    final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private var pending: EventLoopPromise<Reply>?
        private var buffer: ByteBuffer?

        func start(_ p: EventLoopPromise<Reply>) {
            pending = p
            buffer?.clear()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
            guard var b = buffer, b.readableBytes >= 16 else { return }
            guard let magic = b.getBytes(at: b.readerIndex, length: 4), magic == Frame.responseMagic,
                  let status = b.getInteger(at: b.readerIndex + 4, endianness: .little, as: UInt32.self),
                  let metaLen = b.getInteger(at: b.readerIndex + 8, endianness: .little, as: UInt32.self),
                  let bodyLen = b.getInteger(at: b.readerIndex + 12, endianness: .little, as: UInt32.self),
                  metaLen <= Frame.maxMeta else {
                fail(ConnectionLost(description: "the instance sent a malformed frame"))
                context.close(promise: nil)
                return
            }
            let total = 16 + Int(metaLen) + Int(bodyLen)
            guard b.readableBytes >= total else { return }
            b.moveReaderIndex(forwardBy: 16)
            let metaBytes = b.readBytes(length: Int(metaLen)) ?? []
            let body = b.readSlice(length: Int(bodyLen)) ?? ByteBuffer()
            buffer = b.readableBytes > 0 ? b : nil
            guard let meta = try? Frame.decodeMeta(metaBytes) else {
                fail(ConnectionLost(description: "the instance sent a malformed frame"))
                context.close(promise: nil)
                return
            }
            let p = pending
            pending = nil
            p?.succeed(Reply(status: Int(status), meta: meta, body: body))
        }

        func channelInactive(context: ChannelHandlerContext) {
            fail(ConnectionLost(description: "the instance closed the connection"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            fail(error)
            context.close(promise: nil)
        }

        func fail(_ e: Error) {
            let p = pending
            pending = nil
            p?.fail(e)
        }
    }
}

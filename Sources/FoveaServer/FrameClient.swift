import Foundation
import NIOCore

/// The router side of the scoring hop (see Frame.swift): a pool of kept-open blocking sockets to one instance's
/// frame port, one request at a time per socket, called from the scoring port's connection threads. A socket
/// that fails, or whose deadline passes (timeout), is closed; the error reaches the caller, which retries on
/// another instance. Blocking on purpose: the calling thread sleeps in poll() until the answer and wakes
/// straight into it — no event loop, promise or task between the reply and the response.
public final class FrameClient: @unchecked Sendable {
    public struct ConnectionLost: Error, CustomStringConvertible { public let description: String }
    /// The deadline passed before the answer came; the connection is closed (the worker's answer is dropped).
    public struct TimedOut: Error, CustomStringConvertible { public var description: String { "no answer before the deadline" } }
    public struct Reply: Sendable { public let status: Int; public let meta: [String: String]; public let body: ByteBuffer }

    public let port: Int
    private let lock = NSLock()
    private var idle: [Int32] = []
    private var closed = false

    /// The instance's engine threads: the CPUs a request in flight keeps busy (see ReplyWait).
    let engineThreads: Int
    /// Sleep until shortly before the expected reply, then spin (ReplyWait); false: sleep throughout.
    let spin: Bool
    private var replyWait = ReplyWait()

    public init(port: Int, engineThreads: Int = 1, spin: Bool = false) {
        self.port = port
        self.engineThreads = engineThreads
        self.spin = spin
    }

    /// Sends one request frame and waits for its reply until `deadline` (nil: no limit).
    public func call(meta: [String: String], body: ByteBuffer, deadline: NIODeadline? = nil) throws -> Reply {
        let fd = try take()
        CPUClaims.claim(engineThreads)
        defer { CPUClaims.release(engineThreads) }
        do {
            let m = Frame.encodeMeta(meta)
            var head = Frame.requestMagic + Frame.u32(m.count) + Frame.u32(body.readableBytes)
            head += m
            let sent = head.withUnsafeBytes { hp in
                body.withUnsafeReadableBytes { bp in Socket.sendAll(fd, [(hp.baseAddress, hp.count), (bp.baseAddress, bp.count)]) }
            }
            guard sent else { throw ConnectionLost(description: "the instance closed the connection") }
            let sentAt = DispatchTime.now().uptimeNanoseconds
            if spin, let from = lock.withLock({ replyWait.spinFrom(sentAt: sentAt) }) {
                ReplyWait.wait(fd, spinFrom: from, deadline: deadline?.uptimeNanoseconds)
            }
            // the reply: header, meta and body, read in as few calls as they arrive in
            var reply = ByteBufferAllocator().buffer(capacity: 64 << 10)
            func fill(to n: Int) throws {
                while reply.readableBytes < n {
                    try reply.writeWithUnsafeMutableBytes(minimumWritableBytes: n - reply.readableBytes) { p in
                        try Socket.receive(fd, p.baseAddress!, p.count, deadline: deadline)
                    }
                }
            }
            try fill(to: 16)
            let took = DispatchTime.now().uptimeNanoseconds - sentAt
            lock.withLock { replyWait.record(took) }
            guard reply.getBytes(at: 0, length: 4) == Frame.responseMagic,
                  let status = reply.getInteger(at: 4, endianness: .little, as: UInt32.self),
                  let metaLen = reply.getInteger(at: 8, endianness: .little, as: UInt32.self).map(Int.init),
                  let bodyLen = reply.getInteger(at: 12, endianness: .little, as: UInt32.self).map(Int.init), metaLen <= Frame.maxMeta else {
                throw ConnectionLost(description: "the instance sent a malformed frame")
            }
            try fill(to: 16 + metaLen + bodyLen)
            guard let decoded = try? Frame.decodeMeta(reply.getBytes(at: 16, length: metaLen) ?? []),
                  let body = reply.getSlice(at: 16 + metaLen, length: bodyLen) else {
                throw ConnectionLost(description: "the instance sent a malformed frame")
            }
            give(fd)
            return Reply(status: Int(status), meta: decoded, body: body)
        } catch let e as Socket.Failure {
            close(fd)
            switch e {
            case .timedOut: throw TimedOut()
            case .closed: throw ConnectionLost(description: "the instance closed the connection")
            }
        } catch {
            close(fd)
            throw error
        }
    }

    /// Closes the idle connections; later calls fail.
    public func shutdown() {
        let all: [Int32] = lock.withLock { closed = true; defer { idle = [] }; return idle }
        for fd in all { close(fd) }
    }

    private func take() throws -> Int32 {
        let (reused, isClosed): (Int32?, Bool) = lock.withLock { (idle.popLast(), closed) }
        if let reused { return reused }
        if isClosed { throw ConnectionLost(description: "the instance is gone") }
        guard let fd = Socket.connectLoopback(port: port) else {
            throw ConnectionLost(description: "cannot connect to the instance's frame port \(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    private func give(_ fd: Int32) {
        let keep: Bool = lock.withLock {
            guard !closed, idle.count < 64 else { return false }
            idle.append(fd)
            return true
        }
        if !keep { close(fd) }
    }
}

import Foundation

/// How a connection thread waits for an instance's reply (FrameClient.call).
///
/// Sleeping in poll() through the whole model run (~30 ms for MobileNetV2) makes the reply wake a halted vCPU: on
/// this kind of VM that costs 0.1-0.2 ms per request, as much as everything else the router does
/// (scripts/bench_server.py prints the figures). So the thread sleeps only until shortly before the reply is
/// expected — the fastest of this instance's last 8 replies, less a margin — then polls the socket without sleeping,
/// for at most `maxSpin`, and falls back to sleeping. It spins only while a CPU is free for it: the engine threads of
/// the requests in flight plus the threads already spinning stay within the online CPUs (`CPUClaims`), so spinning
/// never takes a core from an instance that is computing. `fovea serve --no-reply-spin` turns it off.
struct ReplyWait {
    /// Spin this long before the expected reply (covers the timer's own wake-up and run-to-run jitter).
    static let margin: UInt64 = 200_000
    /// Longest spin for one reply; a slower reply (a bigger request) is then awaited asleep.
    static let maxSpin: UInt64 = 2_000_000

    private var recent = [UInt64](repeating: 0, count: 8)
    private var count = 0

    /// When to start spinning for a request sent at `sentAt` (nil: not enough history, sleep throughout).
    func spinFrom(sentAt: UInt64) -> UInt64? {
        guard count >= 3 else { return nil }
        let fastest = recent.prefix(min(count, recent.count)).min()!
        return fastest > Self.margin ? sentAt + fastest - Self.margin : sentAt
    }

    mutating func record(_ ns: UInt64) {
        recent[count % recent.count] = ns
        count += 1
    }

    /// Waits until fd is readable, the deadline (uptime ns) passes, or — when there is a CPU to spare — spins from
    /// `spinFrom` until the reply arrives or `maxSpin` passes; either way the caller then reads (and sleeps if need be).
    static func wait(_ fd: Int32, spinFrom: UInt64, deadline: UInt64?) {
        let now = DispatchTime.now().uptimeNanoseconds
        let sleepUntil = min(spinFrom, deadline ?? .max)
        if sleepUntil > now, Socket.waitReadable(fd, nanoseconds: sleepUntil - now) { return }
        guard CPUClaims.trySpin() else { return }
        defer { CPUClaims.release(1) }
        let end = min(DispatchTime.now().uptimeNanoseconds + maxSpin, deadline ?? .max)
        var byte: UInt8 = 0
        while DispatchTime.now().uptimeNanoseconds < end {
            if recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0 || (errno != EAGAIN && errno != EINTR) { return }
        }
    }
}

/// CPUs claimed by this process's scoring: each request in flight claims its instance's engine threads (the
/// instance computes on them), each spinning thread one more.
enum CPUClaims {
    static let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    private static let lock = NSLock()
    nonisolated(unsafe) private static var claimed = 0

    static func claim(_ n: Int) { lock.lock(); claimed += n; lock.unlock() }
    static func release(_ n: Int) { lock.lock(); claimed -= n; lock.unlock() }

    /// Claims one CPU for spinning if one is free.
    static func trySpin() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard claimed + 1 <= online else { return false }
        claimed += 1
        return true
    }
}

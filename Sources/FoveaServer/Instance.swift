import Foundation

/// One running `fovea worker` process of a deployment, as the router and the supervisor see it.
public final class Instance: @unchecked Sendable {
    public enum Phase: String, Sendable { case starting, ready, unready, stopping, dead }

    public let index: Int
    public let generation: Int
    let process: Process
    public var pid: Int32 { process.processIdentifier }
    public let port: Int
    /// The scoring hop's connections (nil: the worker announced no frame port; scoring then goes over HTTP).
    let frames: FrameClient?
    private let lock = NSLock()
    private var _phase = Phase.starting
    private var _inFlight = 0
    /// Why the supervisor killed it ("liveness"), for the restart's log line and metric.
    var killReason: String?
    var readinessSuccesses = 0, readinessFailures = 0, livenessFailures = 0

    init(index: Int, generation: Int, process: Process, port: Int, framePort: Int? = nil, engineThreads: Int = 1, replySpin: Bool = false) {
        self.index = index
        self.generation = generation
        self.process = process
        self.port = port
        frames = framePort.map { FrameClient(port: $0, engineThreads: engineThreads, spin: replySpin) }
    }

    public var phase: Phase { lock.lock(); defer { lock.unlock() }; return _phase }
    public var inFlight: Int { lock.lock(); defer { lock.unlock() }; return _inFlight }

    func setPhase(_ p: Phase) { lock.lock(); if _phase != .dead { _phase = p }; lock.unlock() }
    func markDead() {
        lock.lock(); _phase = .dead; lock.unlock()
        frames?.shutdown()
    }

    /// Takes a request slot if the instance is ready and has one free.
    func tryTake(limit: Int) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard _phase == .ready, _inFlight < limit else { return false }
        _inFlight += 1
        return true
    }
    func release() { lock.lock(); _inFlight -= 1; lock.unlock() }

    var summary: [String: Any] {
        ["index": index, "pid": Int(pid), "port": port, "phase": phase.rawValue, "in_flight": inFlight, "generation": generation]
    }
}

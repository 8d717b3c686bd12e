import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// What every deployment's supervisor shares: where the binary, the registry and the logs are, the HTTP client,
/// the metrics.
public struct SupervisorContext: Sendable {
    public var executable: URL
    public var registry: URL
    public var logDirectory: URL
    public var client: HTTPClient
    public var metrics: ServerMetrics
    public var maxBodyBytes: Int
    /// Connection threads spin briefly for an instance's reply when a CPU is free (ReplyWait.swift).
    public var replySpin = true
}

/// A deployment at run time: its instances (worker processes), their probes and restarts, and the request slots
/// (`max_concurrent_requests_per_instance` per ready instance; a request waits for a free one).
public final class DeploymentRuntime: @unchecked Sendable {
    public let endpoint: String
    public let name: String
    let ctx: SupervisorContext
    public let log: JSONLog
    private let lock = NSLock()
    private var _config: DeploymentConfig
    private var instances: [Int: Instance] = [:]
    private var retiring: [Instance] = []
    private var generation = 0
    private var backoff: [Int: Double] = [:]
    /// Requests waiting for a slot: each is resumed once, with an instance or nil (timed out, stopped).
    private var waiters: [(id: Int, resume: (Instance?) -> Void)] = []
    private var nextWaiter = 0
    private var admitted = 0
    private var stopped = false
    public private(set) var restarts = 0

    init(endpoint: String, config: DeploymentConfig, context: SupervisorContext) throws {
        self.endpoint = endpoint
        name = config.name
        _config = config
        ctx = context
        log = try JSONLog.file(context.logDirectory.appendingPathComponent("\(endpoint)/\(config.name).log"),
                               base: ["endpoint": endpoint, "deployment": config.name, "source": "server"])
    }

    public var config: DeploymentConfig { lock.lock(); defer { lock.unlock() }; return _config }
    public var readyCount: Int { lock.lock(); defer { lock.unlock() }; return instances.values.filter { $0.phase == .ready }.count }
    /// Instances that may take requests: the current generation, and the previous one until it is retired (it
    /// keeps serving while a `deployment update` starts the new one).
    private var servingLocked: [Instance] { Array(instances.values) + retiring }
    public var snapshot: [Instance] { lock.lock(); defer { lock.unlock() }; return instances.keys.sorted().map { instances[$0]! } }
    public var logFile: URL { ctx.logDirectory.appendingPathComponent("\(endpoint)/\(name).log") }

    // MARK: instances

    func start() {
        lock.lock(); let n = _config.instanceCount; let g = generation; lock.unlock()
        for i in 0..<n { spawn(index: i, generation: g, delay: 0) }
    }

    /// Applies a new configuration: a new generation of instances starts; the old ones stop once one of the new
    /// ones is ready (or at once if none of the old was ready).
    func update(_ c: DeploymentConfig) {
        lock.lock()
        _config = c
        generation += 1
        let g = generation
        retiring += instances.values
        instances = [:]
        lock.unlock()
        log.info("deployment updated; starting a new generation of instances", ["generation": g, "instance_count": c.instanceCount])
        for i in 0..<c.instanceCount { spawn(index: i, generation: g, delay: 0) }
        Task {
            let deadline = Date().addingTimeInterval(Double(c.readinessProbe.initialDelay + 120))
            while self.readyCount == 0 && Date() < deadline && !self.isStopped { try? await Task.sleep(for: .milliseconds(100)) }
            self.retireOld()
        }
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func retireOld() {
        lock.lock(); let old = retiring; retiring = []; lock.unlock()
        for i in old { stopInstance(i, grace: 10) }
    }

    private func spawn(index: Int, generation g: Int, delay: Double) {
        Task.detached {
            if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
            guard !self.isStopped, self.currentGeneration == g else { return }
            do {
                let inst = try await self.launch(index: index, generation: g)
                let current = self.lock.withLock {
                    let c = !self.stopped && self.generation == g
                    if c { self.instances[index] = inst }
                    return c
                }
                if !current { self.stopInstance(inst, grace: 0); return }
                self.probeLoops(inst)
            } catch {
                self.log.error("cannot start instance", ["instance": index, "error": "\(error)"])
                self.scheduleRestart(index: index, generation: g, reason: "start_failed")
            }
        }
    }

    var currentGeneration: Int { lock.lock(); defer { lock.unlock() }; return generation }

    private func launch(index: Int, generation g: Int) async throws -> Instance {
        let c = config
        let p = Process()
        p.executableURL = ctx.executable
        p.arguments = ["worker", "--model", c.model, "--registry", ctx.registry.path, "--deployment", name,
                       "--instance", String(index), "--port", "0", "--parent-pid", String(getpid()),
                       "--max-body-bytes", String(ctx.maxBodyBytes)]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in c.environmentVariables { env[k] = v }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        let fd = open(logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot open \(logFile.path)") }
        let errHandle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        p.standardError = errHandle
        let holder = Locked<Instance?>(nil)
        p.terminationHandler = { [weak self] proc in
            guard let self, let inst = holder.get() else { return }
            self.instanceExited(inst, status: proc.terminationStatus, reason: proc.terminationReason)
        }
        try p.run()
        try? errHandle.close()
        let (port, framePort): (Int, Int?) = try await withCheckedThrowingContinuation { cont in
            Thread.detachNewThread {
                let h = out.fileHandleForReading
                var buf = Data()
                while true {
                    let d = h.availableData
                    if d.isEmpty { cont.resume(throwing: ConfigError("the worker exited before it listened")); return }
                    buf.append(d)
                    if let s = String(data: buf, encoding: .utf8), let line = s.split(separator: "\n").first(where: { $0.hasPrefix("FOVEA_WORKER_PORT ") }),
                       let port = Int(line.dropFirst("FOVEA_WORKER_PORT ".count)) {
                        let frame = s.split(separator: "\n").first(where: { $0.hasPrefix("FOVEA_WORKER_FRAME_PORT ") })
                            .flatMap { Int($0.dropFirst("FOVEA_WORKER_FRAME_PORT ".count)) }
                        cont.resume(returning: (port, frame))
                        while !h.availableData.isEmpty {}  // drain until the worker exits
                        return
                    }
                }
            }
        }
        // the worker's engine threads, as `fovea worker` reads them (its --threads is not set by the supervisor)
        let threads = env["FOVEA_NUM_THREADS"].flatMap { Int($0) }.map { max(1, $0) } ?? 1
        let inst = Instance(index: index, generation: g, process: p, port: port, framePort: framePort,
                            engineThreads: threads, replySpin: ctx.replySpin)
        holder.set(inst)
        if !p.isRunning { instanceExited(inst, status: p.terminationStatus, reason: p.terminationReason) }
        log.info("instance started", ["instance": index, "pid": Int(p.processIdentifier), "port": port, "frame_port": framePort ?? 0, "generation": g])
        return inst
    }

    private func instanceExited(_ inst: Instance, status: Int32, reason: Process.TerminationReason) {
        let wasStopping = inst.phase == .stopping
        inst.markDead()
        lock.lock()
        let current = !stopped && instances[inst.index] === inst
        if current { instances[inst.index] = nil }
        lock.unlock()
        guard current, !wasStopping else { return }
        let how = reason == .uncaughtSignal ? "signal \(status)" : "exit status \(status)"
        log.error("instance died", ["instance": inst.index, "pid": Int(inst.pid), "how": how])
        scheduleRestart(index: inst.index, generation: inst.generation, reason: inst.killReason ?? "exited")
        wake()
    }

    private func scheduleRestart(index: Int, generation g: Int, reason: String) {
        lock.lock()
        let delay = backoff[index] ?? 1
        backoff[index] = min(delay * 2, 30)
        restarts += 1
        let go = !stopped && generation == g
        lock.unlock()
        guard go else { return }
        ctx.metrics.restart(endpoint: endpoint, deployment: name, reason: reason)
        log.warning("restarting instance", ["instance": index, "reason": reason, "backoff_s": delay])
        spawn(index: index, generation: g, delay: delay)
    }

    private func stopInstance(_ inst: Instance, grace: Double) {
        inst.setPhase(.stopping)
        Task.detached {
            let deadline = Date().addingTimeInterval(grace)
            while inst.inFlight > 0 && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if inst.process.isRunning { kill(inst.pid, SIGTERM) }
            try? await Task.sleep(for: .seconds(2))
            if inst.process.isRunning { kill(inst.pid, SIGKILL) }
        }
    }

    /// Stops every instance after its in-flight requests finish (up to `grace` seconds).
    func stop(grace: Double) async {
        let (all, w) = lock.withLock {
            stopped = true
            let x = (Array(instances.values) + retiring, waiters)
            waiters = []
            return x
        }
        for x in w { x.resume(nil) }
        for i in all { stopInstance(i, grace: grace) }
        let deadline = Date().addingTimeInterval(grace + 3)
        while all.contains(where: { $0.process.isRunning }) && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        log.info("deployment stopped")
    }

    // MARK: probes

    private func probeLoops(_ inst: Instance) {
        let c = config
        Task.detached { await self.probeLoop(inst, path: "/ready", probe: c.readinessProbe, liveness: false) }
        Task.detached { await self.probeLoop(inst, path: "/live", probe: c.livenessProbe, liveness: true) }
    }

    private func probeLoop(_ inst: Instance, path: String, probe: DeploymentConfig.Probe, liveness: Bool) async {
        try? await Task.sleep(for: .seconds(probe.initialDelay))
        while inst.phase != .dead && inst.phase != .stopping && !isStopped {
            let ok = await self.probe(inst, path: path, timeout: probe.timeout)
            if liveness {
                if ok { inst.livenessFailures = 0 } else {
                    inst.livenessFailures += 1
                    ctx.metrics.probeFailure(endpoint: endpoint, deployment: name, probe: "liveness")
                    log.warning("liveness probe failed", ["instance": inst.index, "failures": inst.livenessFailures])
                    if inst.livenessFailures >= probe.failureThreshold {
                        log.error("instance failed liveness; killing and restarting it", ["instance": inst.index, "pid": Int(inst.pid)])
                        inst.killReason = "liveness"
                        inst.setPhase(.unready)
                        publishReady()
                        kill(inst.pid, SIGKILL)  // the exit handler restarts it
                        return
                    }
                }
            } else {
                if ok {
                    inst.readinessFailures = 0
                    inst.readinessSuccesses += 1
                    if inst.readinessSuccesses >= probe.successThreshold && inst.phase != .ready {
                        inst.setPhase(.ready)
                        lock.withLock { backoff[inst.index] = nil }
                        log.info("instance ready", ["instance": inst.index, "pid": Int(inst.pid)])
                        publishReady()
                        wake()
                    }
                } else {
                    inst.readinessSuccesses = 0
                    inst.readinessFailures += 1
                    ctx.metrics.probeFailure(endpoint: endpoint, deployment: name, probe: "readiness")
                    if inst.readinessFailures >= probe.failureThreshold && inst.phase == .ready {
                        inst.setPhase(.unready)
                        log.warning("instance not ready; no more traffic until it passes readiness", ["instance": inst.index])
                        publishReady()
                    }
                }
            }
            try? await Task.sleep(for: .seconds(probe.period))
        }
    }

    func publishReady() { ctx.metrics.readyInstances(endpoint: endpoint, deployment: name, readyCount) }

    private func probe(_ inst: Instance, path: String, timeout: Int) async -> Bool {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(inst.port)\(path)")
        req.method = .GET
        do {
            let r = try await ctx.client.execute(req, timeout: .seconds(Int64(timeout)))
            _ = try await r.body.collect(upTo: 1 << 16)
            return r.status == .ok
        } catch { return false }
    }

    /// An instance whose connection failed is taken out of rotation until its probes pass again.
    func suspect(_ inst: Instance) {
        if inst.phase == .ready {
            inst.setPhase(.unready)
            inst.readinessSuccesses = 0
            log.warning("instance connection failed; out of rotation until readiness passes", ["instance": inst.index])
            publishReady()
        }
    }

    // MARK: admission and slots

    public enum Admission { case admitted, noReadyInstance, tooMany(limit: Int) }

    /// Azure's rule: more than 2 × max_concurrent_requests_per_instance × ready instances in flight → 429.
    func admit() -> Admission {
        lock.lock(); defer { lock.unlock() }
        let ready = servingLocked.filter { $0.phase == .ready }.count
        guard ready > 0 else { return .noReadyInstance }
        let limit = 2 * _config.requestSettings.maxConcurrentRequestsPerInstance * ready
        guard admitted < limit else { return .tooMany(limit: limit) }
        admitted += 1
        ctx.metrics.inFlight(endpoint: endpoint, deployment: name, admitted)
        return .admitted
    }

    /// Admits without the 429 rule (mirror copies are dropped instead when the deployment is busy).
    func tryAdmitIdle() -> Instance? {
        lock.lock(); defer { lock.unlock() }
        guard let i = takeLocked(excluding: nil) else { return nil }
        admitted += 1
        return i
    }

    func leave() {
        lock.lock(); admitted -= 1; let a = admitted; lock.unlock()
        ctx.metrics.inFlight(endpoint: endpoint, deployment: name, a)
    }

    /// The least busy ready instance with a free slot. An instance holds `max_concurrent_requests_per_instance`
    /// requests plus one waiting in its own queue, so that it starts the next request the moment it finishes one
    /// instead of idling for a round trip through the router (the queued one still counts against the 429 limit
    /// and its timeout); the least busy instance is always preferred.
    private func takeLocked(excluding: Instance?) -> Instance? {
        let limit = _config.requestSettings.maxConcurrentRequestsPerInstance + 1
        let candidates = servingLocked.filter { $0 !== excluding && $0.phase == .ready }.sorted { $0.inFlight < $1.inFlight }
        for c in candidates where c.tryTake(limit: limit) { return c }
        return nil
    }

    /// Waits (blocking the calling thread) for a free slot on the least busy ready instance; nil when the deadline
    /// passes first or the deployment stops.
    func acquire(excluding: Instance? = nil, deadline: NIODeadline) -> Instance? {
        let waiter = SlotWaiter()
        let id: Int? = lock.withLock {
            if let i = takeLocked(excluding: excluding) { waiter.given = i; return nil }
            if stopped { return nil }
            nextWaiter += 1
            waiters.append((nextWaiter, { waiter.resume($0) }))
            return nextWaiter
        }
        guard let id else { return waiter.given }
        ctx.metrics.queued(endpoint: endpoint, deployment: name, lock.withLock { waiters.count })
        if let i = waiter.wait(until: deadline) { return i }
        dropWaiter(id)  // resumes it with nil, unless a slot was given meanwhile
        if let late = waiter.wait(until: nil) { release(late); return nil }  // given just as the deadline passed
        return nil
    }

    private func dropWaiter(_ id: Int) {
        lock.lock()
        let w = waiters.firstIndex { $0.id == id }.map { waiters.remove(at: $0) }
        let q = waiters.count
        lock.unlock()
        w?.resume(nil)
        if w != nil { ctx.metrics.queued(endpoint: endpoint, deployment: name, q) }
    }

    func release(_ inst: Instance) {
        inst.release()
        wake()
    }

    private func wake() {
        var resumed: [((Instance?) -> Void, Instance)] = []
        lock.lock()
        while !waiters.isEmpty, let i = takeLocked(excluding: nil) { resumed.append((waiters.removeFirst().resume, i)) }
        let q = waiters.count
        lock.unlock()
        for (resume, i) in resumed { resume(i) }
        ctx.metrics.queued(endpoint: endpoint, deployment: name, q)
    }

    var summary: [String: Any] {
        let c = config
        return ["name": name, "model": c.model, "instance_count": c.instanceCount, "ready_instances": readyCount,
                "restarts": restarts, "request_settings": ["request_timeout_ms": c.requestSettings.requestTimeoutMs,
                                                           "max_concurrent_requests_per_instance": c.requestSettings.maxConcurrentRequestsPerInstance],
                "instances": snapshot.map(\.summary)]
    }
}

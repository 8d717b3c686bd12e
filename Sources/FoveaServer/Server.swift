import AsyncHTTPClient
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import ServiceLifecycle

public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var managementPort = 0
    public var stateDirectory: URL
    public var endpointFile: URL?
    public var deploymentFiles: [URL] = []
    public var registry: URL
    public var executable: URL
    public var maxBodyBytes = 16 << 20
    public var drainSeconds = 30.0
    /// See ReplyWait.swift (`--no-reply-spin` turns it off).
    public var replySpin = true
    public init(stateDirectory: URL, registry: URL, executable: URL) {
        self.stateDirectory = stateDirectory
        self.registry = registry
        self.executable = executable
    }
}

/// `fovea serve`: the endpoints of a state directory, their deployments' instances, the scoring port and the
/// management port (127.0.0.1 only, admin token).
public final class EndpointServer: @unchecked Sendable {
    public let options: ServeOptions
    public let store: StateStore
    public let log: JSONLog
    /// Runs the batch jobs of the state directory's batch endpoints (BatchJobs.swift).
    public let batch: BatchSupervisor
    let metrics = ServerMetrics()
    /// Per-request log lines, written in batches off the response path.
    let requestLog = DeferredWork(label: "fovea.request-log")
    let client: HTTPClient
    let ctx: SupervisorContext
    private let lock = NSLock()
    private var state = PersistedState()
    private var runtimes: [String: EndpointRuntime] = [:]
    private var _defaultEndpoint: String?
    private var draining = false
    let boundPorts = Locked<(Int, Int)>((0, 0))

    public init(_ o: ServeOptions) throws {
        options = o
        store = StateStore(directory: o.stateDirectory)
        try FileManager.default.createDirectory(at: o.stateDirectory, withIntermediateDirectories: true)
        log = try JSONLog.file(store.logDirectory.appendingPathComponent("server.log"), base: ["source": "server"])
        var cfg = HTTPClient.Configuration()
        cfg.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        cfg.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
        ctx = SupervisorContext(executable: o.executable, registry: o.registry, logDirectory: store.logDirectory, client: client,
                                metrics: metrics, maxBodyBytes: o.maxBodyBytes, replySpin: o.replySpin)
        batch = BatchSupervisor(stateDirectory: o.stateDirectory, executable: o.executable, registry: o.registry, log: log)
    }

    public var defaultEndpoint: String? { lock.lock(); defer { lock.unlock() }; return _defaultEndpoint }
    public func endpoint(_ name: String) -> EndpointRuntime? { lock.lock(); defer { lock.unlock() }; return runtimes[name] }
    var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }

    /// Loads the state directory; the endpoint file seeds an endpoint the state does not have yet (with new keys),
    /// and the deployment files seed its deployments. What the state has wins: traffic and keys survive restarts.
    public func bootstrap() throws -> [String] {
        var notes: [String] = []
        var s = try store.load()
        if let ef = options.endpointFile {
            let text: String
            do { text = try String(contentsOf: ef, encoding: .utf8) } catch { throw ConfigError("cannot read \(ef.path): \(error.localizedDescription)") }
            let ec = try EndpointConfig.parse(yaml: text, file: ef.lastPathComponent)
            notes += ec.warnings
            if s.endpoints[ec.name] == nil {
                var seed = ec
                seed.traffic = [:]
                seed.mirrorTraffic = [:]
                try s.createEndpoint(seed)
                for df in options.deploymentFiles {
                    let y = try String(contentsOf: df, encoding: .utf8)
                    let dc = try DeploymentConfig.parse(yaml: y, file: df.lastPathComponent)
                    notes += dc.warnings
                    guard dc.endpointName == ec.name else {
                        throw ConfigError("\(df.lastPathComponent): endpoint_name is '\(dc.endpointName)' but \(ef.lastPathComponent) names '\(ec.name)'")
                    }
                    _ = try s.putDeployment(yaml: y, update: false)
                }
                try s.updateEndpoint(ec.name, traffic: ec.traffic, mirror: ec.mirrorTraffic)
                notes.append("endpoint '\(ec.name)' created from \(ef.lastPathComponent) with new keys")
            } else {
                notes.append("endpoint '\(ec.name)' restored from \(store.stateFile.path) (its traffic and keys; edit it with fovea endpoint/deployment commands)")
            }
            _defaultEndpoint = ec.name
        }
        if _defaultEndpoint == nil { _defaultEndpoint = s.endpoints.keys.sorted().first }
        try store.save(s)
        state = s
        for (name, e) in s.endpoints {
            let r = EndpointRuntime(state: e, context: ctx, log: log)
            runtimes[name] = r
            try r.reconcile(e)
        }
        return notes
    }

    /// Applies a validated change to the state, saves it atomically, then to the running endpoints.
    func mutate<T>(_ f: (inout PersistedState) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        var s = state
        let out = try f(&s)
        try store.save(s)
        state = s
        for (name, e) in s.endpoints {
            if let r = runtimes[name] { try r.reconcile(e) } else {
                let r = EndpointRuntime(state: e, context: ctx, log: log)
                runtimes[name] = r
                try r.reconcile(e)
            }
        }
        for (name, r) in runtimes where s.endpoints[name] == nil {
            runtimes[name] = nil
            Task { await r.stop(grace: 10) }
        }
        if let d = _defaultEndpoint, s.endpoints[d] == nil { _defaultEndpoint = s.endpoints.keys.sorted().first }
        return out
    }

    public func currentState() -> PersistedState { lock.lock(); defer { lock.unlock() }; return state }
    public func currentEndpointNames() -> [String] { currentState().endpoints.keys.sorted() }
    public var boundPort: Int { boundPorts.get().0 }

    public func scoringURI(_ endpoint: String) -> String {
        let (port, _) = boundPorts.get()
        return endpoint == defaultEndpoint ? "http://\(options.host):\(port)/score" : "http://\(options.host):\(port)/endpoints/\(endpoint)/score"
    }

    // MARK: scoring

    /// One scoring request (the body read, the key checked; see ScoringFront): routed, forwarded, answered, on the
    /// calling connection thread. Its
    /// metrics and log line are the answer's `after`, which the front calls once the answer is sent; they are
    /// written in order on one serial queue.
    func score(_ e: EndpointRuntime, body: ByteBuffer, contentType: String?, pin: String?, requestID rid: String, started: UInt64,
               path: String) -> Answer {
        var a = e.score(body: body, contentType: contentType, pin: pin, requestID: rid)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let status = a.status, deployment = a.deployment, bytesIn = body.readableBytes
        let log = deployment.flatMap { e.deployments[$0]?.log } ?? e.log
        let metrics = self.metrics, endpointName = e.name
        let requestLog = self.requestLog
        // run once the answer is written: metrics at once (a scrape right after an answer counts it), the log
        // line a few ms later in a batch
        a.after = {
            metrics.request(endpoint: endpointName, deployment: deployment ?? "-", status: status, seconds: seconds)
            requestLog.add {
                log.info("request", ["request_id": rid, "status": status, "latency_ms": (seconds * 1e6).rounded() / 1000,
                                     "bytes_in": bytesIn, "route": path])
            }
        }
        return a
    }

    // MARK: run

    /// Runs until SIGTERM/SIGINT: then stops accepting, drains in-flight requests, stops the instances.
    public func run(onReady: @escaping @Sendable (EndpointServer) -> Void) async throws {
        let token = try store.adminToken(create: true)!
        let announced = Locked(0)
        let both: @Sendable () -> Void = {
            if announced.update({ $0 += 1; return $0 }) == 2 {
                let (p, m) = self.boundPorts.get()
                let info = StateStore.ServerInfo(pid: getpid(), host: self.options.host, port: p, managementPort: m)
                try? AtomicFile.write(try! JSONEncoder().encode(info), to: self.store.serverFile, mode: 0o600)
                self.log.info("listening", ["port": p, "management_port": m])
                self.batch.start()
                onReady(self)
            }
        }
        let scoringFront = ScoringFront(server: self) { port in self.boundPorts.update { $0.0 = port }; both() }
        let mgmtApp = Application(
            router: ManagementAPI(server: self, token: token).router(),
            configuration: .init(address: .hostname("127.0.0.1", port: options.managementPort), serverName: "fovea-management"),
            onServerRunning: { ch in self.boundPorts.update { $0.1 = ch.localAddress?.port ?? 0 }; both() },
            logger: quietLogger("fovea-management"))
        let drainFlag: @Sendable () -> Void = { self.lock.lock(); self.draining = true; self.lock.unlock() }
        let watcher = DrainWatcher {
            drainFlag()
            self.log.info("shutting down: draining in-flight requests")
        }
        // Services stop in reverse order: the watcher first (readiness goes false), then the listeners drain.
        let group = ServiceGroup(configuration: .init(services: [.init(service: scoringFront), .init(service: mgmtApp),
                                                                 .init(service: watcher, successTerminationBehavior: .ignore)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: quietLogger("fovea")))
        try await group.run()
        drainFlag()
        batch.stop()  // a running job stays "running" in its record: the next start resumes it
        let rs = lock.withLock { Array(runtimes.values) }
        await withTaskGroup(of: Void.self) { g in for r in rs { g.addTask { await r.stop(grace: self.options.drainSeconds) } } }
        try? FileManager.default.removeItem(at: store.serverFile)
        try? await client.shutdown()
        requestLog.flush()  // the last requests' log lines
        log.info("stopped")
    }
}

struct DrainWatcher: Service {
    let onShutdown: @Sendable () -> Void
    func run() async throws {
        try? await gracefulShutdown()
        onShutdown()
    }
}

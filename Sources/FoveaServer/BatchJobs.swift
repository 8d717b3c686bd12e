import Foundation
import Yams

/// Batch endpoints and their jobs, as files under `<state-dir>/batch/` (atomic writes; the CLI reads and edits
/// endpoints directly, with or without a server):
///   endpoints/<name>.json          name, description, default deployment, deployments (their YAML text)
///   jobs/<id>/record.json          the invocation and its state (queued, running, completed, failed, cancelled)
///   jobs/<id>/output/              the job's folder (`fovea batch` output: lines, job.json, progress.json, ...)
/// A running `fovea serve` runs the jobs (`BatchSupervisor`), one at a time, as `fovea batch` processes at idle CPU
/// priority; a job that was running when the server stopped (or died) is resumed when it starts again.
public struct BatchEndpointRecord: Codable, Equatable, Sendable {
    public var name: String
    public var description: String?
    public var defaultDeployment: String?
    public var deployments: [String: String]
    public var created: String
    enum CodingKeys: String, CodingKey { case name, description, defaultDeployment = "default_deployment", deployments, created }
}

public struct BatchJobRecord: Codable, Equatable, Sendable {
    public var id: String
    public var endpoint: String
    public var deployment: String
    public var command: String
    public var input: String
    public var arguments: [String]
    public var status: String
    public var created: String
    public var started: String?
    public var finished: String?
    public var exitCode: Int32?
    public var message: String?
    public var runs: Int
    enum CodingKeys: String, CodingKey {
        case id, endpoint, deployment, command, input, arguments, status, created, started, finished, exitCode = "exit_code", message, runs
    }
    public var isFinal: Bool { ["completed", "failed", "cancelled"].contains(status) }
}

public struct BatchStore: Sendable {
    public let root: URL
    public init(stateDirectory: URL) { root = stateDirectory.appendingPathComponent("batch") }
    var endpointsDir: URL { root.appendingPathComponent("endpoints") }
    var jobsDir: URL { root.appendingPathComponent("jobs") }
    public func jobDir(_ id: String) -> URL { jobsDir.appendingPathComponent(id) }
    public func outputDir(_ id: String) -> URL { jobDir(id).appendingPathComponent("output") }
    public func deploymentFile(_ id: String) -> URL { jobDir(id).appendingPathComponent("batch-deployment.yml") }

    static func iso(_ d: Date = Date()) -> String { ISO8601DateFormatter().string(from: d) }

    static func write<T: Encodable>(_ v: T, _ url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try enc.encode(v), to: url, mode: 0o600)
    }
    static func read<T: Decodable>(_ t: T.Type, _ url: URL) -> T? {
        (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode(T.self, from: $0) }
    }

    // MARK: endpoints

    public func endpoints() -> [BatchEndpointRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: endpointsDir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
            .compactMap { BatchStore.read(BatchEndpointRecord.self, endpointsDir.appendingPathComponent($0)) }
    }
    public func endpoint(_ name: String) throws -> BatchEndpointRecord {
        try EndpointConfig.checkName(name, what: "batch endpoint", file: "--name")
        guard let e = BatchStore.read(BatchEndpointRecord.self, endpointsDir.appendingPathComponent(name + ".json")) else {
            throw ConfigError("no batch endpoint '\(name)' (have: \(endpoints().map(\.name).joined(separator: ", ")))")
        }
        return e
    }
    public func save(_ e: BatchEndpointRecord) throws {
        try FileManager.default.createDirectory(at: endpointsDir, withIntermediateDirectories: true)
        try BatchStore.write(e, endpointsDir.appendingPathComponent(e.name + ".json"))
    }

    /// Azure's batch endpoint YAML: `name`, `description`, `auth_mode` (aad_token; accepted, keys are the server's),
    /// `defaults.deployment_name`.
    public func createEndpoint(yaml: String, file: String) throws -> BatchEndpointRecord {
        let f = try YAMLFields(yaml, file: file)
        let name = try f.requiredString("name")
        try EndpointConfig.checkName(name, what: "batch endpoint", file: file)
        for k in f.map.keys where !["$schema", "name", "description", "auth_mode", "defaults", "tags", "properties"].contains(k) {
            throw ConfigError("\(file): unknown key '\(k)'")
        }
        if FileManager.default.fileExists(atPath: endpointsDir.appendingPathComponent(name + ".json").path) {
            throw ConfigError("batch endpoint '\(name)' already exists")
        }
        let def = try f.sub("defaults").flatMap { try $0.string("deployment_name") }
        let e = BatchEndpointRecord(name: name, description: try f.string("description"), defaultDeployment: def, deployments: [:],
                                    created: BatchStore.iso())
        try save(e)
        return e
    }

    public func deleteEndpoint(_ name: String) throws {
        _ = try endpoint(name)
        if let busy = jobs().first(where: { $0.endpoint == name && !$0.isFinal }) {
            throw ConfigError("batch endpoint '\(name)' has a job that is \(busy.status) (\(busy.id)); cancel it first")
        }
        try FileManager.default.removeItem(at: endpointsDir.appendingPathComponent(name + ".json"))
    }

    /// Adds (or replaces) a deployment: its YAML must name `endpoint_name` and `model`.
    public func putDeployment(yaml: String, file: String, setDefault: Bool) throws -> BatchEndpointRecord {
        let f = try YAMLFields(yaml, file: file)
        let name = try f.requiredString("name")
        try EndpointConfig.checkName(name, what: "batch deployment", file: file)
        var e = try endpoint(try f.requiredString("endpoint_name"))
        guard try f.string("model") != nil else { throw ConfigError("\(file): 'model' is required (a registered model as name:version)") }
        e.deployments[name] = yaml
        if setDefault || e.defaultDeployment == nil { e.defaultDeployment = name }
        try save(e)
        return e
    }

    // MARK: jobs

    public func jobs() -> [BatchJobRecord] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: jobsDir.path)) ?? []
        return ids.compactMap { job($0) }.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }
    public func job(_ id: String) -> BatchJobRecord? {
        guard !id.contains("/"), !id.hasPrefix(".") else { return nil }
        return BatchStore.read(BatchJobRecord.self, jobDir(id).appendingPathComponent("record.json"))
    }
    public func save(_ j: BatchJobRecord) throws {
        try FileManager.default.createDirectory(at: jobDir(j.id), withIntermediateDirectories: true)
        try BatchStore.write(j, jobDir(j.id).appendingPathComponent("record.json"))
    }

    /// A new queued job of `endpoint` (its default deployment unless one is named).
    public func newJob(endpoint name: String, deployment: String?, command: String, input: String, arguments: [String]) throws -> BatchJobRecord {
        let e = try endpoint(name)
        guard let d = deployment ?? e.defaultDeployment else { throw ConfigError("batch endpoint '\(name)' has no deployment; create one with `fovea batch-deployment create -f`") }
        guard let yaml = e.deployments[d] else {
            throw ConfigError("batch endpoint '\(name)' has no deployment '\(d)' (have: \(e.deployments.keys.sorted().joined(separator: ", ")))")
        }
        guard ["score", "explain"].contains(command) else { throw ConfigError("the job's command must be score or explain, got '\(command)'") }
        guard input.hasPrefix("/") else { throw ConfigError("the input must be an absolute path (the server resolves it), got '\(input)'") }
        guard FileManager.default.fileExists(atPath: input) else { throw ConfigError("the input \(input) does not exist") }
        let stamp = DateFormatter()
        stamp.dateFormat = "yyyyMMdd-HHmmss"
        stamp.timeZone = TimeZone(identifier: "UTC")
        let id = "\(name)-\(stamp.string(from: Date()))-\(String(format: "%04x", UInt16.random(in: 0...UInt16.max)))"
        let j = BatchJobRecord(id: id, endpoint: name, deployment: d, command: command, input: input, arguments: arguments,
                               status: "queued", created: BatchStore.iso(), runs: 0)
        try FileManager.default.createDirectory(at: jobDir(id), withIntermediateDirectories: true)
        try AtomicFile.write(Data(yaml.utf8), to: deploymentFile(id), mode: 0o600)
        try save(j)
        return j
    }

    /// The job's record with its live figures (from the job folder's progress.json / job.json).
    public func show(_ j: BatchJobRecord) -> [String: Any] {
        var o: [String: Any] = ["id": j.id, "endpoint": j.endpoint, "deployment": j.deployment, "command": j.command, "input": j.input,
                                "status": j.status, "created": j.created, "output": outputDir(j.id).path, "runs": j.runs]
        if let s = j.started { o["started"] = s }
        if let f = j.finished { o["finished"] = f }
        if let m = j.message { o["message"] = m }
        if let c = j.exitCode { o["exit_code"] = Int(c) }
        if !j.arguments.isEmpty { o["arguments"] = j.arguments }
        if let d = try? Data(contentsOf: outputDir(j.id).appendingPathComponent("progress.json")),
           let p = try? JSONSerialization.jsonObject(with: d) { o["progress"] = p }
        if let d = try? Data(contentsOf: outputDir(j.id).appendingPathComponent("job.json")),
           let p = try? JSONSerialization.jsonObject(with: d) as? [String: Any] { o["counts"] = p["counts"] }
        return o
    }
}

/// Runs a server's batch jobs: one at a time, oldest first, each as `fovea batch <score|explain> ... --background
/// --parent-pid <server>` (idle CPU priority, so online requests keep their cores; it stops when the server dies).
public final class BatchSupervisor: @unchecked Sendable {
    let store: BatchStore
    let executable: URL
    let registry: URL
    let log: JSONLog
    private let lock = NSLock()
    private var running: (id: String, process: Process)?
    private var cancelled: Set<String> = []
    private var stopping = false

    public init(stateDirectory: URL, executable: URL, registry: URL, log: JSONLog) {
        store = BatchStore(stateDirectory: stateDirectory)
        self.executable = executable
        self.registry = registry
        self.log = log
    }

    /// Jobs left running by a previous server are queued again: they resume from their folder.
    public func start() {
        for var j in store.jobs() where j.status == "running" {
            j.status = "queued"
            j.message = "resumed after a server restart"
            try? store.save(j)
        }
        Thread.detachNewThread { [weak self] in
            while let self, !self.isStopping {
                self.tick()
                usleep(300_000)
            }
        }
    }
    var isStopping: Bool { lock.withLock { stopping } }

    func tick() {
        guard lock.withLock({ running == nil && !stopping }) else { return }
        guard var j = store.jobs().first(where: { $0.status == "queued" }) else { return }
        guard let e = try? store.endpoint(j.endpoint), let yaml = e.deployments[j.deployment] else {
            j.status = "failed"; j.message = "its batch endpoint or deployment was deleted"; j.finished = BatchStore.iso()
            try? store.save(j)
            return
        }
        try? AtomicFile.write(Data(yaml.utf8), to: store.deploymentFile(j.id), mode: 0o600)
        let p = Process()
        p.executableURL = executable
        p.arguments = ["batch", j.command, "--input", j.input, "--output", store.outputDir(j.id).path, "-f", store.deploymentFile(j.id).path,
                       "--registry", registry.path, "--background", "--parent-pid", String(getpid())] + j.arguments
        let logURL = store.jobDir(j.id).appendingPathComponent("job.log")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let h = FileHandle(forWritingAtPath: logURL.path)
        _ = try? h?.seekToEnd()
        p.standardError = h ?? FileHandle.nullDevice
        p.standardOutput = h ?? FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        let id = j.id
        p.terminationHandler = { [weak self] proc in self?.exited(id, proc.terminationStatus, signaled: proc.terminationReason == .uncaughtSignal) }
        j.status = "running"
        j.started = j.started ?? BatchStore.iso()
        j.runs += 1
        do {
            try store.save(j)
            lock.withLock { running = (id, p) }
            try p.run()
            try? h?.close()
            log.info("batch job started", ["job": id, "endpoint": j.endpoint, "deployment": j.deployment, "pid": Int(p.processIdentifier)])
        } catch {
            lock.withLock { running = nil }
            j.status = "failed"; j.message = "cannot start: \(error)"; j.finished = BatchStore.iso()
            try? store.save(j)
        }
    }

    /// A job process killed by a signal it did not ask for (the OOM killer, a stray kill -9) is resumed this many times.
    static let resumesAfterKill = 3

    func exited(_ id: String, _ code: Int32, signaled: Bool = false) {
        let (wasCancelled, isStopping) = lock.withLock { () -> (Bool, Bool) in
            running = nil
            return (cancelled.remove(id) != nil, stopping)
        }
        guard var j = store.job(id) else { return }
        if isStopping && !wasCancelled { return }  // left "running": the next server start resumes it
        if signaled && !wasCancelled && j.runs <= BatchSupervisor.resumesAfterKill {
            j.status = "queued"
            j.message = "the job process was killed by signal \(code); resuming (run \(j.runs + 1))"
            try? store.save(j)
            log.warning("batch job killed; resuming", ["job": id, "signal": Int(code)])
            return
        }
        j.exitCode = code
        j.finished = BatchStore.iso()
        if wasCancelled { j.status = "cancelled"; j.message = "cancelled; what was done stays in the output folder" }
        else if code == 0 { j.status = "completed"; j.message = nil }
        else {
            j.status = "failed"
            let tail = (try? String(contentsOf: store.jobDir(id).appendingPathComponent("job.log"), encoding: .utf8))?
                .split(separator: "\n").last(where: { $0.contains("error") || $0.contains("stopped") }).map(String.init)
            j.message = tail ?? "the job exited with status \(code); see \(store.jobDir(id).path)/job.log"
        }
        try? store.save(j)
        log.info("batch job ended", ["job": id, "status": j.status, "exit_code": Int(code)])
    }

    /// Cancels a queued or running job.
    public func cancel(_ id: String) throws -> BatchJobRecord {
        guard var j = store.job(id) else { throw ConfigError("no job '\(id)'") }
        if j.isFinal { throw ConfigError("job \(id) is already \(j.status)") }
        let p: Process? = lock.withLock {
            if let r = running, r.id == id { cancelled.insert(id); return r.process }
            return nil
        }
        if let p {
            kill(p.processIdentifier, SIGTERM)
            let until = Date().addingTimeInterval(10)
            while p.isRunning && Date() < until { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            while store.job(id)?.status == "running" && Date() < until.addingTimeInterval(5) { usleep(20_000) }
            return store.job(id) ?? j
        }
        j.status = "cancelled"
        j.finished = BatchStore.iso()
        j.message = "cancelled before it started"
        try store.save(j)
        return j
    }

    /// At server shutdown: the running job is stopped and stays "running" in its record, so the next start resumes it.
    public func stop() {
        let p: Process? = lock.withLock { stopping = true; return running?.process }
        guard let p else { return }
        kill(p.processIdentifier, SIGTERM)
        let until = Date().addingTimeInterval(10)
        while p.isRunning && Date() < until { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

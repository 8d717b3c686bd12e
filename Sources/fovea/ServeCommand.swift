import ArgumentParser
import Foundation
import FoveaImage
import FoveaServer
import FoveaTensor

struct StateDirOption: ParsableArguments {
    @Option(help: "The server's state directory (endpoints, keys, logs, admin token).") var stateDir = ".fovea"
    var store: StateStore { StateStore(directory: URL(fileURLWithPath: stateDir)) }
}

/// The path of this executable (workers are started from it).
func selfExecutable() -> URL {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return URL(fileURLWithPath: p) }
    return URL(fileURLWithPath: CommandLine.arguments[0])
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the endpoints of a state directory: scoring on --port, the management API on 127.0.0.1.",
        discussion: """
        On first start the endpoint file (and its deployment files) create the endpoint with new keys; after that the
        state directory is the truth (traffic and keys survive restarts) and the CLI's endpoint/deployment verbs change
        it live. Each deployment runs instance_count `fovea worker` processes, probed per its liveness/readiness
        settings. SIGTERM or Ctrl-C stops accepting, drains in-flight requests, then stops the instances.
        """)
    @Option(help: "Address to listen on for scoring.") var host = "127.0.0.1"
    @Option(help: "Scoring port (0 = any free port).") var port = 8080
    @Option(help: "Management API port on 127.0.0.1 (0 = any free port; the CLI finds it in the state directory).")
    var managementPort = 0
    @OptionGroup var state: StateDirOption
    @Option(help: "The endpoint YAML that seeds the state directory.") var endpointFile = "endpoint.yml"
    @Option(help: "Deployment YAML files of that endpoint (repeatable).") var deploymentFile: [String] = ["deployment.yml"]
    @Option(help: "Largest request body, in bytes (413 above it).") var maxBodyBytes = 16 << 20
    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Wait for an instance's reply by sleeping until just before it is due, then spinning (at most 2 ms, only on an idle CPU).",
        discussion: "Saves most of the wake-up of a halted CPU per answer (0.04-0.1 ms at the median on a VM) for ~0.7 ms of idle CPU per request."))
    var replySpin = true
    @OptionGroup var registry: RegistryOption

    func run() async throws {
        var o = ServeOptions(stateDirectory: URL(fileURLWithPath: state.stateDir), registry: registry.value.root, executable: selfExecutable())
        o.host = host
        o.port = port
        o.managementPort = managementPort
        o.maxBodyBytes = maxBodyBytes
        o.replySpin = replySpin
        if FileManager.default.fileExists(atPath: endpointFile) {
            o.endpointFile = URL(fileURLWithPath: endpointFile)
            o.deploymentFiles = deploymentFile.map { URL(fileURLWithPath: $0) }
        } else if endpointFile != "endpoint.yml" {
            throw CLIError("cannot read the endpoint file \(endpointFile)")
        }
        if let running = o.stateDirectory.path.isEmpty ? nil : StateStore(directory: o.stateDirectory).runningServer() {
            throw CLIError("a server (pid \(running.pid)) already serves \(state.stateDir) on port \(running.port)")
        }
        let server: EndpointServer
        do {
            server = try EndpointServer(o)
            for n in try server.bootstrap() { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        } catch let e as ConfigError { throw CLIError(e.description) }
        let stateDir = state.stateDir
        try await server.run { s in
            for name in s.currentEndpointNames() {
                print("endpoint \(name): scoring URI \(s.scoringURI(name))")
                print("  keys: fovea endpoint get-credentials --name \(name) --state-dir \(stateDir)  (stored in \(s.store.stateFile.path), mode 0600)")
            }
            print("health: http://\(s.options.host):\(s.boundPort)/ready   metrics: http://\(s.options.host):\(s.boundPort)/metrics")
            print("logs: \(s.store.logDirectory.path)   stop: Ctrl-C or SIGTERM (drains in-flight requests)")
            fflush(stdout)
        }
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "One instance of a deployment (started by fovea serve): /live, /ready and /score for one model.",
        discussion: "Prints `FOVEA_WORKER_PORT <port>` once listening; logs JSON lines on stderr.")
    @Option(help: "name:version of a registered model.") var model: String
    @OptionGroup var registry: RegistryOption
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0 = any free port).") var port = 0
    @Option(help: "Deployment name (for logs).") var deployment = "local"
    @Option(help: "Instance index (for logs).") var instance = 0
    @Option(help: "Exit when this process is no longer the parent.") var parentPid: Int32?
    @Option(help: "Largest request body, in bytes.") var maxBodyBytes = 16 << 20
    @Option(help: "Largest image accepted, in pixels.") var maxPixels = ImageDecoder.defaultMaxPixels
    @Option(help: "Engine threads (default: $FOVEA_NUM_THREADS or 1; scale with instance_count).") var threads: Int?

    func run() async throws {
        Threads.count = threads ?? ProcessInfo.processInfo.environment["FOVEA_NUM_THREADS"].flatMap { Int($0) } ?? 1
        var o = WorkerOptions(model: model, registry: registry.value.root)
        o.host = host
        o.port = port
        o.deployment = deployment
        o.instance = instance
        o.parentPID = parentPid
        o.maxBodyBytes = maxBodyBytes
        o.maxPixels = maxPixels
        try await Worker.run(o)
    }
}

import ArgumentParser
import Foundation
import FoveaBatch
import FoveaModel
import FoveaServer

/// Azure's batch endpoint verbs. Endpoints and deployments are files in the state directory (edited here, with or
/// without a server); jobs run on the `fovea serve` of that state directory, beside its online deployments.
struct BatchEndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-endpoint",
        abstract: "Batch endpoints: create, show, list, delete, invoke (a job that runs on the server).",
        subcommands: [Create.self, Show.self, List.self, Delete.self, Invoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a batch endpoint from its YAML (name, description, defaults.deployment_name).")
        @Option(name: [.customShort("f"), .long], help: "batch endpoint YAML") var file: String?
        @Option(help: "Or just a name.") var name: String?
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let yaml = try file.map(readText) ?? name.map { "name: \($0)\n" } ?? { throw CLIError("give -f batch-endpoint.yml or --name") }()
            let s = BatchStore(stateDirectory: state.store.directory)
            do { printJSON(showEndpoint(try s.createEndpoint(yaml: yaml, file: file ?? "--name"))) } catch let e as ConfigError { throw CLIError(e.description) }
        }
    }
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a batch endpoint.")
        @Option var name: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            do { printJSON(showEndpoint(try BatchStore(stateDirectory: state.store.directory).endpoint(name))) } catch let e as ConfigError { throw CLIError(e.description) }
        }
    }
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List batch endpoints.")
        @OptionGroup var state: StateDirOption
        func run() async throws { printJSON(BatchStore(stateDirectory: state.store.directory).endpoints().map(showEndpoint)) }
    }
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a batch endpoint (refused while one of its jobs is queued or running).")
        @Option var name: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            do { try BatchStore(stateDirectory: state.store.directory).deleteEndpoint(name) } catch let e as ConfigError { throw CLIError(e.description) }
            printJSON(["deleted": name])
        }
    }
    struct Invoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a batch job on the running server; prints the job (its id, status and output folder).",
            discussion: "Follow it with `fovea job stream ID`; the output folder holds the lines, job.json and metrics.json as `fovea batch` writes them.")
        @Option var name: String
        @Option(help: "The deployment (default: the endpoint's default).") var deploymentName: String?
        @Option(help: "A folder or a dataset file (any `fovea batch` input).") var input: String
        @Option(help: "score | explain") var command = "score"
        @Option(help: "Explain jobs: /score's xai_parameters as JSON.") var xaiParameters: String?
        @Option(help: "Override the deployment's mini_batch_size.") var miniBatchSize: Int?
        @Option(help: "Override instance_count.") var instanceCount: Int?
        @Option(help: "Override max_concurrency_per_instance.") var maxConcurrencyPerInstance: Int?
        @Option(help: "Override output_file_name.") var outputFileName: String?
        @Option(help: "automl | automl-jsonl | google") var outputFormat: String?
        @OptionGroup var state: StateDirOption
        func run() async throws {
            var args: [String] = []
            if let xaiParameters { args += ["--xai-parameters", xaiParameters] }
            if let v = miniBatchSize { args += ["--mini-batch-size", String(v)] }
            if let v = instanceCount { args += ["--instance-count", String(v)] }
            if let v = maxConcurrencyPerInstance { args += ["--max-concurrency-per-instance", String(v)] }
            if let v = outputFileName { args += ["--output-file-name", v] }
            if let v = outputFormat { args += ["--output-format", v] }
            if xaiParameters != nil && command != "explain" { throw CLIError("--xai-parameters is for --command explain") }
            var body: [String: Any] = ["input": URL(fileURLWithPath: input).standardizedFileURL.path, "command": command, "arguments": args]
            if let d = deploymentName { body["deployment"] = d }
            let c = Control(store: state.store)
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            guard let a = try await c.call(.POST, "/batch-endpoints/\(name)/jobs", body: json) else {
                throw CLIError("no server runs on \(state.stateDir): jobs run beside `fovea serve` (or run `fovea batch score` directly)")
            }
            try c.printAnswer(a)
        }
    }
}

func showEndpoint(_ e: BatchEndpointRecord) -> [String: Any] {
    var models: [String: String] = [:]
    for (d, y) in e.deployments { if let s = try? BatchSettings.parse(yaml: y, file: d), let m = s.model { models[d] = m } }
    let none: Any = NSNull()
    return ["name": e.name, "description": e.description.map { $0 as Any } ?? none,
            "defaults": ["deployment_name": e.defaultDeployment.map { $0 as Any } ?? none],
            "deployments": e.deployments.keys.sorted().map { d -> [String: Any] in ["name": d, "model": models[d].map { $0 as Any } ?? none] },
            "created": e.created]
}

struct BatchDeploymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-deployment",
        abstract: "Batch deployments: create (or replace) one from Azure's batch deployment YAML.",
        subcommands: [Create.self])
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a deployment to its batch endpoint (settings checked, model resolved).")
        @Option(name: [.customShort("f"), .long], help: "batch deployment YAML") var file: String
        @Flag(help: "Make it the endpoint's default deployment.") var setDefault = false
        @OptionGroup var state: StateDirOption
        @OptionGroup var registry: RegistryOption
        func run() async throws {
            let yaml = try readText(file)
            let s: BatchSettings
            do { s = try BatchSettings.parse(yaml: yaml, file: file) } catch let e as BatchError { throw CLIError(e.description) }
            guard let m = s.model else { throw CLIError("\(file): 'model' is required (a registered model as name:version)") }
            let loaded = try cli { try ModelFolder.load(try registry.value.resolve(m).directory) }
            do {
                let e = try BatchStore(stateDirectory: state.store.directory).putDeployment(yaml: yaml, file: file, setDefault: setDefault)
                printJSON(showEndpoint(e))
            } catch let e as ConfigError { throw CLIError(e.description) }
        }
    }
}

struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Batch jobs of a server: show, list, cancel, stream (progress until the job ends).",
        subcommands: [Show.self, List.self, Cancel.self, Stream.self])

    static func fetch(_ state: StateDirOption, _ id: String) async throws -> [String: Any] {
        let c = Control(store: state.store)
        if let a = try await c.call(.GET, "/jobs/\(id)") {
            guard a.0 == 200, let o = try JSONSerialization.jsonObject(with: a.1) as? [String: Any] else { throw CLIError("no job '\(id)'") }
            return o
        }
        let s = BatchStore(stateDirectory: state.store.directory)
        guard let j = s.job(id) else { throw CLIError("no job '\(id)'") }
        return s.show(j)
    }

    struct Show: AsyncParsableCommand {
        @Argument var id: String
        @OptionGroup var state: StateDirOption
        func run() async throws { printJSON(try await JobCommand.fetch(state, id)) }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let s = BatchStore(stateDirectory: state.store.directory)
            printJSON(s.jobs().map(s.show))
        }
    }
    struct Cancel: AsyncParsableCommand {
        @Argument var id: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.POST, "/jobs/\(id)/cancel") { return try c.printAnswer(a) }
            // no server: a queued job can be cancelled in its record; nothing runs
            let s = BatchStore(stateDirectory: state.store.directory)
            guard var j = s.job(id) else { throw CLIError("no job '\(id)'") }
            guard !j.isFinal else { throw CLIError("job \(id) is already \(j.status)") }
            j.status = "cancelled"
            j.message = "cancelled while no server ran"
            try s.save(j)
            printJSON(s.show(j))
        }
    }
    struct Stream: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the job's progress until it ends; exit 0 when it completed.")
        @Argument var id: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            var last = ""
            while true {
                let o = try await JobCommand.fetch(state, id)
                let status = o["status"] as? String ?? "?"
                var line = "\(id): \(status)"
                if let p = o["progress"] as? [String: Any] {
                    line += String(format: "  %d/%d images  %d failed  %.1f images/s", p["done"] as? Int ?? 0, p["total"] as? Int ?? 0,
                                   p["failed"] as? Int ?? 0, p["images_per_s"] as? Double ?? 0)
                    if let eta = p["eta_s"] as? Double, status == "running" { line += String(format: "  ETA %d:%02d", Int(eta) / 60, Int(eta) % 60) }
                }
                if line != last { print(line); fflush(stdout); last = line }
                if ["completed", "failed", "cancelled"].contains(status) {
                    if let m = o["message"] as? String { print(m) }
                    print("output: \(o["output"] as? String ?? "")")
                    if status != "completed" { throw ExitCode(1) }
                    return
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}

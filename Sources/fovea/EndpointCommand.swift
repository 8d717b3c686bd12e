import ArgumentParser
import AsyncHTTPClient
import Foundation
import FoveaServer
import NIOCore
import NIOHTTP1

/// Talks to the management API of the server that runs on a state directory, or edits the state directly when
/// no server runs (the next `fovea serve` picks the change up).
struct Control {
    let store: StateStore

    /// The server's answer (status and body), or nil when no server runs.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> (Int, Data)? {
        guard let info = store.runningServer() else { return nil }
        guard let token = try store.adminToken(create: false) else { throw CLIError("no admin token in \(store.directory.path)") }
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(info.managementPort)\(path)")
        req.method = method
        req.headers.add(name: "authorization", value: "Bearer \(token)")
        if let body { req.body = .bytes(ByteBuffer(string: body)) }
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(60))
        let b = try await r.body.collect(upTo: 64 << 20)
        return (Int(r.status.code), Data(buffer: b))
    }

    /// Prints a server answer (exit 1 with the server's message on an error status).
    func printAnswer(_ a: (Int, Data)) throws {
        guard a.0 == 200 else {
            let o = try? JSONSerialization.jsonObject(with: a.1) as? [String: Any]
            let msg = ((o?["error"] as? [String: Any])?["message"] as? String) ?? String(decoding: a.1, as: UTF8.self)
            throw CLIError(msg)
        }
        print(String(decoding: a.1, as: UTF8.self))
    }

    /// Offline: load, change, save the state atomically.
    func offline<T>(_ f: (inout PersistedState) throws -> T) throws -> T {
        var s = try store.load()
        do {
            let out = try f(&s)
            try store.save(s)
            return out
        } catch let e as ConfigError { throw CLIError(e.description) }
    }
}

func printJSON(_ o: Any) {
    let d = (try? JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    print(String(decoding: d, as: UTF8.self))
}

func readText(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw CLIError("cannot read \(path): \(error.localizedDescription)") }
}

func offlineSummary(_ e: PersistedEndpoint) -> [String: Any] {
    ["name": e.name, "auth_mode": e.authMode, "traffic": e.traffic, "mirror_traffic": e.mirrorTraffic,
     "deployments": e.deployments.keys.sorted(), "description": e.description ?? NSNull(), "server": "not running"]
}

struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint",
        abstract: "Online endpoints: create, update (traffic, mirror), show, list, delete, invoke, credentials.",
        discussion: "Changes apply live when `fovea serve` runs on the state directory, else to the state for its next start.",
        subcommands: [Create.self, Update.self, Show.self, List.self, Delete.self, Invoke.self, GetCredentials.self, RegenerateKeys.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an endpoint from endpoint.yml (new keys; traffic is set later).")
        @Option(name: [.customShort("f"), .long], help: "endpoint YAML file") var file: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let yaml = try readText(file)
            let c = Control(store: state.store)
            if let a = try await c.call(.POST, "/endpoints", body: yaml) { return try c.printAnswer(a) }
            let cfg: EndpointConfig
            do { cfg = try EndpointConfig.parse(yaml: yaml, file: file) } catch let e as ConfigError { throw CLIError(e.description) }
            try c.offline { try $0.createEndpoint(cfg) }
            printJSON(offlineSummary(try c.offline { try $0.endpoint(cfg.name) }))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change traffic and mirror traffic, e.g. --traffic \"blue=90 green=10\" --mirror-traffic \"green=10\".",
            discussion: "Traffic must add up to 0 or 100 over existing deployments; mirror names one deployment, at most 50%, without live traffic.")
        @Option(help: "Endpoint name.") var name: String
        @Option(help: "Live traffic: \"NAME=PERCENT ...\".") var traffic: String?
        @Option(help: "Mirror traffic: \"NAME=PERCENT\" (\"\" removes it).") var mirrorTraffic: String?
        @OptionGroup var state: StateDirOption
        func run() async throws {
            guard traffic != nil || mirrorTraffic != nil else { throw CLIError("give --traffic and/or --mirror-traffic") }
            var t: [String: Int]?, m: [String: Int]?
            do {
                t = try traffic.map(EndpointConfig.parseAssignments)
                m = try mirrorTraffic.map(EndpointConfig.parseAssignments)
            } catch let e as ConfigError { throw CLIError(e.description) }
            let c = Control(store: state.store)
            var body: [String: Any] = [:]
            if let t { body["traffic"] = t }
            if let m { body["mirror_traffic"] = m }
            let text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            if let a = try await c.call(.PATCH, "/endpoints/\(name)", body: text) { return try c.printAnswer(a) }
            try c.offline { try $0.updateEndpoint(name, traffic: t, mirror: m) }
            printJSON(offlineSummary(try c.offline { try $0.endpoint(name) }))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an endpoint: traffic, deployments, instances, scoring URI.")
        @Option(help: "Endpoint name.") var name: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.GET, "/endpoints/\(name)") { return try c.printAnswer(a) }
            printJSON(offlineSummary(try c.offline { try $0.endpoint(name) }))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the endpoints.")
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.GET, "/endpoints") { return try c.printAnswer(a) }
            let s = try c.offline { $0 }
            printJSON(s.endpoints.keys.sorted().map { offlineSummary(s.endpoints[$0]!) })
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an endpoint and its deployments.")
        @Option(help: "Endpoint name.") var name: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.DELETE, "/endpoints/\(name)") { return try c.printAnswer(a) }
            try c.offline { try $0.deleteEndpoint(name) }
            printJSON(["deleted": name])
        }
    }

    struct GetCredentials: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-credentials",
            abstract: "Print {\"primaryKey\", \"secondaryKey\"} (auth_mode key) or a token with its expiry (aml_token).")
        @Option(help: "Endpoint name.") var name: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.GET, "/endpoints/\(name)/credentials") { return try c.printAnswer(a) }
            let e = try c.offline { try $0.endpoint(name) }
            printJSON(try FoveaServer.credentials(for: e))
        }
    }

    struct RegenerateKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "regenerate-keys",
            abstract: "Replace one key; the other keeps working, so clients can rotate without errors.")
        @Option(help: "Endpoint name.") var name: String
        @Option(help: "primary or secondary.") var keyType: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["key_type": keyType]), as: UTF8.self)
            if let a = try await c.call(.POST, "/endpoints/\(name)/regenerate-keys", body: body) { return try c.printAnswer(a) }
            let k = try c.offline { try $0.regenerateKey(name, keyType: keyType) }
            printJSON(["primaryKey": k.primaryKey, "secondaryKey": k.secondaryKey])
        }
    }

    struct Invoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a scoring request (a JSON request file or an image file) with the endpoint's key; print the answer.")
        @Option(help: "Endpoint name.") var name: String
        @Option(help: "A JSON request body, or an image (sent raw).") var requestFile: String
        @Option(help: "Pin the request to this deployment (azureml-model-deployment).") var deploymentName: String?
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let store = state.store
            guard let info = store.runningServer() else { throw CLIError("no server runs on \(state.stateDir); start fovea serve") }
            let e = try Control(store: store).offline { try $0.endpoint(name) }
            let cred = try FoveaServer.credentials(for: e)
            let secret = (cred["primaryKey"] ?? cred["accessToken"]) as! String
            guard let data = FileManager.default.contents(atPath: requestFile) else { throw CLIError("cannot read \(requestFile)") }
            let isJSON = data.first == UInt8(ascii: "{")
            var req = HTTPClientRequest(url: "http://\(info.host):\(info.port)/endpoints/\(name)/score")
            req.method = .POST
            req.headers.add(name: "authorization", value: "Bearer \(secret)")
            req.headers.add(name: "content-type", value: isJSON ? "application/json" : "application/octet-stream")
            if let d = deploymentName { req.headers.add(name: "azureml-model-deployment", value: d) }
            req.body = .bytes(ByteBuffer(data: data))
            let r = try await HTTPClient.shared.execute(req, timeout: .seconds(300))
            let b = try await r.body.collect(upTo: 256 << 20)
            let text = String(buffer: b)
            guard r.status == .ok else { throw CLIError("\(r.status.code): \(text)") }
            if let d = r.headers["azureml-model-deployment"].first { FileHandle.standardError.write(Data("answered by deployment \(d)\n".utf8)) }
            print(text)
        }
    }
}

struct DeploymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deployment",
        abstract: "Deployments of an endpoint: create, update, delete, get-logs.",
        subcommands: [Create.self, Update.self, Delete.self, GetLogs.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a deployment from deployment.yml (its endpoint_name); it starts with 0% traffic.")
        @Option(name: [.customShort("f"), .long], help: "deployment YAML file") var file: String
        @OptionGroup var state: StateDirOption
        func run() async throws { try await put(file: file, state: state, update: false) }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a deployment's settings; new instances start, the old stop once one is ready.")
        @Option(name: [.customShort("f"), .long], help: "deployment YAML file") var file: String
        @OptionGroup var state: StateDirOption
        func run() async throws { try await put(file: file, state: state, update: true) }
    }

    static func put(file: String, state: StateDirOption, update: Bool) async throws {
        let yaml = try readText(file)
        let c = Control(store: state.store)
        if let a = try await c.call(update ? .PUT : .POST, "/deployments", body: yaml) { return try c.printAnswer(a) }
        let d = try c.offline { try $0.putDeployment(yaml: yaml, update: update) }
        printJSON(["name": d.name, "endpoint_name": d.endpointName, "model": d.model, "instance_count": d.instanceCount, "server": "not running"])
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a deployment (it must have no live traffic).")
        @Option(help: "Deployment name.") var name: String
        @Option(help: "Endpoint name.") var endpointName: String
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.DELETE, "/endpoints/\(endpointName)/deployments/\(name)") { return try c.printAnswer(a) }
            try c.offline { try $0.deleteDeployment(endpoint: endpointName, deployment: name) }
            printJSON(["deleted": name])
        }
    }

    struct GetLogs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-logs", abstract: "Print a deployment's JSON log lines (instances, probes, requests).")
        @Option(help: "Deployment name.") var name: String
        @Option(help: "Endpoint name.") var endpointName: String
        @Option(help: "How many of the last lines.") var lines = 5000
        @OptionGroup var state: StateDirOption
        func run() async throws {
            let c = Control(store: state.store)
            if let a = try await c.call(.GET, "/endpoints/\(endpointName)/deployments/\(name)/logs?lines=\(lines)") {
                guard a.0 == 200 else { return try c.printAnswer(a) }
                return print(String(decoding: a.1, as: UTF8.self), terminator: "")
            }
            let url = state.store.logDirectory.appendingPathComponent("\(endpointName)/\(name).log")
            guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("no logs for deployment '\(name)' of endpoint '\(endpointName)'") }
            print(FoveaServer.tailLog(url, lines: lines), terminator: "")
        }
    }
}

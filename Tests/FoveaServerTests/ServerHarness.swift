import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

/// A real `fovea serve` process on 127.0.0.1 with its own state directory and registry, for end-to-end tests.
final class TestServer: @unchecked Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: URL {
        if let b = ProcessInfo.processInfo.environment["FOVEA_BIN"] { return URL(fileURLWithPath: b) }
        return root.appendingPathComponent(".build/release/fovea")
    }
    static let client: HTTPClient = {
        var c = HTTPClient.Configuration()
        c.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }()

    /// A registry with the default MobileNetV2 (linked), the tiny MLflow classifier and the broken model.
    static let registry: URL = {
        let r = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-e2e-registry-\(getpid())")
        try? FileManager.default.removeItem(at: r)
        try! FileManager.default.createDirectory(at: r.appendingPathComponent("mobilenetv2-imagenet"), withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(at: r.appendingPathComponent("yolov3-tiny-coco"), withIntermediateDirectories: true)
        try! FileManager.default.createSymbolicLink(at: r.appendingPathComponent("yolov3-tiny-coco/1"),
                                                    withDestinationURL: root.appendingPathComponent("models/yolov3-tiny-coco/1"))
        try! FileManager.default.createSymbolicLink(at: r.appendingPathComponent("mobilenetv2-imagenet/1"),
                                                    withDestinationURL: root.appendingPathComponent("models/mobilenetv2-imagenet/1"))
        for (name, dir, task) in [("tiny", "Tests/Fixtures/mlflow_classifier", nil), ("broken", "Tests/Fixtures/broken_model", "multiclass")] {
            var args = ["model", "create", "--name", name, "--version", "1", "--path", root.appendingPathComponent(dir).path, "--registry", r.path]
            if let task { args += ["--task", task] }
            let res = try! TestServer.run(args)
            precondition(res.code == 0, res.err)
        }
        return r
    }()

    let dir: URL
    var process: Process!
    var port = 0
    var managementPort = 0
    let endpointYAML: String
    let deploymentYAMLs: [String]
    let extraArgs: [String]

    init(endpoint: String = TestServer.endpoint(), deployments: [String], args: [String] = [], dir: URL? = nil) throws {
        self.dir = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("fovea-e2e-\(UUID().uuidString.prefix(8))")
        endpointYAML = endpoint
        deploymentYAMLs = deployments
        extraArgs = args
        try start()
    }

    static func endpoint(name: String = "test-endpoint", traffic: String = "blue: 100", auth: String = "key", mirror: String? = nil) -> String {
        "name: \(name)\nauth_mode: \(auth)\ntraffic:\n  \(traffic.replacingOccurrences(of: ", ", with: "\n  "))\n" +
            (mirror.map { "mirror_traffic:\n  \($0)\n" } ?? "")
    }

    static func deployment(_ name: String, model: String = "tiny:1", endpoint: String = "test-endpoint", instances: Int = 1,
                           concurrency: Int = 1, timeoutMs: Int = 5000, readyDelay: Int = 0, extra: String = "") -> String {
        """
        name: \(name)
        endpoint_name: \(endpoint)
        model: azureml:\(model)
        instance_count: \(instances)
        request_settings:
          request_timeout_ms: \(timeoutMs)
          max_concurrent_requests_per_instance: \(concurrency)
        readiness_probe: {initial_delay: \(readyDelay), period: 1, timeout: 2, failure_threshold: 3}
        liveness_probe: {initial_delay: 1, period: 1, timeout: 2, failure_threshold: 5}
        \(extra)
        """
    }

    func start() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ef = dir.appendingPathComponent("endpoint.yml")
        try endpointYAML.write(to: ef, atomically: true, encoding: .utf8)
        var args = ["serve", "--port", "0", "--state-dir", dir.appendingPathComponent("state").path, "--endpoint-file", ef.path,
                    "--registry", TestServer.registry.path]
        for (i, y) in deploymentYAMLs.enumerated() {
            let f = dir.appendingPathComponent("deployment\(i).yml")
            try y.write(to: f, atomically: true, encoding: .utf8)
            args += ["--deployment-file", f.path]
        }
        let p = Process()
        p.executableURL = TestServer.binary
        p.arguments = args + extraArgs
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let errLog = dir.appendingPathComponent("serve.err")
        FileManager.default.createFile(atPath: errLog.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: errLog)
        try p.run()
        process = p
        let info = dir.appendingPathComponent("state/server.json")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let d = try? Data(contentsOf: info), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
               (o["pid"] as? Int).map(Int32.init) == p.processIdentifier {
                port = o["port"] as! Int
                managementPort = o["managementPort"] as! Int
                return
            }
            guard p.isRunning else { break }
            usleep(50_000)
        }
        throw NSError(domain: "TestServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "server did not start: " +
            ((try? String(contentsOf: errLog, encoding: .utf8)) ?? "")])
    }

    /// SIGTERM and wait for the drain.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(40)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    deinit { stop() }

    var state: [String: Any] {
        let d = try! Data(contentsOf: dir.appendingPathComponent("state/state.json"))
        return try! JSONSerialization.jsonObject(with: d) as! [String: Any]
    }

    func keys(_ endpoint: String = "test-endpoint") -> (String, String) {
        let e = (state["endpoints"] as! [String: Any])[endpoint] as! [String: Any]
        let k = e["keys"] as! [String: String]
        return (k["primaryKey"]!, k["secondaryKey"]!)
    }

    struct Reply: Sendable {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    }

    func request(_ path: String, method: HTTPMethodName = .POST, body: Data? = nil, key: String? = nil,
                 contentType: String = "application/json", headers: [String: String] = [:], timeout: Int64 = 60) async throws -> Reply {
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        req.method = method == .POST ? .POST : .GET
        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
        req.headers.add(name: "content-type", value: contentType)
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(data: body)) }
        let r = try await TestServer.client.execute(req, timeout: .seconds(timeout))
        let b = try await r.body.collect(upTo: 64 << 20)
        var h: [String: String] = [:]
        for x in r.headers { h[x.name.lowercased()] = x.value }
        return Reply(status: Int(r.status.code), headers: h, body: Data(buffer: b))
    }

    enum HTTPMethodName { case GET, POST }

    func score(_ body: Data, key: String? = nil, contentType: String = "application/json", headers: [String: String] = [:]) async throws -> Reply {
        try await request("/score", body: body, key: key ?? keys().0, contentType: contentType, headers: headers)
    }

    /// Waits until the deployment has `count` ready instances.
    func waitReady(_ deployment: String, count: Int = 1, endpoint: String = "test-endpoint", timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let d = try deploymentInfo(deployment, endpoint: endpoint), (d["ready_instances"] as? Int ?? 0) >= count { return }
            usleep(100_000)
        }
        XCTFail("deployment \(deployment) not ready after \(timeout) s")
    }

    func deploymentInfo(_ deployment: String, endpoint: String = "test-endpoint") throws -> [String: Any]? {
        let r = try cli(["endpoint", "show", "--name", endpoint])
        guard r.code == 0, let o = try? JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] else { return nil }
        return (o["deployments"] as? [[String: Any]])?.first { $0["name"] as? String == deployment }
    }

    func cli(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try TestServer.run(args + ["--state-dir", dir.appendingPathComponent("state").path])
    }

    static func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        try p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
    }

    func log(_ deployment: String, endpoint: String = "test-endpoint") -> [[String: Any]] {
        let url = dir.appendingPathComponent("state/logs/\(endpoint)/\(deployment).log")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

/// AutoML's request body: base64 with newlines every 76 characters, as `base64.encodebytes` writes it.
func automlBody(_ images: [Data], explain: Bool? = nil, xai: [String: Any]? = nil) -> Data {
    let rows: [String] = images.map { img in
        let b = img.base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]) + "\n"
        guard let explain else { return b }
        var row: [String: Any] = ["image_base64": b, "model_explainability": explain]
        if let xai { row["xai_parameters"] = xai }
        return String(decoding: try! JSONSerialization.data(withJSONObject: row), as: UTF8.self)
    }
    return try! JSONSerialization.data(withJSONObject: ["input_data": ["columns": ["image"], "data": rows]])
}

func fixture(_ path: String) -> Data { try! Data(contentsOf: TestServer.root.appendingPathComponent("Tests/Fixtures/\(path)")) }

/// Runs `n` requests with `concurrency` in flight at a time; returns the replies (errors as status -1).
func load(_ n: Int, concurrency: Int, _ make: @escaping @Sendable (Int) async throws -> TestServer.Reply) async -> [TestServer.Reply] {
    await withTaskGroup(of: [TestServer.Reply].self) { g in
        let next = Counter()
        for _ in 0..<concurrency {
            g.addTask {
                var out: [TestServer.Reply] = []
                while let i = next.take(below: n) {
                    do { out.append(try await make(i)) } catch {
                        out.append(.init(status: -1, headers: [:], body: Data("\(error)".utf8)))
                    }
                }
                return out
            }
        }
        var all: [TestServer.Reply] = []
        for await part in g { all += part }
        return all
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var i = 0
    func take(below n: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard i < n else { return nil }
        i += 1
        return i - 1
    }
}

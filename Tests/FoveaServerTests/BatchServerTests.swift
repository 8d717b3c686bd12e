import Foundation
import XCTest

/// Batch jobs through a real server: `fovea batch --endpoint` as a client of the scoring port, and batch endpoints
/// whose jobs the server runs (and resumes after its own kill -9).
final class BatchServerTests: XCTestCase {
    func temp(_ n: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-bs-\(getpid())-\(n)")
        try? FileManager.default.removeItem(at: u)
        return u
    }
    /// A list file of sample images (copied, so their names are stable).
    func inputList(_ names: [String]) throws -> URL {
        let d = temp("input")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for n in names {
            try FileManager.default.copyItem(at: TestServer.root.appendingPathComponent("Tests/Fixtures/images/samples/\(n)"), to: d.appendingPathComponent(n))
        }
        let list = d.appendingPathComponent("list.txt")
        try names.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
        return list
    }
    func npyFloats(_ u: URL) throws -> [Float] {
        let d = try Data(contentsOf: u)
        let headerLen = Int(d[8]) | Int(d[9]) << 8
        let body = d.subdata(in: (10 + headerLen)..<d.count)
        return body.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The same explain job in process and through the endpoint gives the same lines and files, and they equal the
    /// online /score answer for the same image and seed.
    func testBatchThroughTheEndpointEqualsInProcessAndOnlineScore() async throws {
        let s = try TestServer(deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1", timeoutMs: 60000)])
        defer { s.stop() }
        try s.waitReady("blue")
        let list = try inputList(["chelsea.png", "coffee.png"])
        let xai = ["--algorithm", "integrated_gradients", "--n-steps", "4", "--nt-samples", "2", "--seed", "3"]
        let viaEndpoint = temp("via-endpoint"), inProcess = temp("in-process")
        var r = try s.cli(["batch", "explain", "--endpoint", "test-endpoint", "--registry", TestServer.registry.path, "--input", list.path,
                           "--output", viaEndpoint.path] + xai)
        XCTAssertEqual(r.code, 0, r.err)
        r = try TestServer.run(["batch", "explain", "--model", "mobilenetv2-imagenet:1", "--registry", TestServer.registry.path, "--input", list.path,
                                "--output", inProcess.path] + xai)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: viaEndpoint.appendingPathComponent("predictions.jsonl")),
                       try Data(contentsOf: inProcess.appendingPathComponent("predictions.jsonl")))
        let job = try JSONSerialization.jsonObject(with: Data(contentsOf: viaEndpoint.appendingPathComponent("job.json"))) as! [String: Any]
        XCTAssertEqual(job["deployment"] as? String, "blue")
        // the online answer for chelsea with the same parameters
        let img = try Data(contentsOf: list.deletingLastPathComponent().appendingPathComponent("chelsea.png"))
        let online = try await s.score(automlBody([img], explain: true, xai: ["xai_algorithm": "integrated_gradients", "n_steps": 4, "nt_samples": 2,
                                                                             "seed": 3, "attributions": true]))
        XCTAssertEqual(online.status, 200)
        let row = (online.json as! [[String: Any]])[0]
        let png = Data(base64Encoded: row["visualizations"] as! String)!
        let attr = (row["attributions"] as! [[[Double]]]).flatMap { $0.flatMap { $0.map { Float($0) } } }
        for o in [viaEndpoint, inProcess] {
            XCTAssertEqual(try Data(contentsOf: o.appendingPathComponent("explanations/chelsea.png")), png)
            XCTAssertEqual(try npyFloats(o.appendingPathComponent("explanations/chelsea.npy")), attr)
        }
        // a wrong key stops the job at once with the reason
        r = try s.cli(["batch", "score", "--endpoint", "test-endpoint", "--key", "wrong", "--registry", TestServer.registry.path,
                       "--input", list.path, "--output", temp("bad-key").path])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("refused the key (401)"), r.err)
    }

    /// A batch endpoint's job runs on the server; kill -9 of the server mid-job, a restart resumes it, and its lines
    /// equal an uninterrupted in-process run.
    func testServerRunsBatchJobsAndResumesThemAfterItsOwnKillNine() async throws {
        let s = try TestServer(deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1")])
        defer { s.stop() }
        let list = try inputList(["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"])
        // 8 images: the 4 samples and copies under other names
        var names = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]
        for n in names {
            let copy = "copy-" + n
            try FileManager.default.copyItem(at: list.deletingLastPathComponent().appendingPathComponent(n), to: list.deletingLastPathComponent().appendingPathComponent(copy))
            names.append(copy)
        }
        try names.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
        XCTAssertEqual(try s.cli(["batch-endpoint", "create", "--name", "nightly"]).code, 0)
        let yml = temp("bd.yml")
        try """
        name: ig-nightly
        endpoint_name: nightly
        type: model
        model: azureml:mobilenetv2-imagenet:1
        resources: {instance_count: 1}
        settings:
          mini_batch_size: 1
          max_concurrency_per_instance: 1
          retry_settings: {max_retries: 1, timeout: 120}
        """.write(to: yml, atomically: true, encoding: .utf8)
        var r = try s.cli(["batch-deployment", "create", "-f", yml.path, "--set-default", "--registry", TestServer.registry.path])
        XCTAssertEqual(r.code, 0, r.err)
        let xai = "{\"xai_algorithm\": \"integrated_gradients\", \"n_steps\": 8, \"nt_samples\": 2, \"seed\": 5}"
        r = try s.cli(["batch-endpoint", "invoke", "--name", "nightly", "--input", list.path, "--command", "explain", "--xai-parameters", xai])
        XCTAssertEqual(r.code, 0, r.err)
        let id = (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any])["id"] as! String
        let output = URL(fileURLWithPath: (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any])["output"] as! String)
        // kill -9 the server once the job has written its first mini-batch
        let deadline = Date().addingTimeInterval(60)
        var parts = 0
        while Date() < deadline {
            parts = ((try? FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("parts").path)) ?? []).filter { $0.hasPrefix("mb-") }.count
            if parts >= 1 { break }
            usleep(10_000)
        }
        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        XCTAssertGreaterThanOrEqual(parts, 1)
        XCTAssertLessThan(parts, 8, "the job finished before the server could be killed")
        // the job's processes notice and stop; its record still says running
        usleep(1_500_000)
        XCTAssertEqual(try s.cli(["job", "show", id]).out.contains("\"status\" : \"running\""), true)
        try s.start()
        // now kill -9 the job process itself once it has done more: the server resumes it
        let until = Date().addingTimeInterval(60)
        var killed = false
        while Date() < until && !killed {
            let n = ((try? FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("parts").path)) ?? []).filter { $0.hasPrefix("mb-") }.count
            if n >= parts + 1 {
                for pid in (try FileManager.default.contentsOfDirectory(atPath: "/proc")).compactMap({ Int32($0) }) {
                    let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                    if cmd.contains(output.path) && cmd.contains("explain") && !cmd.contains("worker") { kill(pid, SIGKILL); killed = true }
                }
            }
            usleep(10_000)
        }
        XCTAssertTrue(killed, "the job process was not found running")
        r = try s.cli(["job", "stream", id])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("completed  8/8 images  0 failed"), r.out)
        let shown = try JSONSerialization.jsonObject(with: Data(try s.cli(["job", "show", id]).out.utf8)) as! [String: Any]
        XCTAssertEqual(shown["runs"] as? Int, 3)
        XCTAssertEqual(shown["message"] as? String, nil)
        // the same job, uninterrupted, in process
        let ref = temp("ref")
        r = try TestServer.run(["batch", "explain", "-f", yml.path, "--registry", TestServer.registry.path, "--input", list.path, "--output", ref.path,
                                "--xai-parameters", xai])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try Data(contentsOf: ref.appendingPathComponent("predictions.jsonl")), try Data(contentsOf: output.appendingPathComponent("predictions.jsonl")))
        XCTAssertEqual(try Data(contentsOf: ref.appendingPathComponent("explanations/rocket.npy")), try Data(contentsOf: output.appendingPathComponent("explanations/rocket.npy")))
        // list, cancel of a finished job, delete
        XCTAssertTrue(try s.cli(["job", "list"]).out.contains(id))
        r = try s.cli(["job", "cancel", id])
        XCTAssertTrue(r.err.contains("already completed"), r.err)
        r = try s.cli(["batch-endpoint", "invoke", "--name", "nope", "--input", list.path])
        XCTAssertTrue(r.err.contains("no batch endpoint 'nope'"), r.err)
        XCTAssertEqual(try s.cli(["batch-endpoint", "delete", "--name", "nightly"]).code, 0)
    }

    /// Cancelling a running job stops it; what was done stays.
    func testCancelARunningJob() async throws {
        let s = try TestServer(deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1")])
        defer { s.stop() }
        let list = try inputList(["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"])
        XCTAssertEqual(try s.cli(["batch-endpoint", "create", "--name", "nbatch"]).code, 0)
        let yml = temp("bd2.yml")
        try "name: dep\nendpoint_name: nbatch\nmodel: mobilenetv2-imagenet:1\nsettings: {mini_batch_size: 1, max_concurrency_per_instance: 1}\n"
            .write(to: yml, atomically: true, encoding: .utf8)
        XCTAssertEqual(try s.cli(["batch-deployment", "create", "-f", yml.path, "--registry", TestServer.registry.path]).code, 0)
        let r = try s.cli(["batch-endpoint", "invoke", "--name", "nbatch", "--input", list.path, "--command", "explain",
                           "--xai-parameters", "{\"xai_algorithm\": \"integrated_gradients\", \"n_steps\": 20}"])
        XCTAssertEqual(r.code, 0, r.err)
        let id = (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any])["id"] as! String
        let until = Date().addingTimeInterval(30)
        while Date() < until, !(try s.cli(["job", "show", id]).out.contains("\"status\" : \"running\"")) { usleep(50_000) }
        let c = try s.cli(["job", "cancel", id])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertTrue(c.out.contains("\"status\" : \"cancelled\""), c.out)
        let st = try s.cli(["job", "stream", id])
        XCTAssertEqual(st.code, 1)
        XCTAssertTrue(st.out.contains("cancelled"), st.out)
    }
}

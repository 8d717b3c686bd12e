import Foundation
import XCTest

/// The endpoint as a client sees it: real `fovea serve` and `fovea worker` processes, real HTTP on 127.0.0.1.
final class EndToEndTests: XCTestCase {
    let cat = fixture("images/chelsea.jpg")
    let catPNG = fixture("images/samples/chelsea.png")

    func top(_ row: Any?) -> String? {
        guard let r = row as? [String: Any], let p = r["probs"] as? [Double], let l = r["labels"] as? [String],
              let i = p.indices.max(by: { p[$0] < p[$1] }) else { return nil }
        return l[i]
    }

    func testScoringAutoMLSchemaRawBodyAuthAndHeaders() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1")])
        defer { s.stop() }
        try s.waitReady("blue")
        // AutoML's request: base64 with newlines; a second row that is not an image is dropped and reported.
        var r = try await s.score(automlBody([catPNG, Data("not an image".utf8)]), headers: ["x-request-id": "req-123"])
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        let rows = try XCTUnwrap(r.json as? [[String: Any]])
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(Set(rows[0].keys), ["probs", "labels"])
        XCTAssertEqual((rows[0]["labels"] as? [String])?.count, 1000)
        XCTAssertEqual(top(rows[0]), "Egyptian cat")
        XCTAssertEqual(((rows[0]["probs"] as? [Double]) ?? []).reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertEqual(r.headers["x-request-id"], "req-123")
        XCTAssertEqual(r.headers["azureml-model-deployment"], "blue")
        XCTAssertTrue(r.headers["x-fovea-row-errors"]?.contains("row 1") ?? false, "\(r.headers)")
        // the instance's model time, as a W3C Server-Timing entry
        let timing = try XCTUnwrap(r.headers["server-timing"], "\(r.headers)")
        XCTAssertTrue(timing.hasPrefix("model;dur="), timing)
        XCTAssertGreaterThan(Double(timing.dropFirst("model;dur=".count)) ?? 0, 0, timing)
        // The same cat as a raw JPEG body.
        r = try await s.score(cat, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(top((r.json as? [Any])?.first), "Egyptian cat")
        XCTAssertNotNil(r.headers["x-request-id"], "a request id is generated when the client sends none")
        // Row format of the XAI variant without explanations; with them it is a clear 400 until they exist.
        r = try await s.score(automlBody([catPNG], explain: false))
        XCTAssertEqual(top((r.json as? [Any])?.first), "Egyptian cat")
        // Explanations: AutoML's keys, a base64 PNG figure, attributions [3][224][224] when asked for.
        r = try await s.score(automlBody([catPNG], explain: true, xai: ["xai_algorithm": "guided_gradcam", "attributions": true]))
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        let xrow = try XCTUnwrap((r.json as? [[String: Any]])?.first)
        XCTAssertEqual(Set(xrow.keys), ["probs", "labels", "visualizations", "attributions"])
        let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(xrow["visualizations"] as? String)))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let attr = try XCTUnwrap(xrow["attributions"] as? [[[Double]]])
        XCTAssertEqual([attr.count, attr[0].count, attr[0][0].count], [3, 224, 224])
        r = try await s.score(automlBody([catPNG], explain: true, xai: ["xai_algorithm": "guided_gradcam", "visualizations": false]))
        let yrow = try XCTUnwrap((r.json as? [[String: Any]])?.first)
        XCTAssertTrue(yrow["visualizations"] is NSNull && yrow["attributions"] is NSNull, "\(yrow.keys)")
        r = try await s.score(automlBody([catPNG], explain: true, xai: ["xai_algorithm": "shap"]))
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("xai_algorithm"))
        r = try await s.score(automlBody([catPNG], explain: true, xai: ["n_steps": 1]))
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("n_steps"))
        // Bad requests name the problem.
        r = try await s.score(Data("{\"input_data\": {\"columns\": [\"text\"], \"data\": [\"x\"]}}".utf8))
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("columns"))
        r = try await s.score(Data("not json".utf8))
        XCTAssertEqual(r.status, 400)
        // 401: no key, wrong key; both keys work.
        r = try await s.request("/score", body: automlBody([catPNG]))
        XCTAssertEqual(r.status, 401)
        XCTAssertNotNil(r.headers["x-request-id"])
        r = try await s.score(automlBody([catPNG]), key: "wrong")
        XCTAssertEqual(r.status, 401)
        r = try await s.score(cat, key: s.keys().1, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 200)
        // Health, metrics, swagger.
        r = try await s.request("/ready", method: .GET)
        XCTAssertEqual(r.status, 200)
        r = try await s.request("/live", method: .GET)
        XCTAssertEqual(r.status, 200)
        r = try await s.request("/metrics", method: .GET)
        let metrics = String(decoding: r.body, as: UTF8.self)
        XCTAssertTrue(metrics.contains("fovea_requests_total{endpoint=\"test-endpoint\",deployment=\"blue\",code=\"200\"} 6"), metrics)
        XCTAssertTrue(metrics.contains("fovea_request_duration_seconds_bucket"), metrics)
        r = try await s.request("/swagger.json", method: .GET)
        XCTAssertNotNil(((r.json as? [String: Any])?["paths"] as? [String: Any])?["/score"])
        // Every log line of a request carries its id.
        let lines = s.log("blue").filter { ($0["request_id"] as? String) == "req-123" }
        XCTAssertGreaterThanOrEqual(lines.count, 2, "router and worker both log the request")
    }

    func testTrafficSplitPinningAndMirror() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(traffic: "blue: 70, green: 30", mirror: "shadow: 20"),
                               deployments: [TestServer.deployment("blue", concurrency: 4), TestServer.deployment("green", concurrency: 4),
                                             TestServer.deployment("shadow", concurrency: 8)])
        defer { s.stop() }
        for d in ["blue", "green", "shadow"] { try s.waitReady(d) }
        let key = s.keys().0
        let body = cat
        let replies = await load(1000, concurrency: 6) { _ in try await s.score(body, key: key, contentType: "image/jpeg") }
        XCTAssertEqual(replies.filter { $0.status == 200 }.count, 1000, "\(Set(replies.map(\.status)))")
        let blue = replies.filter { $0.headers["azureml-model-deployment"] == "blue" }.count
        let green = replies.filter { $0.headers["azureml-model-deployment"] == "green" }.count
        XCTAssertEqual(blue + green, 1000, "the mirror never answers a client")
        XCTAssertTrue((650...750).contains(blue), "blue got \(blue) of 1000 at 70%")
        // The mirror saw about 20% copies; its answers were discarded.
        try await Task.sleep(for: .milliseconds(500))
        let copies = s.log("shadow").filter { ($0["msg"] as? String)?.hasPrefix("mirror copy") ?? false }.count
        XCTAssertTrue((120...280).contains(copies), "shadow saw \(copies) mirror copies of 1000 at 20%")
        // The header reaches a 0% deployment.
        let r = try await s.score(body, key: key, contentType: "image/jpeg", headers: ["azureml-model-deployment": "shadow"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["azureml-model-deployment"], "shadow")
        let missing = try await s.score(body, key: key, contentType: "image/jpeg", headers: ["azureml-model-deployment": "nope"])
        XCTAssertEqual(missing.status, 404)
    }

    func testUpdateTrafficAndRotateKeysUnderLoad() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", concurrency: 4)])
        defer { s.stop() }
        try s.waitReady("blue")
        // A second deployment created live at 0%, then shifted to under load.
        let green = s.dir.appendingPathComponent("green.yml")
        try TestServer.deployment("green", concurrency: 4).write(to: green, atomically: true, encoding: .utf8)
        var c = try s.cli(["deployment", "create", "-f", green.path])
        XCTAssertEqual(c.code, 0, c.err)
        try s.waitReady("green")
        let (primary, secondary) = s.keys()
        let body = cat
        async let during = load(300, concurrency: 4) { _ in try await s.score(body, key: secondary, contentType: "image/jpeg") }
        try await Task.sleep(for: .milliseconds(200))
        c = try s.cli(["endpoint", "update", "--name", "test-endpoint", "--traffic", "blue=50 green=50"])
        XCTAssertEqual(c.code, 0, c.err)
        c = try s.cli(["endpoint", "update", "--name", "test-endpoint", "--traffic", "blue=60 green=60"])
        XCTAssertNotEqual(c.code, 0)
        XCTAssertTrue(c.err.contains("0 or 100"), c.err)
        c = try s.cli(["endpoint", "update", "--name", "test-endpoint", "--traffic", "blue=50 green=40 shadow=10"])
        XCTAssertTrue(c.err.contains("shadow"), c.err)
        c = try s.cli(["endpoint", "update", "--name", "test-endpoint", "--mirror-traffic", "green=10"])
        XCTAssertTrue(c.err.contains("live traffic"), c.err)
        // Rotate the primary while clients use the secondary.
        c = try s.cli(["endpoint", "regenerate-keys", "--name", "test-endpoint", "--key-type", "primary"])
        XCTAssertEqual(c.code, 0, c.err)
        let replies = await during
        XCTAssertEqual(replies.filter { $0.status == 200 }.count, 300, "\(replies.filter { $0.status != 200 }.prefix(3).map { String(decoding: $0.body, as: UTF8.self) })")
        XCTAssertGreaterThan(replies.filter { $0.headers["azureml-model-deployment"] == "green" }.count, 0)
        let creds = try JSONSerialization.jsonObject(with: Data(try s.cli(["endpoint", "get-credentials", "--name", "test-endpoint"]).out.utf8)) as! [String: String]
        XCTAssertNotEqual(creds["primaryKey"], primary)
        XCTAssertEqual(creds["secondaryKey"], secondary)
        var r = try await s.score(body, key: primary, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 401, "the old primary key no longer works")
        r = try await s.score(body, key: creds["primaryKey"]!, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 200)
        // Logs of a deployment through the CLI.
        c = try s.cli(["deployment", "get-logs", "--name", "green", "--endpoint-name", "test-endpoint", "--lines", "5"])
        XCTAssertEqual(c.out.split(separator: "\n").count, 5)
        // deployment update under load: a new generation of 2 instances replaces the old one, no request fails.
        let oldPIDs = Set(((try s.deploymentInfo("green")?["instances"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int })
        try TestServer.deployment("green", instances: 2, concurrency: 4).write(to: green, atomically: true, encoding: .utf8)
        let newKey = creds["primaryKey"]!
        async let during2 = load(200, concurrency: 4) { _ in try await s.score(body, key: newKey, contentType: "image/jpeg") }
        try await Task.sleep(for: .milliseconds(100))
        c = try s.cli(["deployment", "update", "-f", green.path])
        XCTAssertEqual(c.code, 0, c.err)
        let replies2 = await during2
        XCTAssertEqual(replies2.filter { $0.status == 200 }.count, 200, "\(Dictionary(grouping: replies2, by: \.status).mapValues(\.count))")
        try s.waitReady("green", count: 2)
        let newPIDs = Set(((try s.deploymentInfo("green")?["instances"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int })
        XCTAssertEqual(newPIDs.count, 2)
        XCTAssertTrue(newPIDs.isDisjoint(with: oldPIDs), "the old instance was replaced")
        c = try s.cli(["deployment", "delete", "--name", "green", "--endpoint-name", "test-endpoint"])
        XCTAssertNotEqual(c.code, 0, "green still has live traffic")
        XCTAssertTrue(c.err.contains("traffic"), c.err)
    }

    func testStatusCodes() async throws {
        let s = try TestServer(
            endpoint: TestServer.endpoint(),
            deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1", concurrency: 1),
                          TestServer.deployment("slow", model: "mobilenetv2-imagenet:1", timeoutMs: 1),
                          TestServer.deployment("broken", model: "broken:1"),
                          TestServer.deployment("late", readyDelay: 600)],
            args: ["--max-body-bytes", "200000"])
        defer { s.stop() }
        for d in ["blue", "slow", "broken"] { try s.waitReady(d) }
        let key = s.keys().0
        // 413 from Content-Length, before the body is read.
        var r = try await s.score(Data(count: 300_000), key: key, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 413)
        // 408: request_timeout_ms 1 on a real model.
        r = try await s.score(cat, key: key, contentType: "image/jpeg", headers: ["azureml-model-deployment": "slow"])
        XCTAssertEqual(r.status, 408, String(decoding: r.body, as: UTF8.self))
        // 424 with the model's status and reason.
        r = try await s.score(cat, key: key, contentType: "image/jpeg", headers: ["azureml-model-deployment": "broken"])
        XCTAssertEqual(r.status, 424)
        XCTAssertEqual(r.headers["ms-azureml-model-error-statuscode"], "500")
        XCTAssertTrue(r.headers["ms-azureml-model-error-reason"]?.contains("reshape") ?? false, "\(r.headers)")
        // 503: readiness gating — a deployment whose instance is not ready yet gets no traffic.
        r = try await s.score(cat, key: key, contentType: "image/jpeg", headers: ["azureml-model-deployment": "late"])
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.headers["retry-after"], "1")
        // 429: concurrency 1 on one instance admits 2 in flight; 24 at once are too many.
        let body = cat
        let replies = await load(24, concurrency: 24) { _ in try await s.score(body, key: key, contentType: "image/jpeg") }
        let codes = Dictionary(grouping: replies, by: \.status).mapValues(\.count)
        XCTAssertGreaterThan(codes[429] ?? 0, 0, "\(codes)")
        XCTAssertGreaterThan(codes[200] ?? 0, 0, "\(codes)")
        XCTAssertEqual((codes[200] ?? 0) + (codes[429] ?? 0), 24, "\(codes)")
    }

    func testKilledInstanceLosesNoRequestAndComesBack() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", instances: 2, concurrency: 2)])
        defer { s.stop() }
        try s.waitReady("blue", count: 2)
        let before = try XCTUnwrap(s.deploymentInfo("blue")?["instances"] as? [[String: Any]])
        let victim = Int32(before[0]["pid"] as! Int)
        let key = s.keys().0
        let body = cat
        async let replies = load(400, concurrency: 4) { _ in try await s.score(body, key: key, contentType: "image/jpeg") }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        let all = await replies
        XCTAssertEqual(all.filter { $0.status == 200 }.count, 400, "\(Dictionary(grouping: all, by: \.status).mapValues(\.count))")
        try s.waitReady("blue", count: 2, timeout: 30)
        let after = try XCTUnwrap(s.deploymentInfo("blue")?["instances"] as? [[String: Any]])
        XCTAssertFalse(after.contains { ($0["pid"] as? Int).map(Int32.init) == victim })
        XCTAssertTrue(s.log("blue").contains { $0["msg"] as? String == "instance died" })
        let m = String(decoding: try await s.request("/metrics", method: .GET).body, as: UTF8.self)
        XCTAssertTrue(m.contains("fovea_instance_restarts_total{endpoint=\"test-endpoint\",deployment=\"blue\",reason=\"exited\"} 1"), m)
    }

    func testRestartKeepsStateAndSigtermDrains() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", model: "mobilenetv2-imagenet:1", concurrency: 4),
                                                                          TestServer.deployment("green")])
        try s.waitReady("blue")
        var c = try s.cli(["endpoint", "update", "--name", "test-endpoint", "--traffic", "blue=80 green=20"])
        XCTAssertEqual(c.code, 0, c.err)
        let keys = s.keys()
        // SIGTERM while requests are in flight: they finish.
        let body = cat
        async let inflight = load(4, concurrency: 4) { _ in try await s.score(body, key: keys.0, contentType: "image/jpeg") }
        // SIGTERM only once all four reached the server (admitted or already answered): a request that had not yet
        // connected would rightly be refused, which is not what this checks
        let admitted = Date().addingTimeInterval(20)
        while Date() < admitted {
            let m = String(decoding: try await s.request("/metrics", method: .GET).body, as: UTF8.self)
            let seen = m.split(separator: "\n").filter { $0.hasPrefix("fovea_inflight_requests{") || $0.hasPrefix("fovea_requests_total{") }
                .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
            if seen >= 4 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        s.stop()
        let done = await inflight
        XCTAssertEqual(done.map(\.status), [200, 200, 200, 200])
        XCTAssertEqual(s.process.terminationStatus, 0)
        XCTAssertEqual(try String(contentsOf: s.dir.appendingPathComponent("state/state.json"), encoding: .utf8).isEmpty, false)
        let mode = try FileManager.default.attributesOfItem(atPath: s.dir.appendingPathComponent("state/state.json").path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        // Offline, the CLI still reads and edits the state.
        c = try s.cli(["endpoint", "show", "--name", "test-endpoint"])
        XCTAssertTrue(c.out.contains("not running"), c.out)
        // A new server on the same state directory: same traffic, same keys.
        try s.start()
        defer { s.stop() }
        try s.waitReady("blue")
        c = try s.cli(["endpoint", "show", "--name", "test-endpoint"])
        let shown = try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as! [String: Any]
        XCTAssertEqual(shown["traffic"] as? [String: Int], ["blue": 80, "green": 20])
        XCTAssertEqual(s.keys().0, keys.0)
        let r = try await s.score(cat, key: keys.0, contentType: "image/jpeg", headers: ["azureml-model-deployment": "blue"])
        XCTAssertEqual(top((r.json as? [Any])?.first), "Egyptian cat")
    }

    func testSecondEndpointWithAMLTokenCreatedLive() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue")])
        defer { s.stop() }
        let ef = s.dir.appendingPathComponent("tok.yml"), df = s.dir.appendingPathComponent("tokdep.yml")
        try "name: tok-endpoint\nauth_mode: aml_token\n".write(to: ef, atomically: true, encoding: .utf8)
        try TestServer.deployment("red", endpoint: "tok-endpoint").write(to: df, atomically: true, encoding: .utf8)
        var c = try s.cli(["endpoint", "create", "-f", ef.path])
        XCTAssertEqual(c.code, 0, c.err)
        c = try s.cli(["deployment", "create", "-f", df.path])
        XCTAssertEqual(c.code, 0, c.err)
        c = try s.cli(["endpoint", "update", "--name", "tok-endpoint", "--traffic", "red=100"])
        XCTAssertEqual(c.code, 0, c.err)
        try s.waitReady("red", endpoint: "tok-endpoint")
        c = try s.cli(["endpoint", "get-credentials", "--name", "tok-endpoint"])
        let cred = try JSONSerialization.jsonObject(with: Data(c.out.utf8)) as! [String: Any]
        let token = try XCTUnwrap(cred["accessToken"] as? String)
        XCTAssertGreaterThan(cred["expiryTimeUtc"] as? Int ?? 0, Int(Date().timeIntervalSince1970) + 3000)
        var r = try await s.request("/endpoints/tok-endpoint/score", body: cat, key: token, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["azureml-model-deployment"], "red")
        r = try await s.request("/endpoints/tok-endpoint/score", body: cat, key: token + "x", contentType: "image/jpeg")
        XCTAssertEqual(r.status, 401)
        r = try await s.request("/endpoints/tok-endpoint/score", body: cat, key: s.keys().0, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 401, "another endpoint's key is not a token")
        // invoke through the CLI
        let img = TestServer.root.appendingPathComponent("Tests/Fixtures/images/chelsea.jpg").path
        c = try s.cli(["endpoint", "invoke", "--name", "tok-endpoint", "--request-file", img])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertTrue(c.out.contains("\"probs\""), c.out)
    }
}

extension EndToEndTests {
    func testHungInstanceIsKilledByLivenessAndRestarted() async throws {
        let dep = TestServer.deployment("blue").replacingOccurrences(
            of: "liveness_probe: {initial_delay: 1, period: 1, timeout: 2, failure_threshold: 5}",
            with: "liveness_probe: {initial_delay: 1, period: 1, timeout: 1, failure_threshold: 2}")
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [dep])
        defer { s.stop() }
        try s.waitReady("blue")
        let pid = Int32(try XCTUnwrap((s.deploymentInfo("blue")?["instances"] as? [[String: Any]])?.first?["pid"] as? Int))
        XCTAssertEqual(kill(pid, SIGSTOP), 0)  // hung: alive but not answering
        let deadline = Date().addingTimeInterval(30)
        var newPID: Int32?
        while Date() < deadline {
            if let i = (try s.deploymentInfo("blue")?["instances"] as? [[String: Any]])?.first, let p = i["pid"] as? Int,
               Int32(p) != pid, i["phase"] as? String == "ready" { newPID = Int32(p); break }
            usleep(200_000)
        }
        XCTAssertNotNil(newPID, "a new instance replaced the hung one")
        XCTAssertNotEqual(kill(pid, 0), 0, "the hung process was killed")
        let m = String(decoding: try await s.request("/metrics", method: .GET).body, as: UTF8.self)
        XCTAssertTrue(m.contains("fovea_instance_restarts_total{endpoint=\"test-endpoint\",deployment=\"blue\",reason=\"liveness\"} 1"), m)
        XCTAssertTrue(m.contains("fovea_probe_failures_total{endpoint=\"test-endpoint\",deployment=\"blue\",probe=\"liveness\"}"), m)
        let r = try await s.score(cat, contentType: "image/jpeg")
        XCTAssertEqual(r.status, 200)
    }
}

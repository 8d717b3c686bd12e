import Foundation
import FoveaServer
import XCTest

final class ConfigTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testDefaultFilesParse() throws {
        let e = try EndpointConfig.parse(yaml: String(contentsOf: Self.root.appendingPathComponent("endpoint.yml"), encoding: .utf8))
        XCTAssertEqual(e.name, "fovea-endpoint")
        XCTAssertEqual(e.authMode, .key)
        XCTAssertEqual(e.traffic, ["blue": 100])
        XCTAssertEqual(e.warnings, [])
        let d = try DeploymentConfig.parse(yaml: String(contentsOf: Self.root.appendingPathComponent("deployment.yml"), encoding: .utf8))
        XCTAssertEqual(d.name, "blue")
        XCTAssertEqual(d.endpointName, "fovea-endpoint")
        XCTAssertEqual(d.model, "mobilenetv2-imagenet:1")
        XCTAssertEqual(d.instanceCount, 1)
        XCTAssertEqual(d.requestSettings.requestTimeoutMs, 60000)
        XCTAssertEqual(d.livenessProbe.failureThreshold, 30)
        XCTAssertNoThrow(try EndpointConfig.validate(traffic: e.traffic, mirror: e.mirrorTraffic, deployments: [d.name]))
    }

    func testDefaultsApplyWhenOmitted() throws {
        let d = try DeploymentConfig.parse(yaml: "name: green\nendpoint_name: my-endpoint\nmodel: m:2\ncolour: red\n")
        XCTAssertEqual(d.instanceCount, 1)
        XCTAssertEqual(d.requestSettings, .init())
        XCTAssertEqual(d.readinessProbe, .init())
        XCTAssertEqual(d.warnings, ["deployment.yml: unknown key 'colour' ignored"])
    }

    func testBadFieldsAreNamed() {
        let cases: [(String, String)] = [
            ("endpoint_name: e1x\nmodel: m:1\n", "'name' is required"),
            ("name: b\nendpoint_name: e1x\nmodel: m:1\n", "deployment name 'b' must be 3-32 characters"),
            ("name: blue\nendpoint_name: e1x\n", "'model' is required"),
            ("name: blue\nendpoint_name: e1x\nmodel: m:1\ninstance_count: 0\n", "'instance_count' must be between 1 and 64, got 0"),
            ("name: blue\nendpoint_name: e1x\nmodel: m:1\nrequest_settings:\n  request_timeout_ms: 999999\n", "'request_timeout_ms' must be between 1 and 180000"),
            ("name: blue\nendpoint_name: e1x\nmodel: m:1\nliveness_probe:\n  success_threshold: 2\n", "success_threshold is fixed at 1"),
            ("name: blue\nendpoint_name: e1x\nmodel: m:1\nreadiness_probe:\n  period: many\n", "'period' must be an integer"),
            ("name: blue\nendpoint_name: e1x\nmodel: ../../etc/passwd\n", "must name a registered model"),
        ]
        for (yaml, want) in cases {
            let m = message { _ = try DeploymentConfig.parse(yaml: yaml) }
            XCTAssertTrue(m.contains(want), "\(yaml): \(m)")
        }
        XCTAssertTrue(message { _ = try EndpointConfig.parse(yaml: "name: 9lives\n") }.contains("start with a letter"))
        XCTAssertTrue(message { _ = try EndpointConfig.parse(yaml: "name: ok-endpoint\nauth_mode: aad_token\n") }.contains("aad_token"))
        XCTAssertTrue(message { _ = try EndpointConfig.parse(yaml: "name: ok-endpoint\ntraffic:\n  blue: lots\n") }.contains("'traffic.blue' must be an integer"))
        XCTAssertTrue(message { _ = try EndpointConfig.parse(yaml: "[1, 2") }.contains("not valid YAML"))
    }

    func testTrafficRules() throws {
        let deps: Set<String> = ["blue", "green", "red"]
        XCTAssertNoThrow(try EndpointConfig.validate(traffic: ["blue": 90, "green": 10], mirror: ["red": 20], deployments: deps))
        XCTAssertNoThrow(try EndpointConfig.validate(traffic: [:], mirror: [:], deployments: deps))
        XCTAssertNoThrow(try EndpointConfig.validate(traffic: ["blue": 0], mirror: [:], deployments: deps))
        let bad: [([String: Int], [String: Int], String)] = [
            (["blue": 90, "green": 20], [:], "must add up to 0 or 100, got 110"),
            (["blue": 50], [:], "got 50"),
            (["purple": 100], [:], "'purple', which does not exist"),
            (["blue": 110, "green": -10], [:], "between 0 and 100"),
            (["blue": 100], ["green": 60], "between 0 and 50"),
            (["blue": 100], ["blue": 10], "cannot also be the mirror"),
            (["blue": 100], ["green": 10, "red": 10], "one deployment"),
        ]
        for (t, m, want) in bad {
            let msg = message { try EndpointConfig.validate(traffic: t, mirror: m, deployments: deps) }
            XCTAssertTrue(msg.contains(want), "\(t) \(m): \(msg)")
        }
        XCTAssertEqual(try EndpointConfig.parseAssignments("blue=90 green=10"), ["blue": 90, "green": 10])
        XCTAssertEqual(try EndpointConfig.parseAssignments("blue=90,green=10"), ["blue": 90, "green": 10])
        XCTAssertTrue(message { _ = try EndpointConfig.parseAssignments("blue:90") }.contains("NAME=PERCENT"))
        XCTAssertTrue(message { _ = try EndpointConfig.parseAssignments("blue=90 blue=10") }.contains("twice"))
    }

    func testKeysAreRandomAndComparedExactly() {
        let k = EndpointKeys.generate()
        XCTAssertNotEqual(k.primaryKey, k.secondaryKey)
        XCTAssertEqual(k.primaryKey.count, 43)
        XCTAssertTrue(k.accepts(k.primaryKey) && k.accepts(k.secondaryKey))
        XCTAssertFalse(k.accepts(String(k.primaryKey.dropLast())))
        XCTAssertFalse(k.accepts(k.primaryKey + "x"))
        XCTAssertFalse(k.accepts(""))
        let many = Set((0..<200).map { _ in EndpointKeys.randomKey() })
        XCTAssertEqual(many.count, 200)
    }

    func testAtomicFileWritesWithMode0600AndReplaces() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-state-\(getpid())")
        let f = dir.appendingPathComponent("keys.json")
        try AtomicFile.write(Data("one".utf8), to: f)
        try AtomicFile.write(Data("two".utf8), to: f)
        XCTAssertEqual(try String(contentsOf: f, encoding: .utf8), "two")
        let attrs = try FileManager.default.attributesOfItem(atPath: f.path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["keys.json"])   // no temp files left
    }
}

import Foundation
import XCTest

/// A detection deployment as a client sees it: the real YOLOv3-tiny COCO detector behind `fovea serve`.
final class DetectionServerTests: XCTestCase {
    func testScoreAnswersAutoMLBoxesAndRefusesExplanations() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", model: "yolov3-tiny-coco:1")])
        defer { s.stop() }
        try s.waitReady("blue")
        let cup = fixture("images/samples/coffee.png"), cat = fixture("images/samples/chelsea.png")
        let gray = try XCTUnwrap(Data(base64Encoded:  // a 2x2 mid-gray PNG: nothing to detect
            "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGNsaGhgYGBgYmBgYGBgAAASKgGEzwCOrgAAAABJRU5ErkJggg=="))
        var r = try await s.score(automlBody([cup, cat, gray]))
        XCTAssertEqual(r.status, 200, String(decoding: r.body, as: UTF8.self))
        let rows = try XCTUnwrap(r.json as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        for row in rows { XCTAssertEqual(Set(row.keys), ["boxes"]) }
        let cupBoxes = try XCTUnwrap(rows[0]["boxes"] as? [[String: Any]])
        XCTAssertEqual(cupBoxes.first?["label"] as? String, "cup")
        XCTAssertEqual(Set(cupBoxes[0].keys), ["box", "label", "score"])
        let box = try XCTUnwrap(cupBoxes[0]["box"] as? [String: Double])
        XCTAssertEqual(Set(box.keys), ["topX", "topY", "bottomX", "bottomY"])
        XCTAssertEqual(box["topX"]!, 0.2227, accuracy: 1e-3)
        XCTAssertEqual(box["bottomY"]!, 0.8375, accuracy: 1e-3)
        XCTAssertEqual((rows[0]["boxes"] as? [[String: Any]])?.first?["score"] as? Double ?? 0, 0.8455, accuracy: 1e-3)
        XCTAssertEqual((rows[1]["boxes"] as? [[String: Any]])?.first?["label"] as? String, "cat")
        XCTAssertEqual((rows[2]["boxes"] as? [Any])?.count, 0, "an image with nothing in it answers {\"boxes\": []}")
        // raw image body
        r = try await s.score(cat, contentType: "image/png")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(((r.json as? [[String: Any]])?.first?["boxes"] as? [[String: Any]])?.first?["label"] as? String, "cat")
        // explanations are for classifiers
        r = try await s.score(automlBody([cup], explain: true))
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(String(decoding: r.body, as: UTF8.self).contains("classification"), String(decoding: r.body, as: UTF8.self))
    }

    /// A detection batch job through the endpoint writes the same lines as the same job in process.
    func testBatchDetectionThroughTheEndpointEqualsInProcess() async throws {
        let s = try TestServer(endpoint: TestServer.endpoint(), deployments: [TestServer.deployment("blue", model: "yolov3-tiny-coco:1")])
        defer { s.stop() }
        try s.waitReady("blue")
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-detbatch-\(getpid())")
        try? FileManager.default.removeItem(at: d)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for n in ["coffee.png", "chelsea.png", "astronaut.png"] {
            try FileManager.default.copyItem(at: TestServer.root.appendingPathComponent("Tests/Fixtures/images/samples/\(n)"), to: d.appendingPathComponent(n))
        }
        let viaEndpoint = d.appendingPathComponent("out-endpoint"), inProcess = d.appendingPathComponent("out-local")
        var r = try s.cli(["batch", "score", "--endpoint", "test-endpoint", "--registry", TestServer.registry.path, "--input", d.path,
                           "--output", viaEndpoint.path])
        XCTAssertEqual(r.code, 0, r.err)
        r = try TestServer.run(["batch", "score", "--model", "yolov3-tiny-coco:1", "--registry", TestServer.registry.path, "--input", d.path,
                                "--output", inProcess.path])
        XCTAssertEqual(r.code, 0, r.err)
        let a = try String(contentsOf: viaEndpoint.appendingPathComponent("predictions.jsonl"), encoding: .utf8)
        XCTAssertEqual(a, try String(contentsOf: inProcess.appendingPathComponent("predictions.jsonl"), encoding: .utf8))
        XCTAssertEqual(a.split(separator: "\n").count, 3)
        XCTAssertTrue(a.contains("\"label\":\"cup\""), a)
    }
}

import Foundation
import FoveaModel
import FoveaServer
import XCTest

final class ScoringRequestTests: XCTestCase {
    let png = Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6])

    func testAutoMLBodyWithNewlinesInBase64() throws {
        let b64 = png.base64EncodedString().enumerated().map { $0.offset % 4 == 3 ? "\($0.element)\n" : "\($0.element)" }.joined()
        let body = try JSONSerialization.data(withJSONObject: ["input_data": ["columns": ["image"], "data": [b64, "@@@"]]])
        let r = try ScoringRequest.parse(body: body, contentType: "application/json")
        XCTAssertEqual(r.rows, [png, nil])
        XCTAssertEqual(r.rowErrors.keys.sorted(), [1])
        XCTAssertFalse(r.modelExplainability)
    }

    func testJSONRowsTakeFlagsFromRowZero() throws {
        let row0 = String(decoding: try JSONSerialization.data(withJSONObject: ["image_base64": png.base64EncodedString(), "model_explainability": "True",
                                                                                "xai_parameters": ["xai_algorithm": "xrai"]]), as: UTF8.self)
        let row1 = String(decoding: try JSONSerialization.data(withJSONObject: ["image_base64": png.base64EncodedString(), "model_explainability": false]), as: UTF8.self)
        let body = try JSONSerialization.data(withJSONObject: ["input_data": ["columns": ["image"], "data": [row0, row1]]])
        let r = try ScoringRequest.parse(body: body, contentType: nil)
        XCTAssertEqual(r.rows, [png, png])
        XCTAssertTrue(r.modelExplainability)
        XCTAssertEqual(r.xaiParameters["xai_algorithm"], .string("xrai"))
    }

    func testRawAndLegacyBodies() throws {
        XCTAssertEqual(try ScoringRequest.parse(body: png, contentType: "image/png; q=1").rows, [png])
        XCTAssertEqual(try ScoringRequest.parse(body: png, contentType: "application/octet-stream").rows, [png])
        let legacy = try JSONSerialization.data(withJSONObject: ["image": png.base64EncodedString(), "model_explainability": 0])
        XCTAssertEqual(try ScoringRequest.parse(body: legacy, contentType: "application/json").rows, [png])
    }

    func testBadBodiesNameTheProblem() {
        func message(_ body: String, _ type: String? = "application/json") -> String {
            do { _ = try ScoringRequest.parse(body: Data(body.utf8), contentType: type); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("").contains("empty"))
        XCTAssertTrue(message("[1]").contains("JSON object"))
        XCTAssertTrue(message("{\"x\": 1}").contains("input_data"))
        XCTAssertTrue(message("{\"input_data\": {\"columns\": [\"a\"], \"data\": [\"x\"]}}").contains("columns"))
        XCTAssertTrue(message("{\"input_data\": {\"columns\": [\"image\"], \"data\": []}}").contains("empty"))
        XCTAssertTrue(message("{\"input_data\": {\"columns\": [\"image\"], \"data\": [3]}}").contains("data[0]"))
        XCTAssertTrue(message("{\"input_data\": {\"data\": [\"{\\\"image_base64\\\": \\\"AA==\\\", \\\"model_explainability\\\": \\\"maybe\\\"}\"]}}").contains("model_explainability"))
    }
}

final class AuthTests: XCTestCase {
    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    func testSHA256AndHMACAgainstPublishedVectors() {
        XCTAssertEqual(hex(SHA256.hash(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(SHA256.hash([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 4231 test cases 1 and 2
        XCTAssertEqual(hex(HMACSHA256.mac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(hex(HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testTokensExpireAndAreBoundToTheEndpoint() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let (tok, exp) = AMLToken.issue(endpoint: "ep-one", secret: "s3cret", now: t0)
        XCTAssertEqual(exp.timeIntervalSince(t0), AMLToken.lifetime, accuracy: 1)
        XCTAssertTrue(AMLToken.verify(tok, endpoint: "ep-one", secret: "s3cret", now: t0))
        XCTAssertFalse(AMLToken.verify(tok, endpoint: "ep-two", secret: "s3cret", now: t0))
        XCTAssertFalse(AMLToken.verify(tok, endpoint: "ep-one", secret: "other", now: t0))
        XCTAssertFalse(AMLToken.verify(tok, endpoint: "ep-one", secret: "s3cret", now: t0.addingTimeInterval(AMLToken.lifetime + 1)))
        XCTAssertFalse(AMLToken.verify(tok.replacingOccurrences(of: ".", with: ".x"), endpoint: "ep-one", secret: "s3cret", now: t0))
    }

    func testStateOperationsValidate() throws {
        var s = PersistedState()
        try s.createEndpoint(EndpointConfig(name: "ep-one"))
        XCTAssertThrowsError(try s.createEndpoint(EndpointConfig(name: "ep-one")))
        let dep = "name: blue\nendpoint_name: ep-one\nmodel: m:1\n"
        _ = try s.putDeployment(yaml: dep, update: false)
        XCTAssertThrowsError(try s.putDeployment(yaml: dep, update: false))
        XCTAssertThrowsError(try s.putDeployment(yaml: dep.replacingOccurrences(of: "blue", with: "green"), update: true))
        try s.updateEndpoint("ep-one", traffic: ["blue": 100], mirror: nil)
        XCTAssertThrowsError(try s.updateEndpoint("ep-one", traffic: ["blue": 90], mirror: nil))
        XCTAssertThrowsError(try s.deleteDeployment(endpoint: "ep-one", deployment: "blue"), "a deployment with traffic cannot be deleted")
        let k = s.endpoints["ep-one"]!.keys
        let k2 = try s.regenerateKey("ep-one", keyType: "secondary")
        XCTAssertEqual(k2.primaryKey, k.primaryKey)
        XCTAssertNotEqual(k2.secondaryKey, k.secondaryKey)
        XCTAssertThrowsError(try s.regenerateKey("ep-one", keyType: "tertiary"))
    }
}

/// The explanation keys of AutoML's response, on the tiny MLflow classifier loaded as multiclass and as multilabel.
final class ExplanationResponseTests: XCTestCase {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/mlflow_classifier")
    let image = try! Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images/chelsea.jpg"))

    func score(_ task: TaskKind, _ xai: [String: JSONValue]) throws -> [[String: Any]] {
        let scorer = try Scorer(model: try ModelFolder.load(dir, task: task))
        var req = ScoringRequest(rows: [image, image])
        req.modelExplainability = true
        req.xaiParameters = xai
        let r = try scorer.score(req)
        return try JSONSerialization.jsonObject(with: r.json) as! [[String: Any]]
    }

    func testMulticlassKeys() throws {
        let rows = try score(.multiclass, ["xai_algorithm": .string("integrated_gradients"), "n_steps": .number(4), "attributions": .bool(true)])
        XCTAssertEqual(rows.count, 2)
        for row in rows {
            XCTAssertTrue(row["visualizations"] is String)
            let a = try XCTUnwrap(row["attributions"] as? [[[Double]]])
            XCTAssertEqual([a.count, a[0].count, a[0][0].count], [3, 160, 160])
        }
    }

    func testMultilabelListsOnePerClassAboveTheThreshold() throws {
        // a threshold no class passes: null for both
        let none = try score(.multilabel, ["xai_algorithm": .string("guided_backprop"), "confidence_score_threshold_multilabel": .number(1)])
        XCTAssertTrue(none[0]["visualizations"] is NSNull && none[0]["attributions"] is NSNull)
        // a threshold between the sorted probabilities: exactly the classes above it, in index order
        let probs = try XCTUnwrap(none[0]["probs"] as? [Double]).sorted()
        let thr = (probs[probs.count - 2] + probs[probs.count - 3]) / 2
        let rows = try score(.multilabel, ["xai_algorithm": .string("guided_backprop"), "confidence_score_threshold_multilabel": .number(thr)])
        XCTAssertEqual((rows[0]["visualizations"] as? [Any])?.count, 2)
        XCTAssertTrue((rows[0]["visualizations"] as? [Any])?.allSatisfy { $0 is String } ?? false)
        XCTAssertEqual((rows[0]["attributions"] as? [Any])?.count, 2)
        XCTAssertTrue((rows[0]["attributions"] as? [Any])?.allSatisfy { $0 is NSNull } ?? false, "attributions were not requested")
    }
}

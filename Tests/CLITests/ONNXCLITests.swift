import Foundation
import XCTest

/// `fovea onnx info | run | bench` as a user runs them: the real binary in a real process.
final class ONNXCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var binary: URL {
        if let b = ProcessInfo.processInfo.environment["FOVEA_BIN"] { return URL(fileURLWithPath: b) }
        return root.appendingPathComponent(".build/release/fovea")
    }
    let model = root.appendingPathComponent("models/mobilenetv2-imagenet/1/model.onnx").path

    struct Result { let code: Int32; let out: String; let err: String }

    func fovea(_ args: [String]) throws -> Result { try Self.fovea(args) }

    static func fovea(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        try p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(code: p.terminationStatus, out: String(decoding: od, as: UTF8.self), err: String(decoding: ed, as: UTF8.self))
    }

    func testInfoListsIOAndOps() throws {
        let r = try fovea(["onnx", "info", model])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("input:    input float32 [1, 3, 224, 224]"), r.out)
        XCTAssertTrue(r.out.contains("output:   logits float32 [1, 1000]"), r.out)
        XCTAssertTrue(r.out.contains("Conv x52") && r.out.contains("Clip x35"), r.out)
        XCTAssertTrue(r.out.contains("unsupported: none"), r.out)
        let j = try fovea(["onnx", "info", "--json", model])
        let obj = try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["opset"] as? Int, 17)
        XCTAssertEqual((obj["ops"] as? [String: Int])?["Add"], 10)
    }

    func testInfoExitsOneOnUnsupportedOpsAndOnGarbage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // a model with an op we do not implement, written by the fixture generator's format: reuse a fixture and rename its op
        let fixture = Self.root.appendingPathComponent("Tests/Fixtures/onnx/relu/model.onnx")
        var bytes = try Data(contentsOf: fixture)
        let from = Data("Relu".utf8), to = Data("Celu".utf8)
        while let r = bytes.range(of: from) { bytes.replaceSubrange(r, with: to) }
        let bad = dir.appendingPathComponent("celu.onnx")
        try bytes.write(to: bad)
        let r = try fovea(["onnx", "info", bad.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.out.contains("unsupported: Celu"), r.out)
        let garbage = dir.appendingPathComponent("garbage.onnx")
        try Data("GIF89a not a model".utf8).write(to: garbage)
        let g = try fovea(["onnx", "info", garbage.path])
        XCTAssertNotEqual(g.code, 0)
        XCTAssertTrue(g.err.contains("invalid ONNX model"), g.err)
        XCTAssertFalse(g.err.contains("Fatal error"), g.err)
    }

    func testRunWritesNpyOutputs() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-run-\(getpid())")
        let input = Self.root.appendingPathComponent("Tests/Fixtures/mobilenetv2/inputs/chelsea.npy").path
        for spec in [input, "input=\(input)"] {
            try? FileManager.default.removeItem(at: out)
            let r = try fovea(["onnx", "run", model, "--input", spec, "--output-dir", out.path])
            XCTAssertEqual(r.code, 0, r.err)
            let data = try Data(contentsOf: out.appendingPathComponent("logits.npy"))
            // parse the .npy by hand (independent of our reader): header, then 1000 little-endian float32
            XCTAssertEqual(data.prefix(6), Data([0x93] + Array("NUMPY".utf8)))
            let headerLen = Int(data[8]) | Int(data[9]) << 8
            let header = String(decoding: data[10..<(10 + headerLen)], as: UTF8.self)
            XCTAssertTrue(header.contains("'descr': '<f4'") && header.contains("(1, 1000)"), header)
            let floats = data.dropFirst(10 + headerLen).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(floats.count, 1000)
            XCTAssertEqual(floats.indices.max { floats[$0] < floats[$1] }, 285)
        }
        let wrong = try fovea(["onnx", "run", model, "--input", "nope=\(input)", "--output-dir", out.path])
        XCTAssertNotEqual(wrong.code, 0)
        XCTAssertTrue(wrong.err.contains("no input 'nope'"), wrong.err)
    }

    func testBenchPrintsOneJSONObject() throws {
        let r = try fovea(["onnx", "bench", model, "--iterations", "3", "--warmup", "1", "--batch", "2", "--backward"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["batch"] as? Int, 2)
        XCTAssertEqual(obj["iterations"] as? Int, 3)
        for k in ["median_ms", "min_ms", "forward_backward_median_ms", "peak_rss_mb"] {
            XCTAssertGreaterThan((obj[k] as? Double) ?? 0, 0, k)
        }
    }
}

/// `fovea explain` as a user runs it.
final class ExplainCLITests: XCTestCase {
    func testExplainWritesFigureAndAttributions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-explain-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let fig = dir.appendingPathComponent("fig.png").path, attr = dir.appendingPathComponent("attr.npy").path
        let input = ONNXCLITests.root.appendingPathComponent("Tests/Fixtures/mobilenetv2/inputs/chelsea.npy").path
        let r = try ONNXCLITests.fovea(["explain", "--algorithm", "guided_gradcam", "--input-tensor", input, "--out", fig,
                                        "--attributions", attr, "--registry", ONNXCLITests.root.appendingPathComponent("models").path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("Egyptian cat"), r.err)
        let png = try Data(contentsOf: URL(fileURLWithPath: fig))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let npy = try Data(contentsOf: URL(fileURLWithPath: attr))
        let header = String(decoding: npy.prefix(128), as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (3, 224, 224)") && header.contains("<f4"), header)
        XCTAssertEqual(npy.count - (Int(npy[8]) | Int(npy[9]) << 8) - 10, 3 * 224 * 224 * 4)
        let bad = try ONNXCLITests.fovea(["explain", "--algorithm", "lime", "--input-tensor", input, "--out", fig])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.err.contains("xai_algorithm"), bad.err)
        let steps = try ONNXCLITests.fovea(["explain", "--n-steps", "1", "--input-tensor", input, "--out", fig])
        XCTAssertNotEqual(steps.code, 0)
        XCTAssertTrue(steps.err.contains("n_steps"), steps.err)
    }
}

import Foundation
import FoveaImage
import FoveaModel
import FoveaONNX
import FoveaTensor
import XCTest

enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let models = root.appendingPathComponent("models")
    static let samples = root.appendingPathComponent("Tests/Fixtures/images/samples")
    static let mlflow = root.appendingPathComponent("Tests/Fixtures/mlflow_classifier")
    static func temp(_ name: String) -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}

/// The whole path (decode → preprocess → engine → softmax) on the sample photos against onnxruntime's
/// references, for the default model and EfficientNet-Lite0 (its own normalisation from settings.json).
final class ClassificationPathTests: XCTestCase {
    struct Reference: Decodable {
        struct Top: Decodable { let id: Int; let prob: Double }
        struct Img: Decodable { let top5: [Top] }
        let images: [String: Img]
    }

    func check(_ ref: String, _ model: String) throws {
        let r = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Paths.root.appendingPathComponent("Tests/Fixtures/reference/\(ref)")))
        let loaded = try ModelFolder.load(Registry(root: Paths.models).resolve(model).directory)
        XCTAssertEqual(loaded.task, .multiclass)
        XCTAssertEqual(loaded.labels.count, 1000)
        let h = ClassificationHandler(loaded)
        let names = r.images.keys.sorted()
        let imgs = try names.map { try ImageDecoder.decode(contentsOf: Paths.samples.appendingPathComponent($0)) }
        let results = try h.predict(imgs)   // one batch of four
        for (name, res) in zip(names, results) {
            let want = r.images[name]!.top5
            XCTAssertEqual(res.top(5).map(\.index), want.map(\.id), "\(model) \(name)")
            for (got, w) in zip(res.top(5), want) { XCTAssertEqual(Double(got.prob), w.prob, accuracy: 1e-3, "\(model) \(name)") }
            XCTAssertEqual(res.labels.count, 1000)
            XCTAssertEqual(res.probs.reduce(0, +), 1, accuracy: 1e-4)
        }
        if model.hasPrefix("mobilenet") { XCTAssertEqual(results[names.firstIndex(of: "chelsea.png")!].top(1)[0].label, "Egyptian cat") }
    }

    func testMobileNetV2MatchesReferences() throws { try check("mobilenetv2-imagenet_reference.json", "mobilenetv2-imagenet:1") }
    func testEfficientNetLite0MatchesReferences() throws { try check("efficientnet-lite0-imagenet_reference.json", "efficientnet-lite0-imagenet") }

    /// A folder written by the real mlflow.onnx.save_model (external-data tensor included) registers and
    /// predicts what onnxruntime predicts.
    func testMLflowFolderRegistersAndPredicts() throws {
        let reg = Registry(root: Paths.temp("reg"))
        let m = try reg.create(name: "tiny", version: "1", from: Paths.mlflow)
        XCTAssertEqual(m.task, .multiclass)
        XCTAssertEqual(m.baseModelName, "tiny_cnn")
        XCTAssertEqual(m.labels, ["can", "carton", "milk_bottle", "water_bottle"])
        XCTAssertEqual(m.settings.int("valid_crop_size"), 160)
        let expected = try JSONDecoder().decode([String: [Double]].self, from: Data(contentsOf: Paths.mlflow.appendingPathComponent("expected.json")))
        let h = ClassificationHandler(m)
        for (name, probs) in expected {
            let res = try h.predict([ImageDecoder.decode(contentsOf: Paths.samples.appendingPathComponent(name))])[0]
            for (a, b) in zip(res.probs, probs) { XCTAssertEqual(Double(a), b, accuracy: 1e-4, name) }
        }
    }

    func testMultilabelUsesSigmoid() throws {
        let m = try ModelFolder.load(Paths.mlflow, task: .multilabel)
        let res = try ClassificationHandler(m).predict([ImageDecoder.decode(contentsOf: Paths.samples.appendingPathComponent("coffee.png"))])[0]
        let logits = try ClassificationHandler(m).run([ClassificationHandler(m).preprocess(ImageDecoder.decode(contentsOf: Paths.samples.appendingPathComponent("coffee.png")))])
        for i in 0..<4 { XCTAssertEqual(res.probs[i], 1 / (1 + expf(-logits.f32[i])), accuracy: 1e-6) }
        XCTAssertNotEqual(res.probs.reduce(0, +), 1, accuracy: 1e-3)
    }
}

/// The registry: validation, atomic copies, no overwrite, names that cannot escape.
final class RegistryTests: XCTestCase {
    func plainExport() throws -> URL {
        // AutoML's plain export: model.onnx + labels.json, no MLmodel
        let d = Paths.temp("export")
        try FileManager.default.copyItem(at: Paths.mlflow.appendingPathComponent("model.onnx"), to: d.appendingPathComponent("model.onnx"))
        for f in try FileManager.default.contentsOfDirectory(atPath: Paths.mlflow.path) where f.hasSuffix(".data") {
            try FileManager.default.copyItem(at: Paths.mlflow.appendingPathComponent(f), to: d.appendingPathComponent(f))
        }
        try Data(#"["a", "b", "c", "d"]"#.utf8).write(to: d.appendingPathComponent("labels.json"))
        return d
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testPlainExportNeedsTaskThenRegisters() throws {
        let reg = Registry(root: Paths.temp("reg"))
        let src = try plainExport()
        XCTAssertTrue(message { try reg.create(name: "m", version: "1", from: src) }.contains("give --task"))
        let settings = Paths.temp("s").appendingPathComponent("settings.json")
        try Data(#"{"valid_resize_size": 180, "valid_crop_size": 160, "train_crop_size": 160, "colour": "blue"}"#.utf8).write(to: settings)
        let m = try reg.create(name: "m", version: "1", from: src, task: .multilabel, settings: settings)
        XCTAssertEqual(m.task, .multilabel)
        XCTAssertTrue(m.warnings.contains { $0.contains("unknown key 'colour'") }, "\(m.warnings)")
        // the registered copy describes itself: it loads without --task
        let again = try ModelFolder.load(reg.resolve("m:1").directory)
        XCTAssertEqual(again.task, .multilabel)
        XCTAssertEqual(again.settings.int("valid_crop_size"), 160)
        XCTAssertEqual(reg.list().map { "\($0.name):\($0.version)" }, ["m:1"])
        // never overwrite; the old version is intact
        XCTAssertTrue(message { try reg.create(name: "m", version: "1", from: src, task: .multiclass) }.contains("already exists"))
        XCTAssertEqual(try ModelFolder.load(reg.resolve("m:1").directory).task, .multilabel)
        try reg.create(name: "m", version: "2", from: src, task: .multiclass, settings: settings)
        XCTAssertEqual(try reg.resolve("m").version, "2")
        try reg.delete(name: "m", version: "1")
        XCTAssertEqual(reg.list().map(\.version), ["2"])
        XCTAssertTrue(message { _ = try reg.resolve("m:1") }.contains("not registered"))
        // no temporary folders left behind
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: reg.root.appendingPathComponent("m").path)
        XCTAssertEqual(leftovers, ["2"])
    }

    func testNamesCannotEscapeTheRegistry() throws {
        let reg = Registry(root: Paths.temp("reg"))
        let src = try plainExport()
        for (n, v) in [("../evil", "1"), ("a/b", "1"), ("ok", "../1"), (".hidden", "1"), ("", "1"), ("ok", "1/2")] {
            XCTAssertTrue(message { try reg.create(name: n, version: v, from: src, task: .multiclass) }.contains("invalid model"), "\(n):\(v)")
        }
        XCTAssertEqual(reg.list().count, 0)
    }

    func testValidationNamesTheProblem() throws {
        let src = try plainExport()
        let reg = Registry(root: Paths.temp("reg"))
        func settings(_ json: String) throws -> URL {
            let u = Paths.temp("s").appendingPathComponent("settings.json")
            try Data(json.utf8).write(to: u)
            return u
        }
        let cases: [(String, String)] = [
            (#"{"valid_crop_size": "big"}"#, "'valid_crop_size' must be an integer"),
            (#"{"valid_resize_size": -3}"#, "'valid_resize_size' must be an integer >= 1"),
            (#"{"box_score_thresh": 1.5}"#, "'box_score_thresh' must be a number between 0 and 1"),
            (#"{"image_std": [1, 0, 1]}"#, "'image_std' must be 3 positive numbers"),
            (#"[1, 2]"#, "must be a JSON object"),
            (#"{"valid_crop_size": 200}"#, "input is 160x160 but settings.json valid_crop_size is 200"),
        ]
        for (json, want) in cases {
            let m = message { try reg.create(name: "x", version: "1", from: src, task: .multiclass, settings: try settings(json)) }
            XCTAssertTrue(m.contains(want), "\(json): \(m)")
        }
        try Data(#"["a", "b"]"#.utf8).write(to: src.appendingPathComponent("labels.json"))
        let ok = try settings(#"{"valid_resize_size": 180, "valid_crop_size": 160}"#)
        let lm = message { try reg.create(name: "x", version: "1", from: src, task: .multiclass, settings: ok) }
        XCTAssertTrue(lm.contains("outputs 4 classes but there are 2 labels"), lm)
        XCTAssertTrue(message { try reg.create(name: "x", version: "1", from: src, task: TaskKind.parse("nonsense")) }.contains("unknown task"))
        XCTAssertEqual(reg.list().count, 0)
    }
}

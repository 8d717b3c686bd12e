import Foundation
import XCTest

/// Detection from the command line as a user runs it: predict (JSON, table, --draw), model create, and batch jobs
/// whose metrics are checked against pycocotools' COCOeval on a COCO set written by scripts/detection/coco_map.py.
final class DetectionCLITests: XCTestCase {
    var root: URL { ONNXCLITests.root }
    func sample(_ n: String) -> String { root.appendingPathComponent("Tests/Fixtures/images/samples/\(n)").path }
    func run(_ args: [String]) throws -> ONNXCLITests.Result {
        FileManager.default.changeCurrentDirectoryPath(root.path)
        return try ONNXCLITests.fovea(args)
    }
    func temp(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-detcli-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: u)
        return u
    }

    func testPredictJSONTableAndDrawing() throws {
        let r = try run(["predict", "--model", "yolov3-tiny-coco:1", sample("coffee.png"), sample("chelsea.png")])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(Set(lines[0].keys), ["filename", "boxes"])
        XCTAssertEqual(((lines[0]["boxes"] as? [[String: Any]])?.first?["label"]) as? String, "cup")
        XCTAssertEqual(((lines[1]["boxes"] as? [[String: Any]])?.first?["label"]) as? String, "cat")
        let t = try run(["predict", "--model", "yolov3-tiny-coco:1", "--top", "3", sample("astronaut.png")])
        XCTAssertTrue(t.out.contains("1. person"), t.out)
        XCTAssertTrue(t.out.contains("box x"), t.out)
        let png = temp("draw.png")
        let d = try run(["predict", "--model", "yolov3-tiny-coco:1", "--draw", png.path, sample("coffee.png")])
        XCTAssertEqual(d.code, 0, d.err)
        let bytes = try Data(contentsOf: png)
        XCTAssertEqual(Array(bytes.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        // the picture is the photo's size, with the box outline drawn in (pixels changed along the box's left edge)
        let dir = temp("drawdir")
        let many = try run(["predict", "--model", "yolov3-tiny-coco:1", "--draw", dir.path, sample("coffee.png"), sample("chelsea.png")])
        XCTAssertEqual(many.code, 0, many.err)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["coffee.png", "chelsea.png"])
        let bad = try run(["predict", "--draw", png.path, sample("coffee.png")])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.err.contains("--draw draws detections"), bad.err)
    }

    func testModelCreateDetectsArchitectureAndChecksLabels() throws {
        let reg = temp("reg")
        for (name, task) in [("yolov5like_3cls", "image-object-detection"), ("maskrcnn_resnet18_fpn", "image-instance-segmentation")] {
            let c = try run(["model", "create", "--name", name, "--version", "1", "--registry", reg.path, "--task", task,
                             "--path", root.appendingPathComponent("Tests/Fixtures/detection/\(name)").path])
            XCTAssertEqual(c.code, 0, c.err)
        }
        let p = try run(["predict", "--model", "maskrcnn_resnet18_fpn:1", "--registry", reg.path, sample("coffee.png")])
        XCTAssertEqual(p.code, 0, p.err)
        XCTAssertTrue(p.out.contains("\"polygon\""), p.out)
        // a YOLO export whose labels.json does not match its output width is refused at registration
        let broken = temp("badyolo")
        try FileManager.default.copyItem(at: root.appendingPathComponent("Tests/Fixtures/detection/yolov5like_3cls"), to: broken)
        try Data("[\"a\", \"b\"]".utf8).write(to: broken.appendingPathComponent("labels.json"))
        let c = try run(["model", "create", "--name", "bad", "--version", "1", "--registry", reg.path, "--task", "image-object-detection", "--path", broken.path])
        XCTAssertNotEqual(c.code, 0)
        XCTAssertTrue(c.err.contains("3 classes per box but there are 2 labels"), c.err)
        // a threshold outside [0, 1] names the setting
        try Data("{\"box_score_thresh\": 1.5}".utf8).write(to: broken.appendingPathComponent("artifacts/settings.json"))
        try Data("[\"a\", \"b\", \"c\"]".utf8).write(to: broken.appendingPathComponent("labels.json"))
        let s = try run(["model", "create", "--name", "bad", "--version", "1", "--registry", reg.path, "--task", "image-object-detection", "--path", broken.path])
        XCTAssertNotEqual(s.code, 0)
        XCTAssertTrue(s.err.contains("box_score_thresh"), s.err)
    }

    func testBatchDetectionLinesPreLabelsAndCOCOMetrics() throws {
        let set = temp("coco")
        let g = BatchCLITests.python(["scripts/detection/coco_map.py", "make", set.path])
        XCTAssertEqual(g.code, 0, g.err)
        let out = temp("job")
        let r = try run(["batch", "score", "--model", "yolov3-tiny-coco:1", "--input", set.appendingPathComponent("instances.json").path,
                         "--output", out.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue((r.out + r.err).contains("mAP@[.5:.95]"), r.out + r.err)
        let lines = try String(contentsOf: out.appendingPathComponent("predictions.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 9)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(Set(first.keys), ["filename", "boxes"])
        // metrics.json against pycocotools on the same predictions
        let ref = BatchCLITests.python(["scripts/detection/coco_map.py", "eval", set.path, out.path])
        XCTAssertEqual(ref.code, 0, ref.err)
        let want = try JSONSerialization.jsonObject(with: Data(ref.out.utf8)) as! [String: Double]
        let got = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("metrics.json"))) as! [String: Any]
        for k in ["map", "map_50", "map_75"] {
            XCTAssertEqual(got[k] as? Double ?? -9, want[k]!, accuracy: 1e-9, k)
        }
        XCTAssertGreaterThan(want["map_50"]!, 0.3, "the real detector finds most of the set")
        XCTAssertNotNil(got["voc_map_50"] as? Double)
        // pre-labels in AutoML's object detection JSONL schema, sure boxes only
        let pre = temp("prelabels")
        let p = try run(["batch", "score", "--model", "yolov3-tiny-coco:1", "--input", set.appendingPathComponent("instances.json").path,
                         "--output", pre.path, "--output-format", "automl-jsonl", "--output-file-name", "labels.jsonl", "--min-score", "0.3"])
        XCTAssertEqual(p.code, 0, p.err)
        let plines = try String(contentsOf: pre.appendingPathComponent("labels.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertFalse(plines.isEmpty)
        XCTAssertLessThan(plines.count, 9, "images with no box above 0.3 are left for a human")
        for l in plines {
            let labels = try XCTUnwrap(l["label"] as? [[String: Any]])
            XCTAssertFalse(labels.isEmpty)
            XCTAssertEqual(Set(labels[0].keys), ["label", "topX", "topY", "bottomX", "bottomY", "isCrowd"])
        }
        // explanations are for classifiers
        let e = try run(["batch", "explain", "--model", "yolov3-tiny-coco:1", "--input", sample("coffee.png"), "--output", temp("explain").path])
        XCTAssertNotEqual(e.code, 0)
        XCTAssertTrue(e.err.contains("explanations are for classification models"), e.err)
    }
}

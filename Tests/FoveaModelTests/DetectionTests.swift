import Foundation
import FoveaImage
import FoveaModel
import FoveaONNX
import FoveaTensor
import XCTest

/// AutoML's detection exports through Fovea (engine, preprocessing, task handlers) against independent
/// references computed at test time by scripts/detection/reference.py with onnxruntime, OpenCV, Pillow,
/// NumPy transcriptions of AutoML's post-processing, scikit-image and the `simplification` package.
final class DetectionTests: XCTestCase {
    static let models: [(name: String, dir: URL, task: TaskKind)] = [
        ("yolov3-tiny-coco", Paths.models.appendingPathComponent("yolov3-tiny-coco/1"), .objectDetection),
        ("yolov5like_3cls", Paths.root.appendingPathComponent("Tests/Fixtures/detection/yolov5like_3cls"), .objectDetection),
        ("fasterrcnn_resnet18_fpn", Paths.root.appendingPathComponent("Tests/Fixtures/detection/fasterrcnn_resnet18_fpn"), .objectDetection),
        ("retinanet_resnet18_fpn", Paths.root.appendingPathComponent("Tests/Fixtures/detection/retinanet_resnet18_fpn"), .objectDetection),
        ("maskrcnn_resnet18_fpn", Paths.root.appendingPathComponent("Tests/Fixtures/detection/maskrcnn_resnet18_fpn"), .instanceSegmentation),
    ]
    static let samples = ["astronaut", "coffee", "chelsea"]

    static let ref: URL = {
        let d = Paths.temp("detref")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "scripts/detection/reference.py", d.path]
        p.currentDirectoryURL = Paths.root
        let e = Pipe()
        p.standardError = e
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try! p.run()
        let err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "reference.py failed: \(String(decoding: err, as: UTF8.self))")
        return d
    }()

    static var loaded: [String: LoadedModel] = [:]
    func model(_ name: String) throws -> LoadedModel {
        if let m = Self.loaded[name] { return m }
        let e = Self.models.first { $0.name == name }!
        let m = try ModelFolder.load(e.dir, task: e.task)
        Self.loaded[name] = m
        return m
    }
    func image(_ s: String) throws -> RGBImage {
        let u = Self.samples.contains(s) ? Paths.samples.appendingPathComponent(s + ".png") : Self.ref.appendingPathComponent(s + ".png")
        return try ImageDecoder.decode(contentsOf: u)
    }
    func samplesFor(_ name: String) -> [String] { Self.samples + (name.hasPrefix("yolo") ? ["small", "tall"] : []) }

    /// Raw outputs on the reference inputs: the same count, boxes within 1e-3 of the input size, scores and
    /// masks within 1e-3 / 1e-4, labels equal (the R-CNN graphs keep their own score order).
    func testEngineAgreesWithOnnxruntimeOnEveryExport() throws {
        for (name, _, _) in Self.models {
            let m = try model(name)
            for s in samplesFor(name) + (name.hasPrefix("yolo") ? ["batch"] : []) {
                let d = Self.ref.appendingPathComponent("\(name)/\(s)")
                let x = try Npy.read(d.appendingPathComponent("input.npy"))
                let fetch = m.engine.outputNames.filter { FileManager.default.fileExists(atPath: d.appendingPathComponent("ort_\($0).npy").path) }
                XCTAssertFalse(fetch.isEmpty)
                let out = try m.engine.run([m.engine.inputNames[0]: x], fetch: fetch)
                for k in fetch {
                    let want = try Npy.read(d.appendingPathComponent("ort_\(k).npy")), got = out[k]!
                    XCTAssertEqual(got.shape, want.shape, "\(name)/\(s)/\(k) shape")
                    guard got.shape == want.shape else { continue }
                    if want.dtype == .int64 {
                        XCTAssertEqual(got.int64s, want.int64s, "\(name)/\(s)/\(k)")
                        continue
                    }
                    let tol: Float = k == "boxes" || k == "output" ? 1e-3 * 800 : (k == "masks" ? 1e-3 : 1e-4)
                    var worst: Float = 0
                    for i in 0..<want.count { worst = max(worst, abs(got.f32[i] - want.f32[i])) }
                    XCTAssertLessThanOrEqual(worst, tol, "\(name)/\(s)/\(k): max |Δ| \(worst)")
                }
            }
        }
    }

    /// The task's preprocessing equals the reference bit for bit: OpenCV's INTER_AREA (shrinking) and INTER_LINEAR
    /// (the small photo, growing) with AutoML's letterbox split; Pillow's bicubic resize for the R-CNN input.
    func testPreprocessingIsBitExact() throws {
        for name in ["yolov3-tiny-coco", "fasterrcnn_resnet18_fpn"] {
            let h = try TaskHandlers.make(try model(name))
            for s in samplesFor(name) {
                let want = try Npy.read(Self.ref.appendingPathComponent("\(name)/\(s)/input.npy"))
                let got = try h.prepare(try image(s)).tensor
                XCTAssertEqual([1] + got.shape, want.shape, "\(name)/\(s)")
                var diff = 0
                for i in 0..<min(got.count, want.count) where got.f32[i] != want.f32[i] { diff += 1 }
                XCTAssertEqual(diff, 0, "\(name)/\(s): \(diff) values differ")
            }
        }
    }

    struct Expected: Decodable {
        struct Box: Decodable {
            let box: [String: Double]
            let label: String
            let score: Double
            let polygon: [[Double]]?
        }
        let boxes: [Box]
    }

    func expected(_ name: String, _ s: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.ref.appendingPathComponent("\(name)/\(s)/expected.json")))
    }

    func assertBoxes(_ got: DetectionResult, _ want: Expected, _ what: String, polygons: Bool = true) {
        XCTAssertEqual(got.boxes.map(\.label), want.boxes.map(\.label), "\(what) labels")
        for (g, w) in zip(got.boxes, want.boxes) {
            XCTAssertEqual(Double(g.score), w.score, accuracy: 1e-4, "\(what) score")
            for (k, v) in [("topX", g.topX), ("topY", g.topY), ("bottomX", g.bottomX), ("bottomY", g.bottomY)] {
                XCTAssertEqual(Double(v), w.box[k]!, accuracy: 1e-4, "\(what) \(k)")
            }
            XCTAssertEqual(g.polygon == nil, w.polygon == nil)
            if polygons, let gp = g.polygon, let wp = w.polygon {
                XCTAssertEqual(gp.count, wp.count, "\(what) contours")
                for (a, b) in zip(gp, wp) {
                    XCTAssertEqual(a.count, b.count, "\(what) contour length")
                    if a.count == b.count { for i in a.indices { XCTAssertEqual(Double(a[i]), b[i], accuracy: 1e-6, what) } }
                }
            }
        }
    }

    /// AutoML's YOLO post-processing (objectness, obj × class, class-offset NMS, 300, unpad) on onnxruntime's own raw
    /// output equals the NumPy transcription of AutoML's code, ties and all.
    func testYOLOPostprocessingOnOnnxruntimeOutput() throws {
        for name in ["yolov3-tiny-coco", "yolov5like_3cls"] {
            let h = try XCTUnwrap(try TaskHandlers.make(try model(name)) as? YOLOHandler)
            for s in samplesFor(name) {
                let y = try Npy.read(Self.ref.appendingPathComponent("\(name)/\(s)/ort_output.npy"))
                let img = try image(s)
                let got = h.postprocess(y.f32, rows: y.shape[1], Letterbox(width: img.width, height: img.height, size: h.size))
                assertBoxes(got, try expected(name, s), "\(name)/\(s)")
            }
        }
    }

    /// Mask R-CNN polygons from onnxruntime's masks equal scikit-image find_contours + simplification's RDP as
    /// AutoML runs them, point for point.
    func testPolygonsMatchScikitImageOnOnnxruntimeMasks() throws {
        let name = "maskrcnn_resnet18_fpn"
        let h = try XCTUnwrap(try TaskHandlers.make(try model(name)) as? RCNNHandler)
        var contours = 0
        for s in Self.samples {
            let d = Self.ref.appendingPathComponent("\(name)/\(s)")
            var out: [String: Tensor] = [:]
            for k in ["boxes", "labels", "scores", "masks"] { out[k] = try Npy.read(d.appendingPathComponent("ort_\(k).npy")) }
            let got = try h.postprocess(out)
            assertBoxes(got, try expected(name, s), "\(name)/\(s)")
            contours += got.boxes.reduce(0) { $0 + ($1.polygon?.count ?? 0) }
        }
        XCTAssertGreaterThan(contours, 10, "the fixture must exercise the polygon path")
    }

    /// decode → prepare → engine → AutoML post-processing equals the references end to end (the random-weight
    /// YOLOv5 fixture saturates to tied scores, so its order is checked on onnxruntime's output above instead);
    /// polygons come from our own masks here, which differ from onnxruntime's by ~1e-5, so only their count is compared.
    func testAnswersMatchAutoMLPostprocessing() throws {
        var polygons = 0
        for (name, _, _) in Self.models where name != "yolov5like_3cls" {
            let m = try model(name)
            let h = try TaskHandlers.make(m)
            for s in samplesFor(name) {
                let want = try expected(name, s)
                let got = try XCTUnwrap(try h.predict([try image(s)]).first as? DetectionResult)
                assertBoxes(got, want, "\(name)/\(s)", polygons: false)
                for (g, w) in zip(got.boxes, want.boxes) where w.polygon != nil {
                    XCTAssertEqual(Double(g.polygon?.count ?? 0), Double(w.polygon!.count), accuracy: 2, "\(name)/\(s) contours")
                    polygons += g.polygon?.count ?? 0
                }
            }
        }
        XCTAssertGreaterThan(polygons, 10, "the Mask R-CNN fixture must exercise the polygon path")
    }

    /// The real detector finds what the photos show; the JSON is AutoML's schema.
    func testRealDetectorFindsPersonCupAndCat() throws {
        let h = try TaskHandlers.make(try model("yolov3-tiny-coco"))
        let r = try h.predict(try Self.samples.map(image)).map { $0 as! DetectionResult }
        XCTAssertEqual(r.map { $0.boxes.first?.label }, ["person", "cup", "cat"])
        let json = r[1].json(filename: nil)
        let boxes = try XCTUnwrap(json["boxes"] as? [[String: Any]])
        XCTAssertEqual(Set(boxes[0].keys), ["box", "label", "score"])
        XCTAssertEqual(Set((boxes[0]["box"] as! [String: Any]).keys), ["topX", "topY", "bottomX", "bottomY"])
    }

    /// An image with nothing in it answers {"boxes": []} (no box survives; empty tensors flow through).
    func testNothingDetectedIsAnEmptyList() throws {
        let gray = RGBImage(width: 64, height: 48, pixels: [UInt8](repeating: 128, count: 64 * 48 * 3))
        for name in ["yolov3-tiny-coco", "retinanet_resnet18_fpn"] {
            let r = try XCTUnwrap(try TaskHandlers.make(try model(name)).predict([gray]).first as? DetectionResult)
            XCTAssertEqual(r.boxes.count, 0, name)
            XCTAssertEqual((r.json(filename: nil)["boxes"] as? [Any])?.count, 0)
        }
    }

    /// Detection graphs have no gradients: asking says why instead of failing obscurely.
    func testGradientOfDetectionGraphIsRefused() throws {
        let m = try model("fasterrcnn_resnet18_fpn")
        let x = Tensor(zeros: [1, 3, 600, 800])
        XCTAssertThrowsError(try m.engine.gradient(["input": x], output: "scores", target: .seed(Tensor(zeros: [0])))) { e in
            XCTAssertTrue("\(e)".contains("depend on its data"), "\(e)")
        }
    }
}

/// AutoML's tiling: small objects that the whole-image pass cannot see are found in tiles, mapped back to the
/// image and not duplicated where tiles overlap; bad grids are refused naming the setting.
final class TilingTests: XCTestCase {
    /// The real detector with settings.json replaced.
    func detector(_ settings: String) throws -> any TaskHandler {
        let dir = Paths.temp("tiling")
        let src = Paths.models.appendingPathComponent("yolov3-tiny-coco/1")
        for f in ["MLmodel", "labels.json", "model.onnx"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f), withDestinationURL: src.appendingPathComponent(f))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("artifacts"), withIntermediateDirectories: true)
        try Data(settings.utf8).write(to: dir.appendingPathComponent("artifacts/settings.json"))
        return try TaskHandlers.make(try ModelFolder.load(dir))
    }

    /// A 2400x1600 gray canvas with the coffee photo (240x160) inside the first tile, a second one (210x140) where
    /// the first two tiles overlap (seen by both: it must come out once) and the cat photo (420x280) in the last
    /// tile; the whole image shrunk to 320 leaves them 30-55 pixels wide, the tiles about three times that.
    func scene() throws -> (RGBImage, [(String, Float, Float, Float, Float)]) {
        let W = 2400, H = 1600
        var px = [UInt8](repeating: 120, count: W * H * 3)
        var where_: [(String, Float, Float, Float, Float)] = []
        for (name, label, x0, y0, w, h) in [("coffee", "cup", 300, 250, 240, 160), ("coffee", "cup", 740, 560, 210, 140),
                                            ("chelsea", "cat", 1900, 1150, 420, 280)] {
            let img = PillowResize.resize(try ImageDecoder.decode(contentsOf: Paths.samples.appendingPathComponent(name + ".png")), width: w, height: h)
            for y in 0..<h { for x in 0..<w { for c in 0..<3 { px[((y0 + y) * W + x0 + x) * 3 + c] = img.pixels[(y * w + x) * 3 + c] } } }
            where_.append((label, Float(x0) / Float(W), Float(y0) / Float(H), Float(x0 + w) / Float(W), Float(y0 + h) / Float(H)))
        }
        return (RGBImage(width: W, height: H, pixels: px), where_)
    }

    func testSmallObjectsAreFoundInTilesAndMergedOnce() throws {
        let (img, truth) = try scene()
        let base = #"{"img_size": 320, "box_score_thresh": 0.1, "nms_iou_thresh": 0.5"#
        let plain = try XCTUnwrap(try detector(base + "}").predict([img]).first as? DetectionResult)
        XCTAssertFalse(plain.boxes.contains { $0.label == "cup" || $0.label == "cat" }, "\(plain.boxes.map(\.label))")
        let tiled = try XCTUnwrap(try detector(base + #", "tile_grid_size": "3x2", "tile_overlap_ratio": 0.25, "tile_predictions_nms_thresh": 0.25}"#)
            .predict([img]).first as? DetectionResult)
        for (label, x1, y1, x2, y2) in truth {
            // a box of the label centred on each pasted photo (image coordinates, not the tile's)
            let found = tiled.boxes.filter { b in
                let cx = (b.topX + b.bottomX) / 2, cy = (b.topY + b.bottomY) / 2
                return b.label == label && cx > x1 && cx < x2 && cy > y1 && cy < y2
            }
            XCTAssertGreaterThanOrEqual(found.count, 1, "\(label) in [\(x1), \(y1), \(x2), \(y2)]: \(tiled.boxes)")
        }
        XCTAssertEqual(tiled.boxes.filter { $0.label == "cup" }.count, 2, "the cup seen by two tiles is merged: \(tiled.boxes)")
    }

    /// The merge rule itself: a duplicate is the same label from another tile (or the whole image) with IoU above the
    /// threshold; boxes of one tile, or of other labels, are never merged; the higher score stays; order is kept.
    func testMergeRemovesCrossTileDuplicatesOnly() throws {
        let t = Tiling(cols: 2, rows: 1, overlap: 0.5)
        func box(_ l: Int, _ s: Float, _ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) -> DetectedBox {
            DetectedBox(label: "l\(l)", labelIndex: l, score: s, topX: x1, topY: y1, bottomX: x2, bottomY: y2, polygon: nil)
        }
        let whole = DetectionResult(boxes: [box(0, 0.6, 0.30, 0.30, 0.50, 0.50)])
        // tile 0 covers x 0..0.75 of a 400x200 image; its boxes are normalised to the tile (300x200)
        let tile0 = DetectionResult(boxes: [box(0, 0.9, 0.40, 0.30, 0.66, 0.50),    // = whole's box: duplicate of lower score -> whole's goes
                                            box(0, 0.8, 0.42, 0.32, 0.68, 0.52),    // same tile as the 0.9: kept
                                            box(1, 0.7, 0.40, 0.30, 0.66, 0.50)])   // other label: kept
        let r = t.merge(image: whole, tiles: [(Tiling.Rect(x1: 0, y1: 0, x2: 300, y2: 200), tile0, 300, 200)], width: 400, height: 200)
        XCTAssertEqual(r.boxes.map(\.score), [0.9, 0.8, 0.7])
        XCTAssertEqual(Double(r.boxes[0].topX), 0.30, accuracy: 1e-6, "tile coordinates mapped to the image")
        XCTAssertEqual(Double(r.boxes[0].bottomX), 0.495, accuracy: 1e-6)
    }

    func testTilesFollowAutoMLGrid() throws {
        let t = Tiling(cols: 3, rows: 2, overlap: 0.25)
        let tiles = try t.tiles(width: 2400, height: 1600)
        XCTAssertEqual(tiles.count, 6)
        // tile width 2400 / (0.25 + 0.75 * 3) = 960, step 720; height 1600 / 1.75 = 914.29, step 685.71
        XCTAssertEqual(tiles.map(\.x1), [0, 0, 720, 720, 1440, 1440])
        XCTAssertEqual(tiles.map(\.y1), [0, 686, 0, 686, 0, 686])
        XCTAssertEqual(tiles[5].x2, 2400)
        XCTAssertEqual(tiles[5].y2, 1600)
        XCTAssertThrowsError(try t.tiles(width: 3, height: 2)) { XCTAssertTrue("\($0)".contains("too small"), "\($0)") }
    }

    func testBadGridsNameTheSetting() throws {
        for (v, why) in [(#""0x3""#, "positive"), (#""3""#, "CxR"), (#"[1, 1]"#, "split"), (#""3x2", "tile_overlap_ratio": 1.0"#, "tile_overlap_ratio")] {
            XCTAssertThrowsError(try detector(#"{"tile_grid_size": "# + v + "}")) { e in
                XCTAssertTrue("\(e)".contains("tile_") && "\(e)".contains(why == "CxR" ? "CxR" : why), "\(v): \(e)")
            }
        }
    }
}

extension Tiling {
    init(cols: Int, rows: Int, overlap: Double) {
        var s = try! Settings(task: .objectDetection, json: Data("{\"tile_grid_size\": [\(cols), \(rows)], \"tile_overlap_ratio\": \(overlap)}".utf8), yolo: true)
        s.warnings = []
        self = Tiling(s)!
    }
}

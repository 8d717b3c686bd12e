import ArgumentParser
import Foundation
import FoveaImage
import FoveaModel
import FoveaTensor

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score image files with a registered model; prints one AutoML JSON line per image.",
        discussion: """
        Each line is AutoML's batch line for the model's task: {"filename": ..., "probs": [...], "labels": [...]} for \
        classification, {"filename": ..., "boxes": [{"box": {"topX", "topY", "bottomX", "bottomY"}, "label", "score"\
        [, "polygon"]}]} for object detection and instance segmentation (coordinates in [0, 1]).

        --top K prints a readable table instead (the K most likely labels, or the K best boxes in pixels). --draw \
        OUT.png draws the boxes, labels, scores and polygons on the image (with several images, OUT is a folder and \
        each picture is named after its image).

        A file that cannot be read or decoded gets a message on stderr; the others are still answered, and the exit \
        code is 1.
        """)
    @Option(help: "name:version of a registered model (or name for its latest version).")
    var model = "mobilenetv2-imagenet:1"
    @Argument(help: "Image files (JPEG, PNG, BMP).") var images: [String]
    @Option(help: "Print the K most likely labels (or best boxes) as a table instead of JSON.") var top: Int?
    @Option(help: "Detection models: write the image with its detections drawn (PNG) here.") var draw: String?
    @Option(help: "Largest image accepted, in pixels (Pillow's limit by default).") var maxPixels = ImageDecoder.defaultMaxPixels
    @Option(help: "Engine threads.") var threads: Int?
    @Option(help: "Time each stage (decode, prepare, model, post-processing) over N runs per image; prints one JSON object per image to stderr.")
    var timings: Int?
    @OptionGroup var registry: RegistryOption

    func run() throws {
        if let t = threads { Threads.count = t }
        let loaded = try cli { try ModelFolder.load(try registry.value.resolve(model).directory) }
        let handler = try cli { try TaskHandlers.make(loaded) }
        if draw != nil && loaded.task.isClassification {
            throw CLIError("--draw draws detections; model \(model) is \(loaded.task.rawValue)")
        }
        var decoded: [(String, RGBImage, PreparedImage)] = []
        var failed = false
        for path in images {
            do {
                let img = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path), maxPixels: maxPixels)
                decoded.append((path, img, try handler.prepare(img)))
            } catch let e as ImageError {
                FileHandle.standardError.write(Data("\(path): \(e.description)\n".utf8)); failed = true
            } catch let e as ModelError {
                FileHandle.standardError.write(Data("\(path): \(e.description)\n".utf8)); failed = true
            } catch {
                FileHandle.standardError.write(Data("\(path): cannot read: \(error.localizedDescription)\n".utf8)); failed = true
            }
        }
        if let n = timings { try time(handler, decoded.map(\.0), runs: max(1, n)) }
        if !decoded.isEmpty {
            let results = try handler.infer(decoded.map(\.2))
            for ((path, img, _), r) in zip(decoded, results) {
                if let k = top {
                    print(path)
                    table(r, k, img)
                } else {
                    let d = try JSONSerialization.data(withJSONObject: r.json(filename: path), options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: d, as: UTF8.self))
                }
                if let draw, let det = r as? DetectionResult {
                    var out = URL(fileURLWithPath: draw)
                    if decoded.count > 1 {
                        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
                        out = out.appendingPathComponent(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + ".png")
                    }
                    try PNGEncoder.encode(DetectionDrawing.draw(img, det)).write(to: out)
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Stage times (medians over `runs`); the R-CNN family's post-processing (Mask R-CNN's polygons) apart from its model.
    func time(_ handler: any TaskHandler, _ paths: [String], runs: Int) throws {
        func ms(_ t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        for path in paths {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            var dec: [Double] = [], prep: [Double] = [], model: [Double] = [], post: [Double] = []
            for _ in 0..<runs {
                var t = DispatchTime.now().uptimeNanoseconds
                let img = try ImageDecoder.decode(bytes, maxPixels: maxPixels)
                dec.append(ms(t)); t = DispatchTime.now().uptimeNanoseconds
                let p = try handler.prepare(img)
                prep.append(ms(t)); t = DispatchTime.now().uptimeNanoseconds
                if let r = handler as? RCNNHandler, p.tiles.isEmpty {
                    let out = try r.model.engine.run([r.model.engine.inputNames[0]: p.tensor.reshaped([1] + p.tensor.shape)])
                    model.append(ms(t)); t = DispatchTime.now().uptimeNanoseconds
                    _ = try r.postprocess(out)
                    post.append(ms(t))
                } else {
                    _ = try handler.infer([p])
                    model.append(ms(t))
                }
            }
            var o: [String: Any] = ["image": path, "runs": runs, "decode_ms": median(dec), "prepare_ms": median(prep), "model_ms": median(model)]
            if !post.isEmpty { o["postprocess_ms"] = median(post) }
            let d = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
            FileHandle.standardError.write(d + Data("\n".utf8))
        }
    }

    func pad(_ s: String, _ n: Int) -> String { s.count < n ? s + String(repeating: " ", count: n - s.count) : s }

    func table(_ r: any TaskResult, _ k: Int, _ img: RGBImage) {
        if let c = r as? ClassificationResult {
            for (i, t) in c.top(k).enumerated() {
                print(String(format: "  %2d. ", i + 1) + pad(t.label, 32) + String(format: " %8.5f  (class %d)", t.prob, t.index))
            }
        } else if let d = r as? DetectionResult {
            if d.boxes.isEmpty { print("  (no detections)") }
            let w = Float(img.width), h = Float(img.height)
            for (i, b) in d.boxes.prefix(k).enumerated() {
                var line = String(format: "  %2d. ", i + 1) + pad(b.label, 20) + String(format: " %6.3f", b.score)
                line += String(format: "  box x %5.0f-%-5.0f y %5.0f-%-5.0f", b.topX * w, b.bottomX * w, b.topY * h, b.bottomY * h)
                if let p = b.polygon { line += "  \(p.count) polygon(s), \(p.reduce(0) { $0 + $1.count / 2 }) points" }
                print(line)
            }
        }
    }
}

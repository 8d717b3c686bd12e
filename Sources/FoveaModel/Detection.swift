import Foundation
import FoveaImage
import FoveaONNX
import FoveaTensor

/// One detected object in AutoML's schema: corners normalised to [0, 1] by the image size.
public struct DetectedBox: Sendable, Equatable {
    public var label: String
    public var labelIndex: Int
    public var score: Float
    public var topX: Float, topY: Float, bottomX: Float, bottomY: Float
    /// Instance segmentation: contours, each a flat [x1, y1, x2, y2, ...] list normalised to [0, 1].
    public var polygon: [[Float]]?
    public init(label: String, labelIndex: Int, score: Float, topX: Float, topY: Float, bottomX: Float, bottomY: Float,
                polygon: [[Float]]?) {
        self.label = label; self.labelIndex = labelIndex; self.score = score
        self.topX = topX; self.topY = topY; self.bottomX = bottomX; self.bottomY = bottomY; self.polygon = polygon
    }
}

/// AutoML's detection answer: `{"boxes": [{"box": {...}, "label": ..., "score": ...[, "polygon": ...]}]}`.
public struct DetectionResult: TaskResult, Equatable {
    public var boxes: [DetectedBox]
    public init(boxes: [DetectedBox]) { self.boxes = boxes }
    public func json(filename: String? = nil) -> [String: Any] {
        var o: [String: Any] = ["boxes": boxes.map { b -> [String: Any] in
            var d: [String: Any] = ["box": ["topX": Double(b.topX), "topY": Double(b.topY),
                                            "bottomX": Double(b.bottomX), "bottomY": Double(b.bottomY)],
                                    "label": b.label, "score": Double(b.score)]
            if let p = b.polygon { d["polygon"] = p.map { $0.map(Double.init) } }
            return d
        }]
        if let filename { o["filename"] = filename }
        return o
    }
}

/// Which of AutoML's detection exports a graph is: YOLO (one [B, N, 5+classes] output, NMS outside) or the
/// torchvision R-CNN family (boxes/labels/scores[/masks] outputs, NMS inside).
public enum DetectionArchitecture: Sendable {
    case yolo, rcnn

    public static func of(_ m: Model) throws -> DetectionArchitecture {
        let names = Set(m.outputNames)
        if names.isSuperset(of: ["boxes", "labels", "scores"]) { return .rcnn }
        if m.graph.inputs.count == 1, let d = m.graph.outputs.first?.dims, d.count == 3 { return .yolo }
        if m.graph.inputs.count == 1, m.outputNames.first == "output" { return .yolo }
        throw ModelError.invalid("a detection model must be AutoML's YOLO export (one output [batch, boxes, 5 + classes]) "
            + "or its Faster R-CNN / RetinaNet / Mask R-CNN export (outputs boxes, labels, scores[, masks]); this one outputs "
            + m.outputNames.joined(separator: ", "))
    }
}

/// Greedy NMS over xyxy boxes (torchvision's rule: suppress when IoU > threshold), highest score first;
/// returns the kept indices in order.
public func nonMaxSuppression(_ boxes: [(Float, Float, Float, Float)], scores: [Float], iou: Float) -> [Int] {
    let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    var keep: [Int] = []
    var removed = [Bool](repeating: false, count: boxes.count)
    for (oi, i) in order.enumerated() where !removed[i] {
        keep.append(i)
        let a = boxes[i]
        let areaA = (a.2 - a.0) * (a.3 - a.1)
        for j in order[(oi + 1)...] where !removed[j] {
            let b = boxes[j]
            let w = max(0, min(a.2, b.2) - max(a.0, b.0)), h = max(0, min(a.3, b.3) - max(a.1, b.1))
            let inter = w * h
            let union = areaA + (b.2 - b.0) * (b.3 - b.1) - inter
            if union > 0 && inter / union > iou { removed[j] = true }
        }
    }
    return keep
}

/// AutoML's YOLOv5 path: letterbox → model → objectness filter → obj × class, best class → class-offset NMS →
/// at most 300 → unpad, clip and normalise by the resized size.
public struct YOLOHandler: TiledDetector {
    public let model: LoadedModel
    public let tiling: Tiling?
    public let size: Int
    public let scoreThreshold: Float, iouThreshold: Float
    public static let maxDetections = 300
    static let classOffset: Float = 4096

    public init(_ model: LoadedModel) throws {
        self.model = model
        var s = model.settings.int("img_size") ?? 640
        if let d = model.engine.graph.inputs.first?.dims, d.count == 4, case .fixed(let h) = d[2], case .fixed(let w) = d[3] {
            guard h == w else { throw ModelError.invalid("a YOLO model's input must be square; this one is \(h)x\(w)") }
            if model.settings.int("img_size") != nil && s != h {
                throw ModelError.invalid("settings.json img_size is \(s) but the model's input is \(h)x\(w)")
            }
            s = h
        }
        size = s
        tiling = Tiling(model.settings)
        scoreThreshold = Float(model.settings.double("box_score_thresh") ?? 0.1)
        iouThreshold = Float(model.settings.double("nms_iou_thresh") ?? 0.5)
    }

    public func prepareOne(_ img: RGBImage) throws -> PreparedImage {
        let lb = Letterbox(width: img.width, height: img.height, size: size)
        let padded = lb.apply(img)
        let t = Tensor(uninitialized: [3, size, size])
        let plane = size * size
        padded.pixels.withUnsafeBufferPointer { p in
            for i in 0..<plane {
                t.f32[i] = Float(p[3 * i]) / 255
                t.f32[plane + i] = Float(p[3 * i + 1]) / 255
                t.f32[2 * plane + i] = Float(p[3 * i + 2]) / 255
            }
        }
        return PreparedImage(tensor: t, originalWidth: img.width, originalHeight: img.height, letterbox: lb)
    }

    public func detect(_ batch: [PreparedImage]) throws -> [DetectionResult] {
        if batch.isEmpty { return [] }
        let per = 3 * size * size
        let x = Tensor(uninitialized: [batch.count, 3, size, size])
        for (i, p) in batch.enumerated() { withExtendedLifetime(p.tensor) { (x.f32 + i * per).update(from: p.tensor.f32, count: per) } }
        let out = try model.engine.run([model.engine.inputNames[0]: x], fetch: [model.engine.outputNames[0]])
        let y = out[model.engine.outputNames[0]]!
        guard y.rank == 3, y.shape[0] == batch.count, y.shape[2] == 5 + model.labels.count else {
            throw ModelError.invalid("the YOLO output is \(y.shape); expected [\(batch.count), boxes, \(5 + model.labels.count)] "
                + "for \(model.labels.count) labels")
        }
        return batch.enumerated().map { i, p in postprocess(y.f32 + i * y.shape[1] * y.shape[2], rows: y.shape[1], p.letterbox!) }
    }

    /// One image's rows [N, 5 + classes] → boxes.
    public func postprocess(_ rows: UnsafePointer<Float>, rows n: Int, _ lb: Letterbox) -> DetectionResult {
        let nc = model.labels.count, w = 5 + nc
        var boxes: [(Float, Float, Float, Float)] = [], shifted: [(Float, Float, Float, Float)] = []
        var scores: [Float] = [], classes: [Int] = []
        for r in 0..<n {
            let p = rows + r * w
            let obj = p[4]
            guard obj > scoreThreshold else { continue }
            var best = 0, conf = -Float.infinity
            for c in 0..<nc where p[5 + c] * obj > conf { conf = p[5 + c] * obj; best = c }
            guard conf > scoreThreshold else { continue }
            let b = (p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2)
            let off = Float(best) * YOLOHandler.classOffset
            boxes.append(b)
            shifted.append((b.0 + off, b.1 + off, b.2 + off, b.3 + off))
            scores.append(conf)
            classes.append(best)
        }
        let keep = nonMaxSuppression(shifted, scores: scores, iou: iouThreshold).prefix(YOLOHandler.maxDetections)
        let rw = Float(lb.resizedWidth), rh = Float(lb.resizedHeight), l = Float(lb.left), t = Float(lb.top)
        return DetectionResult(boxes: keep.map { k in
            let b = boxes[k]
            func cx(_ v: Float) -> Float { min(max(v - l, 0), rw) / rw }
            func cy(_ v: Float) -> Float { min(max(v - t, 0), rh) / rh }
            return DetectedBox(label: model.labels[classes[k]], labelIndex: classes[k], score: scores[k],
                               topX: cx(b.0), topY: cy(b.1), bottomX: cx(b.2), bottomY: cy(b.3), polygon: nil)
        })
    }
}

/// AutoML's Faster R-CNN / RetinaNet / Mask R-CNN ONNX export: Pillow resize to the export's input size
/// (bicubic, aspect not kept, as the documented consumer does), ImageNet normalisation, one image per run
/// (thresholds, NMS and top-k are inside the graph); boxes normalised by the input size; Mask R-CNN masks
/// turned into AutoML's polygons.
public struct RCNNHandler: TiledDetector {
    public let model: LoadedModel
    public let tiling: Tiling?
    public let width: Int, height: Int
    public let mean: [Float], std: [Float]
    public let scoreThreshold: Float
    public let maskThreshold: Float, maxPolygonPoints: Int
    public let hasMasks: Bool
    /// The export's dummy input (AutoML exports at 600x800) when the graph leaves the size open.
    public static let defaultSize = (width: 800, height: 600)

    public init(_ model: LoadedModel) throws {
        self.model = model
        var w = RCNNHandler.defaultSize.width, h = RCNNHandler.defaultSize.height
        if let d = model.engine.graph.inputs.first?.dims, d.count == 4 {
            if case .fixed(let v) = d[2] { h = v }
            if case .fixed(let v) = d[3] { w = v }
        }
        width = w
        height = h
        tiling = Tiling(model.settings)
        mean = model.settings.list("image_mean")?.map { Float($0) } ?? Preprocess.imagenetMean
        std = model.settings.list("image_std")?.map { Float($0) } ?? Preprocess.imagenetStd
        scoreThreshold = Float(model.settings.double("box_score_thresh") ?? 0.3)
        maskThreshold = Float(model.settings.double("mask_pixel_score_threshold") ?? 0.5)
        maxPolygonPoints = model.settings.int("max_number_of_polygon_points") ?? 100
        hasMasks = model.engine.outputNames.contains("masks")
        if model.task == .instanceSegmentation && !hasMasks {
            throw ModelError.invalid("an instance segmentation model must output 'masks'; this one outputs "
                + model.engine.outputNames.joined(separator: ", "))
        }
    }

    public func prepareOne(_ img: RGBImage) throws -> PreparedImage {
        let r = PillowResize.resize(img, width: width, height: height, filter: .bicubic)
        let t = Tensor(uninitialized: [3, height, width])
        Preprocess.normalize(r, mean: mean, std: std, into: t.f32)
        return PreparedImage(tensor: t, originalWidth: img.width, originalHeight: img.height)
    }

    public func detect(_ batch: [PreparedImage]) throws -> [DetectionResult] {
        try batch.map { p in
            let x = p.tensor.reshaped([1, 3, height, width])
            let out = try model.engine.run([model.engine.inputNames[0]: x])
            return try postprocess(out)
        }
    }

    public func postprocess(_ out: [String: Tensor]) throws -> DetectionResult {
        let boxes = out["boxes"]!, labels = out["labels"]!, scores = out["scores"]!
        let n = scores.count
        guard boxes.count == n * 4, labels.count == n else {
            throw ModelError.invalid("the model returned \(boxes.shape) boxes, \(labels.shape) labels and \(scores.shape) scores")
        }
        let masks = model.task == .instanceSegmentation ? out["masks"] : nil
        var result: [DetectedBox] = []
        let w = Float(width), h = Float(height)
        for k in 0..<n where scores.f32[k] > scoreThreshold {
            let li = Int(labels.i64[k])
            guard li >= 0 && li < model.labels.count else {
                throw ModelError.invalid("the model predicted class \(li) but there are \(model.labels.count) labels")
            }
            let b = boxes.f32 + k * 4
            var box = DetectedBox(label: model.labels[li], labelIndex: li, score: scores.f32[k],
                                  topX: b[0] / w, topY: b[1] / h, bottomX: b[2] / w, bottomY: b[3] / h, polygon: nil)
            if let masks {
                let mh = masks.shape[masks.rank - 2], mw = masks.shape[masks.rank - 1]
                box.polygon = MaskPolygons.polygons(masks.f32 + k * mh * mw, width: mw, height: mh,
                                                     threshold: maskThreshold, maxPoints: maxPolygonPoints)
            }
            result.append(box)
        }
        return DetectionResult(boxes: result)
    }
}

/// AutoML's tiling for small objects: the whole image and a grid of overlapping tiles are scored as separate
/// images; tile boxes are mapped back to the image and duplicates (same label, from different tiles, IoU >
/// `tile_predictions_nms_thresh`) removed, keeping the higher score — tiling_helper.get_tiles and
/// merge_predictions_from_tiles_and_images, step for step.
public struct Tiling: Sendable, Equatable {
    public var columns: Int, rows: Int
    public var overlap: Double
    public var nmsThreshold: Float

    public init?(_ s: Settings) {
        guard let g = s.list("tile_grid_size"), g.count == 2 else { return nil }
        columns = Int(g[0]); rows = Int(g[1])
        overlap = s.double("tile_overlap_ratio") ?? 0.25
        nmsThreshold = Float(s.double("tile_predictions_nms_thresh") ?? 0.25)
    }

    public struct Rect: Sendable, Equatable {
        public var x1, y1, x2, y2: Int
        public init(x1: Int, y1: Int, x2: Int, y2: Int) { self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2 }
    }

    /// The tiles of a width x height image: x outer, y inner, corners rounded half to even (torch's round).
    public func tiles(width: Int, height: Int) throws -> [Rect] {
        let r = Float(overlap)
        let tw = Float(width) / (r + (1 - r) * Float(columns)), th = Float(height) / (r + (1 - r) * Float(rows))
        func starts(_ n: Int, _ len: Int, _ t: Float) -> [Float] {
            let step = (1 - r) * t
            var v: [Float] = []
            var k = 0
            while v.count < n { let x = Float(k) * step; if x >= Float(len) { break }; v.append(x); k += 1 }
            return v
        }
        var out: [Rect] = []
        for x in starts(columns, width, tw) {
            for y in starts(rows, height, th) {
                let rect = Rect(x1: Int(x.rounded(.toNearestOrEven)), y1: Int(y.rounded(.toNearestOrEven)),
                                x2: Int((x + tw).rounded(.toNearestOrEven)), y2: Int((y + th).rounded(.toNearestOrEven)))
                guard min(rect.x2, width) - rect.x1 >= 2, min(rect.y2, height) - rect.y1 >= 2 else {
                    throw ModelError.invalid("the image (\(width)x\(height)) is too small for tile_grid_size \(columns)x\(rows)")
                }
                out.append(rect)
            }
        }
        return out
    }

    /// The tile's pixels (the part inside the image).
    public static func crop(_ img: RGBImage, _ t: Rect) -> RGBImage {
        let x2 = min(t.x2, img.width), y2 = min(t.y2, img.height), w = x2 - t.x1, h = y2 - t.y1
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let src = ((t.y1 + y) * img.width + t.x1) * 3
            for k in 0..<(w * 3) { px[y * w * 3 + k] = img.pixels[src + k] }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// Merges the whole image's boxes (first) and each tile's (normalised to its tile) into the image's answer.
    public func merge(image: DetectionResult, tiles: [(Rect, DetectionResult, Int, Int)], width: Int, height: Int) -> DetectionResult {
        let W = Float(width), H = Float(height)
        var boxes: [DetectedBox] = image.boxes
        var origin: [Rect] = Array(repeating: Rect(x1: 0, y1: 0, x2: width, y2: height), count: image.boxes.count)
        for (t, r, tw, th) in tiles {
            for var b in r.boxes {
                let fx = Float(tw) / W, fy = Float(th) / H, ox = Float(t.x1) / W, oy = Float(t.y1) / H
                b.topX = ox + b.topX * fx; b.bottomX = ox + b.bottomX * fx
                b.topY = oy + b.topY * fy; b.bottomY = oy + b.bottomY * fy
                b.polygon = b.polygon.map { $0.map { poly in poly.enumerated().map { $0.offset % 2 == 0 ? ox + $0.element * fx : oy + $0.element * fy } } }
                boxes.append(b)
                origin.append(t)
            }
        }
        let order = boxes.indices.sorted { boxes[$0].score != boxes[$1].score ? boxes[$0].score > boxes[$1].score : $0 < $1 }
        var duplicate = [Bool](repeating: false, count: boxes.count)
        for (k, i) in order.enumerated() where !duplicate[i] {
            let a = boxes[i]
            for j in order[(k + 1)...] where !duplicate[j] && boxes[j].labelIndex == a.labelIndex && origin[j] != origin[i] {
                let b = boxes[j]
                // IoU in pixels, as pycocotools computes it for the merge
                let ax1 = a.topX * W, ay1 = a.topY * H, ax2 = a.bottomX * W, ay2 = a.bottomY * H
                let bx1 = b.topX * W, by1 = b.topY * H, bx2 = b.bottomX * W, by2 = b.bottomY * H
                let iw = min(ax2, bx2) - max(ax1, bx1), ih = min(ay2, by2) - max(ay1, by1)
                guard iw > 0, ih > 0 else { continue }
                let inter = iw * ih, union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
                if union > 0 && inter / union > nmsThreshold { duplicate[j] = true }
            }
        }
        return DetectionResult(boxes: boxes.indices.filter { !duplicate[$0] }.map { boxes[$0] })
    }
}

import Foundation
import FoveaImage
import FoveaTensor

/// One image made ready for the model, with what postprocessing needs to map answers back to it.
public struct PreparedImage: @unchecked Sendable {
    /// The model input for this image, [3, H, W].
    public var tensor: Tensor
    public var originalWidth: Int, originalHeight: Int
    /// YOLO's letterbox (nil for the other tasks).
    public var letterbox: Letterbox?
    /// Detection with tiling: each tile of the image, prepared as an image of its own.
    public var tiles: [TilePart] = []
    public init(tensor: Tensor, originalWidth: Int, originalHeight: Int, letterbox: Letterbox? = nil) {
        self.tensor = tensor
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        self.letterbox = letterbox
    }
}

/// One image's answer in AutoML's schema.
public protocol TaskResult: Sendable {
    /// AutoML's response row (with "filename" first-class for batch lines).
    func json(filename: String?) -> [String: Any]
}

/// A task: preprocess → run → postprocess. `Scorer`, `fovea predict` and batch jobs hold one of these;
/// a new task is a new conforming type, chosen in `TaskHandlers.make`.
public protocol TaskHandler: Sendable {
    var model: LoadedModel { get }
    /// Decoded image → model input. Throws a `ModelError` for an image the task cannot take.
    func prepare(_ img: RGBImage) throws -> PreparedImage
    /// Runs the model on prepared images (batched where the model allows) and maps the outputs to answers.
    func infer(_ batch: [PreparedImage]) throws -> [any TaskResult]
}

extension TaskHandler {
    public func predict(_ images: [RGBImage]) throws -> [any TaskResult] {
        if images.isEmpty { return [] }
        return try infer(images.map(prepare))
    }
}

public enum TaskHandlers {
    /// The handler for a model's task (and, for detection, its architecture).
    public static func make(_ model: LoadedModel) throws -> any TaskHandler {
        switch model.task {
        case .multiclass, .multilabel: return ClassificationHandler(model)
        case .objectDetection, .instanceSegmentation:
            switch try DetectionArchitecture.of(model.engine) {
            case .yolo: return try YOLOHandler(model)
            case .rcnn: return try RCNNHandler(model)
            }
        }
    }
}

/// One tile of an image: where it lies and its own prepared input.
public struct TilePart: @unchecked Sendable {
    public var rect: Tiling.Rect
    public var image: PreparedImage
}

/// A detector scores prepared images; tiling (when settings.json asks for it) is the same for every architecture:
/// the image and its tiles are prepared and scored as separate images, then merged.
public protocol TiledDetector: TaskHandler {
    var tiling: Tiling? { get }
    func prepareOne(_ img: RGBImage) throws -> PreparedImage
    func detect(_ items: [PreparedImage]) throws -> [DetectionResult]
}

extension TiledDetector {
    public func prepare(_ img: RGBImage) throws -> PreparedImage {
        var p = try prepareOne(img)
        if let tiling {
            p.tiles = try tiling.tiles(width: img.width, height: img.height).map { r in
                TilePart(rect: r, image: try prepareOne(Tiling.crop(img, r)))
            }
        }
        return p
    }

    public func infer(_ batch: [PreparedImage]) throws -> [any TaskResult] {
        let all = batch.flatMap { [$0] + $0.tiles.map(\.image) }
        let results = try detect(all)
        var out: [any TaskResult] = []
        var k = 0
        for p in batch {
            let whole = results[k]
            k += 1
            guard let tiling, !p.tiles.isEmpty else { out.append(whole); continue }
            let parts = p.tiles.map { t -> (Tiling.Rect, DetectionResult, Int, Int) in
                defer { k += 1 }
                return (t.rect, results[k], t.image.originalWidth, t.image.originalHeight)
            }
            out.append(tiling.merge(image: whole, tiles: parts, width: p.originalWidth, height: p.originalHeight))
        }
        return out
    }
}

extension ClassificationResult: TaskResult {}

extension ClassificationHandler: TaskHandler {
    public func prepare(_ img: RGBImage) throws -> PreparedImage {
        PreparedImage(tensor: preprocess(img), originalWidth: img.width, originalHeight: img.height)
    }
    public func infer(_ batch: [PreparedImage]) throws -> [any TaskResult] {
        if batch.isEmpty { return [] }
        return postprocess(try run(batch.map(\.tensor)))
    }
}

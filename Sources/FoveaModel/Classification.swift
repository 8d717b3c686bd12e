import Foundation
import FoveaImage
import FoveaTensor

/// AutoML's classification response row: every label in index order with its probability.
public struct ClassificationResult: Sendable {
    public var probs: [Float]
    public var labels: [String]

    /// `{"probs": [...], "labels": [...]}` (plus "filename" as AutoML's batch lines have it).
    public func json(filename: String? = nil) -> [String: Any] {
        var o: [String: Any] = ["probs": probs.map { Double($0) }, "labels": labels]
        if let filename { o["filename"] = filename }
        return o
    }

    public func top(_ k: Int) -> [(index: Int, label: String, prob: Float)] {
        probs.indices.sorted { probs[$0] > probs[$1] }.prefix(k).map { ($0, labels[$0], probs[$0]) }
    }
}

/// Multiclass (softmax) and multilabel (sigmoid) classification: preprocess → run → postprocess.
public struct ClassificationHandler: Sendable {
    public let model: LoadedModel
    public let resize: Int, crop: Int
    public let mean: [Float], std: [Float]

    public init(_ model: LoadedModel) {
        self.model = model
        resize = model.settings.int("valid_resize_size") ?? 256
        crop = model.settings.int("valid_crop_size") ?? 224
        mean = model.settings.list("image_mean")?.map { Float($0) } ?? Preprocess.imagenetMean
        std = model.settings.list("image_std")?.map { Float($0) } ?? Preprocess.imagenetStd
    }

    /// Decoded image → normalised [3, crop, crop] written at `into`.
    public func preprocess(_ img: RGBImage) -> Tensor {
        Preprocess.classification(img, resize: resize, crop: crop, mean: mean, std: std)
    }

    /// Stacks preprocessed images into one batch and returns the logits [N, C].
    public func run(_ inputs: [Tensor]) throws -> Tensor {
        let per = 3 * crop * crop
        let batch = Tensor(zeros: [inputs.count, 3, crop, crop])
        for (i, t) in inputs.enumerated() { withExtendedLifetime(t) { (batch.f32 + i * per).update(from: t.f32, count: per) } }
        let out = try model.engine.run([model.engine.inputNames[0]: batch])
        return out[model.engine.outputNames[0]]!
    }

    public func postprocess(_ logits: Tensor) -> [ClassificationResult] {
        let n = logits.shape[0], c = logits.shape[1]
        return (0..<n).map { i in
            let row = Array(UnsafeBufferPointer(start: logits.f32 + i * c, count: c))
            let probs = model.task == .multilabel ? row.map { 1 / (1 + expf(-$0)) } : softmax(row)
            return ClassificationResult(probs: probs, labels: model.labels)
        }
    }

    public func predict(_ images: [RGBImage]) throws -> [ClassificationResult] {
        if images.isEmpty { return [] }
        return postprocess(try run(images.map(preprocess)))
    }
}

func softmax(_ z: [Float]) -> [Float] {
    let m = z.max() ?? 0
    let e = z.map { expf($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

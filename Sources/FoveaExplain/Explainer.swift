import Foundation
import FoveaImage
import FoveaModel
import FoveaONNX
import FoveaTensor

/// One explanation: the class explained, its score, the [3, H, W] attributions and the figure.
public struct Explanation: @unchecked Sendable {
    public var target: Int
    public var label: String
    public var score: Float
    public var attributions: [Float]
    public var shape: [Int]
    public var figure: RGBImage?

    /// `[3][H][W]` nested lists as AutoML returns them.
    public var nestedAttributions: [[[Double]]] {
        let c = shape[0], h = shape[1], w = shape[2]
        return (0..<c).map { ch in (0..<h).map { y in (0..<w).map { x in Double(attributions[(ch * h + y) * w + x]) } } }
    }
    public var figurePNGBase64: String? { figure.flatMap { try? PNGEncoder.encode($0).base64EncodedString() } }
}

/// Explains a classification model's predictions with AutoML's four algorithms.
public final class Explainer: @unchecked Sendable {
    public let model: LoadedModel
    let handler: ClassificationHandler
    let runner: GradientRunner
    private let lock = NSLock()

    public init(model: LoadedModel, chunk: Int = 2) throws {
        guard model.task.isClassification else {
            throw XAIParameterError("explanations exist for classification models only; this one is \(model.task.rawValue)")
        }
        self.model = model
        handler = ClassificationHandler(model)
        runner = GradientRunner(engine: model.engine, chunk: chunk)
    }

    /// The classes AutoML explains for one image: the argmax (multiclass), or every class with probability above
    /// the threshold (multilabel, ascending index).
    public func targets(probs: [Float], p: XAIParameters) -> [Int] {
        if model.task == .multilabel {
            return probs.indices.filter { Double(probs[$0]) > p.confidenceScoreThresholdMultilabel }
        }
        return [probs.indices.max { probs[$0] < probs[$1] } ?? 0]
    }

    /// Explains one preprocessed input ([3, crop, crop] normalised) for `target`.
    public func explain(input x: Tensor, target: Int, score: Float, p: XAIParameters) throws -> Explanation {
        lock.lock()
        defer { lock.unlock() }
        let shape = Array(x.shape.suffix(3))
        let xs = Array(UnsafeBufferPointer(start: x.f32, count: shape.product))
        let h = shape[1], w = shape[2], plane = h * w
        var image01 = [Float](repeating: 0, count: xs.count)
        for c in 0..<3 { for i in 0..<plane { image01[c * plane + i] = xs[c * plane + i] * handler.std[c] + handler.mean[c] } }
        let attr: [Float]
        switch p.algorithm {
        case .integratedGradients:
            attr = try Attribution.integratedGradients(runner, x: xs, shape: shape, target: target, p: p)
        case .guidedBackprop:
            attr = try Attribution.guidedBackprop(runner, x: xs, shape: shape, target: target, p: p)
        case .guidedGradcam:
            guard let layer = p.gradcamLayer ?? Attribution.defaultGradCAMLayer(model.engine.graph) else {
                throw XAIParameterError("guided_gradcam doesn't support this model: it has no 4-D activation before a global pooling (a ViT?); name one with xai_parameters.gradcam_layer")
            }
            attr = try Attribution.guidedGradCAM(runner, x: xs, shape: shape, target: target, layer: layer).attr
        case .xrai:
            let map = try XRAI.attribute(runner, image01: image01, height: h, width: w, mean: handler.mean, std: handler.std,
                                         target: target, steps: p.nSteps, fast: p.xraiFast)
            attr = map + map + map
        }
        let label = target < model.labels.count ? model.labels[target] : String(target)
        let fig = p.visualizations ? Visualization.figure(image01: image01, attr: attr, height: h, width: w,
                                                          algorithm: p.algorithm.rawValue, label: label, score: score) : nil
        return Explanation(target: target, label: label, score: score, attributions: attr, shape: shape, figure: fig)
    }
}

import ArgumentParser
import Foundation
import FoveaExplain
import FoveaImage
import FoveaModel
import FoveaTensor

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a classification: AutoML's 2x2 figure (PNG) and [3,H,W] attributions.",
        discussion: """
        Algorithms: xrai (default), integrated_gradients, guided_backprop, guided_gradcam — see README "Explanations".
        IG and guided backprop are wrapped in SmoothGrad as AutoML does (--nt-samples 5, --stdevs 0.2; 0 turns it off),
        seeded by --seed. The explained class is the predicted one unless --target is given.
        """)
    @Option(help: "name:version of a registered model.") var model = "mobilenetv2-imagenet:1"
    @Option(help: "xrai | integrated_gradients | guided_backprop | guided_gradcam") var algorithm = "xrai"
    @Argument(help: "The image to explain (omit with --input-tensor).") var image: String?
    @Option(help: "Explain this preprocessed [1,3,H,W] float32 .npy instead of an image.") var inputTensor: String?
    @Option(help: "Where to write the figure (PNG).") var out: String?
    @Option(help: "Where to write the attributions (float32 [3,H,W] .npy).") var attributions: String?
    @Option(help: "Integration steps (IG, XRAI), >= 2.") var nSteps = 50
    @Option(help: "riemann_left | riemann_right | riemann_middle | riemann_trapezoid | gausslegendre") var approximationMethod = "riemann_middle"
    @Option(help: "XRAI's fast ranking (true) or the full greedy one (false).") var xraiFast = "true"
    @Option(help: "SmoothGrad samples (0 = no noise).") var ntSamples = 5
    @Option(help: "SmoothGrad noise std in the normalised space (0 = no noise).") var stdevs = 0.2
    @Option(help: "Noise seed.") var seed = 0
    @Option(help: "Class index to explain (default: the predicted class).") var target: Int?
    @Option(help: "GradCAM layer (an ONNX value name; default: the last 4-D activation before global pooling).") var gradcamLayer: String?
    @Option(help: "Engine threads.") var threads: Int?
    @Option(help: "Explain this many times and report the fastest (timing; plans are built on the first).") var `repeat` = 1
    @OptionGroup var registry: RegistryOption

    func run() throws {
        if let t = threads { Threads.count = t }
        guard out != nil || attributions != nil else { throw CLIError("give --out FIG.png and/or --attributions ATTR.npy") }
        var raw: [String: JSONValue] = ["xai_algorithm": .string(algorithm), "n_steps": .number(Double(nSteps)),
                                        "approximation_method": .string(approximationMethod), "xrai_fast": .string(xraiFast),
                                        "nt_samples": .number(Double(ntSamples)), "stdevs": .number(stdevs), "seed": .number(Double(seed)),
                                        "visualizations": .bool(out != nil)]
        if let gradcamLayer { raw["gradcam_layer"] = .string(gradcamLayer) }
        let p: XAIParameters
        do { p = try XAIParameters.parse(raw) } catch let e as XAIParameterError { throw CLIError(e.description) }
        let loaded = try cli { try ModelFolder.load(try registry.value.resolve(model).directory) }
        let explainer: Explainer
        do { explainer = try Explainer(model: loaded) } catch let e as XAIParameterError { throw CLIError(e.description) }
        let handler = ClassificationHandler(loaded)
        let x: Tensor
        if let inputTensor {
            let t = try Npy.read(URL(fileURLWithPath: inputTensor))
            guard t.rank == 4, t.shape[0] == 1, t.shape[1] == 3, t.dtype == .float32 else {
                throw CLIError("--input-tensor must be a float32 [1,3,H,W] array, got \(t.dtype) \(t.shape)")
            }
            x = t.reshaped(Array(t.shape.dropFirst()))
        } else if let image {
            do { x = handler.preprocess(try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))) } catch let e as ImageError {
                throw CLIError("\(image): \(e.description)")
            }
        } else { throw CLIError("give an image file or --input-tensor X.npy") }
        let probs = handler.postprocess(try handler.run([x]))[0].probs
        let cls = target ?? explainer.targets(probs: probs, p: p).first ?? 0
        guard cls >= 0 && cls < probs.count else { throw CLIError("--target \(cls) is outside 0..<\(probs.count)") }
        var best: Explanation?
        var ms = Double.infinity
        for _ in 0..<max(1, self.repeat) {
            let t0 = Date()
            do { best = try explainer.explain(input: x, target: cls, score: probs[cls], p: p) } catch let err as XAIParameterError {
                throw CLIError(err.description)
            }
            ms = min(ms, Date().timeIntervalSince(t0) * 1000)
        }
        let e = best!
        if let out, let fig = e.figure { try PNGEncoder.encode(fig).write(to: URL(fileURLWithPath: out)) }
        if let attributions {
            try Npy.write(Tensor(shape: e.shape, floats: e.attributions), to: URL(fileURLWithPath: attributions))
        }
        FileHandle.standardError.write(Data(String(format: "%@ for class %d (%@, %.4f) in %.0f ms\n", p.algorithm.rawValue, cls, e.label, e.score, ms).utf8))
    }
}

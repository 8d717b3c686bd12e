import Foundation
import FoveaExplain
import FoveaImage
import FoveaModel
import FoveaONNX
import FoveaTensor
import XCTest

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Small graphs built in code: their gradients can be written down by hand.
enum Graphs {
    static var rng = NoiseRNG(seed: 42)
    static func randn(_ n: Int, _ s: Float = 0.5) -> [Float] { (0..<n).map { _ in rng.normal() * s } }

    /// x [1,3,4,4] → Flatten → Gemm(W: [C,48], transB) → logits [1,C]
    static func linear(classes c: Int = 5) -> (Model, [Float]) {
        let w = randn(c * 48)
        let g = Graph(nodes: [Node(name: "flat", opType: "Flatten", inputs: ["x"], outputs: ["f"]),
                              Node(name: "fc", opType: "Gemm", inputs: ["f", "W"], outputs: ["y"], attributes: ["transB": .int(1)])],
                      initializers: ["W": Tensor(shape: [c, 48], floats: w)],
                      inputs: [ValueInfo(name: "x", dtype: .float32, dims: [.fixed(1), .fixed(3), .fixed(4), .fixed(4)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, dims: [.fixed(1), .fixed(c)])], opset: 17)
        return (try! Model(graph: g), w)
    }

    /// x → Flatten → Gemm(W1 [8,48]) → Relu → Gemm(W2 [3,8]) → logits
    static func mlp() -> (Model, [Float], [Float]) {
        let w1 = randn(8 * 48), w2 = randn(3 * 8)
        let g = Graph(nodes: [Node(name: "flat", opType: "Flatten", inputs: ["x"], outputs: ["f"]),
                              Node(name: "fc1", opType: "Gemm", inputs: ["f", "W1"], outputs: ["h"], attributes: ["transB": .int(1)]),
                              Node(name: "relu", opType: "Relu", inputs: ["h"], outputs: ["r"]),
                              Node(name: "fc2", opType: "Gemm", inputs: ["r", "W2"], outputs: ["y"], attributes: ["transB": .int(1)])],
                      initializers: ["W1": Tensor(shape: [8, 48], floats: w1), "W2": Tensor(shape: [3, 8], floats: w2)],
                      inputs: [ValueInfo(name: "x", dtype: .float32, dims: [.fixed(1), .fixed(3), .fixed(4), .fixed(4)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, dims: [.fixed(1), .fixed(3)])], opset: 17)
        return (try! Model(graph: g), w1, w2)
    }

    /// x [1,3,8,8] → Conv(4, 3x3, pad 1) → Relu → GlobalAveragePool → Flatten → Gemm → logits [1,3]
    static func convNet() -> Model {
        let g = Graph(nodes: [Node(name: "conv", opType: "Conv", inputs: ["x", "K", "B"], outputs: ["c"],
                                   attributes: ["kernel_shape": .ints([3, 3]), "pads": .ints([1, 1, 1, 1])]),
                              Node(name: "relu", opType: "Relu", inputs: ["c"], outputs: ["a"]),
                              Node(name: "gap", opType: "GlobalAveragePool", inputs: ["a"], outputs: ["p"]),
                              Node(name: "flat", opType: "Flatten", inputs: ["p"], outputs: ["f"]),
                              Node(name: "fc", opType: "Gemm", inputs: ["f", "W"], outputs: ["y"], attributes: ["transB": .int(1)])],
                      initializers: ["K": Tensor(shape: [4, 3, 3, 3], floats: randn(108)), "B": Tensor(shape: [4], floats: randn(4, 0.1)),
                                     "W": Tensor(shape: [3, 4], floats: randn(12))],
                      inputs: [ValueInfo(name: "x", dtype: .float32, dims: [.fixed(1), .fixed(3), .fixed(8), .fixed(8)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, dims: [.fixed(1), .fixed(3)])], opset: 17)
        return try! Model(graph: g)
    }
}

final class IntegratedGradientsTests: XCTestCase {
    func noNoise(_ n: Int = 50, _ m: XAIParameters.Approximation = .riemannMiddle) -> XAIParameters {
        var p = XAIParameters()
        p.nSteps = n
        p.approximationMethod = m
        p.ntSamples = 0
        return p
    }

    func testLinearModelIsExactlyInputTimesWeight() throws {
        let (model, w) = Graphs.linear()
        let x = Graphs.randn(48, 1)
        for m in XAIParameters.Approximation.allCases {
            let attr = try Attribution.integratedGradients(GradientRunner(engine: model, chunk: 4), x: x, shape: [3, 4, 4], target: 2, p: noNoise(7, m))
            // Captum's trapezoid halves the end weights of [1/n]*n, so its weights sum to 1 - 1/n
            let total: Float = m == .riemannTrapezoid ? 1 - 1 / 7 : 1
            for i in 0..<48 {
                let expected = x[i] * w[2 * 48 + i] * total
                XCTAssertEqual(attr[i], expected, accuracy: 1e-5 * max(1, abs(expected)), "\(m)")
            }
        }
    }

    func testCaptumAlphasAndWeights() {
        let (a, s) = Approximation.alphasAndSteps(50, .riemannMiddle)
        XCTAssertEqual(a.first!, 0.01, accuracy: 1e-7)
        XCTAssertEqual(a.last!, 0.99, accuracy: 1e-7)
        XCTAssertEqual(s.reduce(0, +), 1, accuracy: 1e-6)
        let (t, ts) = Approximation.alphasAndSteps(4, .riemannTrapezoid)
        // torch's float32 linspace: the second half counts back from the end
        XCTAssertEqual(t, [0, Float(1.0 / 3), 1 - Float(1.0 / 3), 1])
        XCTAssertEqual(ts, [0.125, 0.25, 0.25, 0.125])
        // numpy.polynomial.legendre.leggauss(3): nodes ±sqrt(3/5), 0; weights 5/9, 8/9
        let (gx, gw) = Approximation.gaussLegendre(3)
        XCTAssertEqual(gx[0], -0.7745966692414834, accuracy: 1e-14)
        XCTAssertEqual(gx[1], 0, accuracy: 1e-14)
        XCTAssertEqual(gw[0], 5.0 / 9, accuracy: 1e-14)
        XCTAssertEqual(gw[1], 8.0 / 9, accuracy: 1e-14)
        let (ga, gs) = Approximation.alphasAndSteps(20, .gaussLegendre)
        XCTAssertEqual(gs.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertTrue(ga.allSatisfy { $0 > 0 && $0 < 1 })
    }

    /// Completeness on the real MobileNetV2: Σ attributions ≈ f(x) − f(0) within 1% at 50 steps, no noise.
    func testCompletenessOnMobileNetV2() throws {
        let m = try ModelFolder.load(root.appendingPathComponent("models/mobilenetv2-imagenet/1"))
        let h = ClassificationHandler(m)
        let x = h.preprocess(try ImageDecoder.decode(contentsOf: root.appendingPathComponent("Tests/Fixtures/images/samples/chelsea.png")))
        let xs = Array(UnsafeBufferPointer(start: x.f32, count: x.count))
        let logits = try h.run([x])
        let target = (0..<1000).max { logits.f32[$0] < logits.f32[$1] }!
        let zero = try h.run([Tensor(zeros: [3, 224, 224])])
        let delta = logits.f32[target] - zero.f32[target]
        let attr = try Attribution.integratedGradients(GradientRunner(engine: m.engine), x: xs, shape: [3, 224, 224], target: target, p: noNoise())
        let sum = attr.reduce(0, +)
        XCTAssertEqual(sum, delta, accuracy: 0.01 * abs(delta), "Σ attributions \(sum) vs f(x) − f(0) \(delta)")
    }

    func testSeededSmoothGradIsReproducible() throws {
        let (model, _, _) = Graphs.mlp()
        let x = Graphs.randn(48, 1)
        var p = XAIParameters()
        p.nSteps = 5
        p.seed = 7
        let r = GradientRunner(engine: model, chunk: 3)
        let a = try Attribution.integratedGradients(r, x: x, shape: [3, 4, 4], target: 1, p: p)
        let b = try Attribution.integratedGradients(r, x: x, shape: [3, 4, 4], target: 1, p: p)
        XCTAssertEqual(a, b)
        p.seed = 8
        XCTAssertNotEqual(a, try Attribution.integratedGradients(r, x: x, shape: [3, 4, 4], target: 1, p: p))
        let g1 = try Attribution.guidedBackprop(r, x: x, shape: [3, 4, 4], target: 1, p: p)
        XCTAssertEqual(g1, try Attribution.guidedBackprop(r, x: x, shape: [3, 4, 4], target: 1, p: p))
    }
}

final class GuidedTests: XCTestCase {
    func plain() -> XAIParameters { var p = XAIParameters(); p.ntSamples = 0; return p }

    func testGuidedBackpropEqualsTheGradientWithoutRelu() throws {
        let (model, w) = Graphs.linear()
        let g = try Attribution.guidedBackprop(GradientRunner(engine: model), x: Graphs.randn(48, 1), shape: [3, 4, 4], target: 3, p: plain())
        XCTAssertEqual(g, Array(w[(3 * 48)..<(4 * 48)]))
    }

    /// The rule by hand: g_in = W1ᵀ (1[h > 0] · max(0, W2[t])) for y = W2 relu(W1 x).
    func testGuidedRuleOnRelu() throws {
        let (model, w1, w2) = Graphs.mlp()
        let x = Graphs.randn(48, 1)
        let t = 0
        var h = [Float](repeating: 0, count: 8)
        for j in 0..<8 { for i in 0..<48 { h[j] += w1[j * 48 + i] * x[i] } }
        var guided = [Float](repeating: 0, count: 48), plainGrad = [Float](repeating: 0, count: 48)
        for j in 0..<8 where h[j] > 0 {
            let gy = w2[t * 8 + j]
            for i in 0..<48 {
                plainGrad[i] += gy * w1[j * 48 + i]
                if gy > 0 { guided[i] += gy * w1[j * 48 + i] }
            }
        }
        let g = try Attribution.guidedBackprop(GradientRunner(engine: model), x: x, shape: [3, 4, 4], target: t, p: plain())
        for i in 0..<48 { XCTAssertEqual(g[i], guided[i], accuracy: 1e-5) }
        XCTAssertNotEqual(guided, plainGrad, "the fixture must have a Relu whose guided rule changes something")
    }

    /// GradCAM from the engine's activations and gradients, computed here by hand, and its nearest upsampling.
    func testGuidedGradCAMMatchesAHandComputation() throws {
        let model = Graphs.convNet()
        XCTAssertEqual(Attribution.defaultGradCAMLayer(model.graph), "a")
        let x = Graphs.randn(3 * 64, 1)
        let t = 1
        let batch = Tensor(shape: [1, 3, 8, 8], floats: x)
        let acts = try model.run(["x": batch], fetch: ["a"])["a"]!
        let grads = try model.gradient(["x": batch], target: .logits([t]), wrt: ["a"]).gradients["a"]!
        var cam = [Float](repeating: 0, count: 64)
        for k in 0..<4 {
            var m: Float = 0
            for i in 0..<64 { m += grads.f32[k * 64 + i] }
            m /= 64
            for i in 0..<64 { cam[i] += m * acts.f32[k * 64 + i] }
        }
        cam = cam.map { max(0, $0) }
        let r = try Attribution.guidedGradCAM(GradientRunner(engine: model), x: x, shape: [3, 8, 8], target: t, layer: "a")
        XCTAssertEqual(r.camShape, [8, 8])
        for i in 0..<64 { XCTAssertEqual(r.cam[i], cam[i], accuracy: 1e-5) }
        let gbp = try Attribution.guidedBackprop(GradientRunner(engine: model), x: x, shape: [3, 8, 8], target: t, p: plain())
        for i in 0..<(3 * 64) { XCTAssertEqual(r.attr[i], gbp[i] * cam[i % 64], accuracy: 1e-5) }
    }

    func testGradCAMLayerOfMobileNetV2AndNoLayerError() throws {
        let m = try ModelFolder.load(root.appendingPathComponent("models/mobilenetv2-imagenet/1"))
        let layer = try XCTUnwrap(Attribution.defaultGradCAMLayer(m.engine.graph))
        let e = try Explainer(model: m)
        var p = XAIParameters()
        p.algorithm = .guidedGradcam
        p.visualizations = false
        let x = ClassificationHandler(m).preprocess(try ImageDecoder.decode(contentsOf: root.appendingPathComponent("Tests/Fixtures/images/chelsea.jpg")))
        let out = try e.explain(input: x, target: 285, score: 0.7, p: p)
        XCTAssertEqual(out.shape, [3, 224, 224])
        XCTAssertGreaterThan(out.attributions.map(abs).max()!, 0, "layer \(layer)")
        p.gradcamLayer = "no-such-value"
        XCTAssertThrowsError(try e.explain(input: x, target: 285, score: 0.7, p: p))
    }
}

final class XAIParameterTests: XCTestCase {
    func testDefaultsAndValidation() throws {
        let d = try XAIParameters.parse([:])
        XCTAssertEqual(d.algorithm, .xrai)
        XCTAssertEqual(d.nSteps, 50)
        XCTAssertEqual(d.approximationMethod, .riemannMiddle)
        XCTAssertTrue(d.xraiFast && d.visualizations && !d.attributions)
        func err(_ p: [String: JSONValue]) -> String { do { _ = try XAIParameters.parse(p); return "" } catch { return "\(error)" } }
        XCTAssertTrue(err(["xai_algorithm": .string("lime")]).contains("xai_algorithm"))
        XCTAssertTrue(err(["n_steps": .number(1)]).contains("n_steps"))
        XCTAssertTrue(err(["n_steps": .string("5")]).contains("n_steps"))
        XCTAssertTrue(err(["visualizations": .string("yes")]).contains("visualizations"))
        XCTAssertTrue(err(["approximation_method": .string("simpson")]).contains("approximation_method"))
        XCTAssertTrue(err(["stepz": .number(3)]).contains("stepz"))
        XCTAssertEqual(try XAIParameters.parse(["xrai_fast": .string("False")]).xraiFast, false)
    }
}

import Foundation
import FoveaONNX
import FoveaTensor

/// Gradients of one class's logit (or softmax probability) with respect to a batch of inputs, run in fixed-size
/// chunks so that the engine reuses one plan (a short last chunk is padded, its extra rows ignored). Two rows a
/// chunk: larger batches cost no less per row here (MobileNetV2 fwd+bwd 50.5 ms/row at 2, 55.6 at 8) and hold
/// 2 x more activations each time the batch doubles (peak RSS 141 MB at 2, 439 MB at 8).
public final class GradientRunner: @unchecked Sendable {
    public let engine: Model
    public let input: String
    public let output: String
    public var chunk: Int

    public init(engine: Model, chunk: Int = 2) {
        self.engine = engine
        input = engine.inputNames[0]
        output = engine.outputNames[0]
        self.chunk = max(1, chunk)
    }

    /// Guided backprop's rule for Relu nodes only (Captum hooks nn.ReLU only): g_in = max(0, g_out · 1[x > 0]).
    /// For a Relu fused into a Conv, x is the activation's output, which is > 0 exactly where the input is.
    public static let guided = BackwardRules(unary: ["Relu": { g in
        for i in 0..<g.count { g.gx[i] += (g.x[i] > 0 && g.gy[i] > 0) ? g.gy[i] : 0 }
    }])

    /// Rows are produced by `fill(row, dst)` (each [3, H, W]); `consume(row, gradient)` receives each row's gradient.
    public func run(rows: Int, shape: [Int], target: Int, probability: Bool = false, rules: BackwardRules = .standard,
                    fill: (Int, UnsafeMutablePointer<Float>) -> Void, consume: (Int, UnsafePointer<Float>) -> Void) throws {
        let per = shape.product
        var start = 0
        while start < rows {
            let b = chunk
            let n = min(b, rows - start)
            let batch = Tensor(zeros: [b] + shape)
            for r in 0..<b { fill(start + min(r, n - 1), batch.f32 + r * per) }
            let res: GradientResult
            do {
                let cls = [Int](repeating: target, count: b)
                res = try engine.gradient([input: batch], output: output, target: probability ? .probabilities(cls) : .logits(cls),
                                          wrt: [input], rules: rules)
            } catch EngineError.shape where chunk > 1 {
                chunk = 1  // an export with batch 1 frozen inside: one row at a time
                continue
            }
            let g = res.gradients[input]!
            withExtendedLifetime(g) { for r in 0..<n { consume(start + r, g.f32 + r * per) } }
            start += n
        }
    }
}

/// Captum's integration points and weights (approximation_methods.py): Riemann alphas from a float32
/// torch.linspace, Gauss-Legendre nodes and weights mapped to [0, 1].
public enum Approximation {
    public static func alphasAndSteps(_ n: Int, _ m: XAIParameters.Approximation) -> (alphas: [Float], steps: [Float]) {
        switch m {
        case .gaussLegendre:
            let (x, w) = gaussLegendre(n)
            return (x.map { Float(0.5 * (1 + $0)) }, w.map { Float(0.5 * $0) })
        case .riemannLeft: return (linspace(0, 1 - 1 / Float(n), n), riemannSteps(n, trapezoid: false))
        case .riemannRight: return (linspace(1 / Float(n), 1, n), riemannSteps(n, trapezoid: false))
        case .riemannMiddle: return (linspace(1 / (2 * Float(n)), 1 - 1 / (2 * Float(n)), n), riemannSteps(n, trapezoid: false))
        case .riemannTrapezoid: return (linspace(0, 1, n), riemannSteps(n, trapezoid: true))
        }
    }

    static func riemannSteps(_ n: Int, trapezoid: Bool) -> [Float] {
        var s = [Double](repeating: 1 / Double(n), count: n)
        if trapezoid { s[0] /= 2; s[n - 1] /= 2 }
        return s.map { Float($0) }
    }

    /// torch.linspace in float32: start + step·i for the first half, end − step·(n−1−i) for the second.
    public static func linspace(_ start: Float, _ end: Float, _ n: Int) -> [Float] {
        guard n > 1 else { return [start] }
        let step = (end - start) / Float(n - 1)
        return (0..<n).map { i in i < n / 2 ? start + step * Float(i) : end - step * Float(n - 1 - i) }
    }

    /// Nodes (ascending) and weights of n-point Gauss-Legendre quadrature on [-1, 1] (Newton on P_n).
    public static func gaussLegendre(_ n: Int) -> ([Double], [Double]) {
        var x = [Double](repeating: 0, count: n), w = [Double](repeating: 0, count: n)
        let m = (n + 1) / 2
        for i in 0..<m {
            var z = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var pp = 0.0
            for _ in 0..<100 {
                var p1 = 1.0, p2 = 0.0
                for j in 0..<n {
                    let p3 = p2
                    p2 = p1
                    p1 = ((2 * Double(j) + 1) * z * p2 - Double(j) * p3) / Double(j + 1)
                }
                pp = Double(n) * (z * p1 - p2) / (z * z - 1)
                let z1 = z
                z = z1 - p1 / pp
                if abs(z - z1) < 1e-15 { break }
            }
            x[i] = -z
            x[n - 1 - i] = z
            w[i] = 2 / ((1 - z * z) * pp * pp)
            w[n - 1 - i] = w[i]
        }
        return (x, w)
    }
}

/// A seeded normal generator (SplitMix64 + Box-Muller) for SmoothGrad's noise.
public struct NoiseRNG {
    var state: UInt64
    var spare: Float?
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
    public mutating func normal() -> Float {
        if let s = spare { spare = nil; return s }
        let u = uniform(), v = uniform()
        let r = (-2 * log(u)).squareRoot()
        spare = Float(r * sin(2 * .pi * v))
        return Float(r * cos(2 * .pi * v))
    }
}

/// Integrated gradients, guided backprop and guided GradCAM on the engine's reverse mode.
public enum Attribution {
    /// Captum's IG from a zero baseline in the normalised space, wrapped in SmoothGrad as AutoML does
    /// (`ntSamples` noisy copies with std `stdevs`, averaged; off when either is 0). x: [3, H, W]. Returns [3, H, W].
    public static func integratedGradients(_ r: GradientRunner, x: [Float], shape: [Int], target: Int, p: XAIParameters) throws -> [Float] {
        let (alphas, steps) = Approximation.alphasAndSteps(p.nSteps, p.approximationMethod)
        let samples = noisyCopies(x, p)
        let n = alphas.count, per = x.count
        var totals = [[Float]](repeating: [Float](repeating: 0, count: per), count: samples.count)
        try r.run(rows: samples.count * n, shape: shape, target: target, fill: { row, dst in
            let s = row / n, a = alphas[row % n]
            samples[s].withUnsafeBufferPointer { xs in for i in 0..<per { dst[i] = a * xs[i] } }
        }, consume: { row, g in
            let s = row / n, st = steps[row % n]
            totals[s].withUnsafeMutableBufferPointer { t in for i in 0..<per { t[i] += st * g[i] } }
        })
        var out = [Float](repeating: 0, count: per)
        let inv = 1 / Float(samples.count)
        for (s, xs) in samples.enumerated() { for i in 0..<per { out[i] += xs[i] * totals[s][i] * inv } }
        return out
    }

    /// Guided backprop (Relu nodes use the guided rule), with the same SmoothGrad wrapper. Returns [3, H, W].
    public static func guidedBackprop(_ r: GradientRunner, x: [Float], shape: [Int], target: Int, p: XAIParameters) throws -> [Float] {
        let samples = noisyCopies(x, p)
        let per = x.count
        var out = [Float](repeating: 0, count: per)
        let inv = 1 / Float(samples.count)
        try r.run(rows: samples.count, shape: shape, target: target, rules: GradientRunner.guided, fill: { row, dst in
            samples[row].withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: per) }
        }, consume: { _, g in for i in 0..<per { out[i] += g[i] * inv } })
        return out
    }

    static func noisyCopies(_ x: [Float], _ p: XAIParameters) -> [[Float]] {
        guard p.ntSamples > 0, p.stdevs > 0 else { return [x] }
        var rng = NoiseRNG(seed: p.seed)
        let sd = Float(p.stdevs)
        return (0..<p.ntSamples).map { _ in x.map { $0 + sd * rng.normal() } }
    }

    /// The layer GradCAM uses by default: the 4-D input of the last global pooling (GlobalAveragePool, or a
    /// ReduceMean over the spatial axes) — AutoML's `features[-1]` / `layer4[-1]`.
    public static func defaultGradCAMLayer(_ g: Graph) -> String? {
        for node in g.nodes.reversed() {
            if node.opType == "GlobalAveragePool" || node.opType == "GlobalMaxPool" { return node.inputs[0] }
            if node.opType == "ReduceMean", case .ints(let axes)? = node.attributes["axes"], Set(axes) == [2, 3] { return node.inputs[0] }
        }
        return nil
    }

    /// Guided GradCAM: ReLU(Σ_k mean_hw(∂y/∂A_k) · A_k), nearest-upsampled to the input, times guided backprop
    /// (no noise). One forward and one guided backward give both: no Relu lies between the layer and the logit
    /// in the heads this applies to (checked: otherwise a second, plain backward gives the layer's gradient).
    public static func guidedGradCAM(_ r: GradientRunner, x: [Float], shape: [Int], target: Int, layer: String) throws -> (attr: [Float], cam: [Float], camShape: [Int]) {
        let batch = Tensor(shape: [1] + shape, floats: x)
        let guided = try r.engine.gradient([r.input: batch], output: r.output, target: .logits([target]), wrt: [r.input, layer],
                                           rules: GradientRunner.guided)
        var gA = guided.gradients[layer]!
        if reluDownstream(of: layer, in: r.engine.graph) {
            gA = try r.engine.gradient([r.input: batch], output: r.output, target: .logits([target]), wrt: [layer]).gradients[layer]!
        }
        guard let A = guided.values[layer] ?? (try? r.engine.run([r.input: batch], fetch: [layer]))?[layer], A.rank == 4 else {
            throw XAIParameterError("GradCAM needs a 4-D activation; '\(layer)' is not one")
        }
        let k = A.shape[1], h = A.shape[2], w = A.shape[3], hw = h * w
        var cam = [Float](repeating: 0, count: hw)
        for c in 0..<k {
            var m: Float = 0
            for i in 0..<hw { m += gA.f32[c * hw + i] }
            m /= Float(hw)
            for i in 0..<hw { cam[i] += m * A.f32[c * hw + i] }
        }
        for i in 0..<hw { cam[i] = max(0, cam[i]) }
        let H = shape[1], W = shape[2], plane = H * W
        let gbp = guided.gradients[r.input]!
        var out = [Float](repeating: 0, count: 3 * plane)
        for y in 0..<H {
            let sy = min(Int(Float(y) * (Float(h) / Float(H))), h - 1)
            for xx in 0..<W {
                let sx = min(Int(Float(xx) * (Float(w) / Float(W))), w - 1)
                let v = cam[sy * w + sx]
                for c in 0..<3 { out[c * plane + y * W + xx] = gbp.f32[c * plane + y * W + xx] * v }
            }
        }
        return (out, cam, [h, w])
    }

    static func reluDownstream(of layer: String, in g: Graph) -> Bool {
        var live: Set<String> = [layer]
        for n in g.nodes where n.inputs.contains(where: live.contains) {
            if n.opType == "Relu" { return true }
            if case .string("Relu")? = n.attributes["__activation"] { return true }
            live.formUnion(n.outputs)
        }
        return false
    }
}

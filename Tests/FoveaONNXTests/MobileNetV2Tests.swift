import Foundation
import FoveaONNX
import FoveaTensor
import XCTest

/// The real default model against onnxruntime's logits, as one batch, and its input gradient
/// against finite differences.
final class MobileNetV2Tests: XCTestCase {
    static let names = ["astronaut", "chelsea", "coffee", "rocket"]
    static let model = try! Model(path: Fixtures.mobilenet.path)

    func input(_ n: String) throws -> Tensor { try Npy.read(Fixtures.mobilenetRef.appendingPathComponent("inputs/\(n).npy")) }
    func reference(_ n: String) throws -> Tensor { try Npy.read(Fixtures.mobilenetRef.appendingPathComponent("logits/\(n).npy")) }
    func top(_ t: Tensor, _ k: Int, row: Int = 0) -> [Int] {
        let c = t.shape.last!
        let v = Array(t.floats[(row * c)..<((row + 1) * c)])
        return Array(v.indices.sorted { v[$0] > v[$1] }.prefix(k))
    }

    func testLogitsMatchOnnxruntime() throws {
        for n in Self.names {
            let out = try Self.model.run(["input": input(n)])["logits"]!
            let ref = try reference(n)
            XCTAssertEqual(out.shape, [1, 1000])
            XCTAssertLessThanOrEqual(maxDiff(out, ref), 1e-3, n)
            XCTAssertEqual(top(out, 5), top(ref, 5), n)
        }
        XCTAssertEqual(top(try Self.model.run(["input": input("chelsea")])["logits"]!, 1), [285])  // Egyptian cat
    }

    func testBatchOfFourRunsAsOneBatch() throws {
        let batch = Tensor(zeros: [4, 3, 224, 224])
        let per = 3 * 224 * 224
        for (i, n) in Self.names.enumerated() {
            let t = try input(n)   // keep the tensor alive while its pointer is read
            withExtendedLifetime(t) { (batch.f32 + i * per).update(from: t.f32, count: per) }
        }
        let out = try Self.model.run(["input": batch])["logits"]!
        XCTAssertEqual(out.shape, [4, 1000])
        for (i, n) in Self.names.enumerated() {
            let ref = try reference(n)
            let row = Tensor(shape: [1, 1000], floats: Array(out.floats[(i * 1000)..<((i + 1) * 1000)]))
            XCTAssertLessThanOrEqual(maxDiff(row, ref), 1e-3, n)
        }
    }

    /// d logit[285] / d input against central differences on patches where the gradient is largest.
    func testInputGradientMatchesFiniteDifferences() throws {
        let x = try input("chelsea")
        let r = try Self.model.gradient(["input": x], target: .logits([285]))
        let g = r.gradients["input"]!
        XCTAssertEqual(g.shape, [1, 3, 224, 224])
        let gv = g.floats
        func logit(_ t: Tensor) throws -> Double { Double(try Self.model.run(["input": t])["logits"]!.f32[285]) }
        // three 12x12 patches around the largest-gradient pixels, perturbed along sign(g)
        var order = gv.indices.sorted { abs(gv[$0]) > abs(gv[$1]) }
        order = Array(order.prefix(3))
        let eps: Float = 1e-4   // converges: 1e-3 → 3.5%, 3e-4 → 1.7%, 1e-4 → 0.3% off
        for center in order {
            let ch = center / (224 * 224), yy = (center / 224) % 224, xx = center % 224
            var dir = [Int: Float]()
            for dy in -6..<6 { for dx in -6..<6 {
                let py = min(max(yy + dy, 0), 223), px = min(max(xx + dx, 0), 223)
                let i = ch * 224 * 224 + py * 224 + px
                dir[i] = gv[i] >= 0 ? 1 : -1
            } }
            let plus = x.copy(), minus = x.copy()
            for (i, s) in dir { plus.f32[i] += eps * s; minus.f32[i] -= eps * s }
            let fd = (try logit(plus) - logit(minus)) / Double(2 * eps)
            let an = dir.reduce(0.0) { $0 + Double(gv[$1.key] * $1.value) }
            XCTAssertEqual(fd, an, accuracy: 0.03 * abs(an), "patch at \(center)")
        }
        // the forward outputs of the gradient call are the ordinary logits
        XCTAssertLessThanOrEqual(maxDiff(r.outputs["logits"]!, try reference("chelsea")), 1e-3)
    }

    /// Guided-backprop-style rule replacement reaches the fused Conv+Clip activations too.
    func testBackwardRuleOverrideChangesTheGradient() throws {
        let x = try input("coffee")
        let plain = try Self.model.gradient(["input": x], target: .logits([967])).gradients["input"]!
        let zeroClip = BackwardRules(unary: ["Clip": { _ in }])   // block every Clip: no gradient reaches the input
        let blocked = try Self.model.gradient(["input": x], target: .logits([967]), rules: zeroClip).gradients["input"]!
        XCTAssertGreaterThan(maxAbs(plain), 0)
        XCTAssertEqual(maxAbs(blocked), 0)
    }

    func testGradientWithRespectToIntermediateValue() throws {
        let x = try input("chelsea")
        // the last 4-D activation before global pooling (GradCAM's layer)
        let pool = Self.model.graph.nodes.first { $0.opType == "GlobalAveragePool" }!
        let layer = pool.inputs[0]
        let r = try Self.model.gradient(["input": x], target: .logits([285]), wrt: [layer])
        let a = r.values[layer]!, g = r.gradients[layer]!
        XCTAssertEqual(a.shape, [1, 1280, 7, 7])
        XCTAssertEqual(g.shape, [1, 1280, 7, 7])
        // the head after the pooling is linear: logit = Σ_c W[285,c]·mean(A_c) + b, so dlogit/dA = W[285,c]/49
        let gemm = Self.model.graph.nodes.first { $0.opType == "Gemm" }!
        let w = Self.model.graph.initializers[gemm.inputs[1]]!
        for c in [0, 17, 1279] {
            XCTAssertEqual(g.f32[c * 49 + 5], w.f32[285 * 1280 + c] / 49, accuracy: 1e-6)
        }
    }
}

import Foundation
import FoveaTensor

/// Softmax over one axis (opset 13+; before 13 over the flattened [axis...] block, default axis 1).
/// Backward: gx += y · (gy - Σ gy·y).
final class SoftmaxOp: Operator {
    let ctx: OpContext
    let axis: Int
    let legacy: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        legacy = ctx.opset < 13
        axis = try ctx.int("axis", legacy ? 1 : -1)
    }
    var saves: Saves { .outputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < max(x.shape.count, 1) else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        return [x]
    }
    /// (outer, n, inner): softmax runs over n with stride inner.
    func geometry(_ s: [Int]) -> (Int, Int, Int) {
        let ax = normAxis(axis, s.count)
        if legacy { return (Array(s[..<ax]).product, Array(s[ax...]).product, 1) }
        return (Array(s[..<ax]).product, s[ax], Array(s[(ax + 1)...]).product)
    }
    func forward(_ a: ForwardArgs) {
        let (outer, n, inner) = geometry(a.x.shape)
        let x = a.x.f32, y = a.y.f32
        for o in 0..<outer { for i in 0..<inner {
            let base = o * n * inner + i
            var m = -Float.infinity
            for k in 0..<n { m = max(m, x[base + k * inner]) }
            var s: Float = 0
            for k in 0..<n { let e = expf(x[base + k * inner] - m); y[base + k * inner] = e; s += e }
            let r = 1 / s
            for k in 0..<n { y[base + k * inner] *= r }
        } }
    }
    func backward(_ a: BackwardArgs) {
        guard let gx = a.gx(0) else { return }
        let (outer, n, inner) = geometry(a.x.shape)
        let y = a.y.f32, gy = a.gy.f32, g = gx.f32
        for o in 0..<outer { for i in 0..<inner {
            let base = o * n * inner + i
            var dot: Float = 0
            for k in 0..<n { dot += gy[base + k * inner] * y[base + k * inner] }
            for k in 0..<n { let j = base + k * inner; g[j] += y[j] * (gy[j] - dot) }
        } }
    }
}

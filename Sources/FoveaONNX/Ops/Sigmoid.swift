import Foundation
import FoveaTensor

/// Sigmoid: y = 1 / (1 + e^-x); gx += gy · y · (1 - y).
final class SigmoidOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .outputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        vsigmoid(a.x.f32, a.y.f32, a.y.count)
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("Sigmoid") { return }
        guard let gx = a.gx(0) else { return }
        let y = a.y.f32, gy = a.gy.f32, g = gx.f32
        for i in 0..<a.y.count { g[i] += gy[i] * y[i] * (1 - y[i]) }
    }
}

import Foundation
import FoveaTensor

/// Erf: y = erf(x); gx += gy · 2/√π · e^(-x²).
final class ErfOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32
        for i in 0..<a.y.count { y[i] = erff(x[i]) }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("Erf") { return }
        guard let gx = a.gx(0) else { return }
        let x = a.x.f32, gy = a.gy.f32, g = gx.f32
        let c = Float(2 / Double.pi.squareRoot())
        for i in 0..<a.y.count { g[i] += gy[i] * c * expf(-x[i] * x[i]) }
    }
}

import FoveaTensor

/// HardSigmoid: y = clamp(alpha·x + beta, 0, 1); gx += gy · alpha inside (0, 1).
final class HardSigmoidOp: Operator {
    let ctx: OpContext
    let alpha: Float, beta: Float
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        alpha = try ctx.float("alpha", 0.2)
        beta = try ctx.float("beta", 0.5)
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32, al = alpha, be = beta
        for i in 0..<a.y.count { y[i] = min(max(al * x[i] + be, 0), 1) }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("HardSigmoid") { return }
        guard let gx = a.gx(0) else { return }
        let x = a.x.f32, gy = a.gy.f32, g = gx.f32, al = alpha, be = beta
        for i in 0..<a.y.count {
            let v = al * x[i] + be
            if v > 0 && v < 1 { g[i] += gy[i] * al }
        }
    }
}

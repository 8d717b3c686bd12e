import FoveaTensor

/// LeakyRelu: y = x for x >= 0, alpha·x otherwise; gx += gy · (x >= 0 ? 1 : alpha).
final class LeakyReluOp: Operator {
    let ctx: OpContext
    let alpha: Float
    init(_ ctx: OpContext) throws { self.ctx = ctx; alpha = try ctx.float("alpha", 0.01) }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32, al = alpha
        for i in 0..<a.y.count { y[i] = x[i] >= 0 ? x[i] : al * x[i] }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("LeakyRelu") { return }
        guard let gx = a.gx(0) else { return }
        let x = a.x.f32, gy = a.gy.f32, g = gx.f32, al = alpha
        for i in 0..<a.y.count { g[i] += x[i] >= 0 ? gy[i] : al * gy[i] }
    }
}

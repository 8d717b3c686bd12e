import FoveaTensor

/// HardSwish: y = x · clamp(x/6 + 1/2, 0, 1); gx += gy · (x/3 + 1/2) for -3 < x < 3, gy for x >= 3.
final class HardSwishOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32
        for i in 0..<a.y.count { y[i] = x[i] * min(max(x[i] / 6 + 0.5, 0), 1) }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("HardSwish") { return }
        guard let gx = a.gx(0) else { return }
        let x = a.x.f32, gy = a.gy.f32, g = gx.f32
        for i in 0..<a.y.count {
            let v = x[i]
            if v >= 3 { g[i] += gy[i] } else if v > -3 { g[i] += gy[i] * (v / 3 + 0.5) }
        }
    }
}

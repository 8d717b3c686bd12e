import FoveaTensor

/// Relu: y = max(x, 0); gx += gy · 1[x > 0]. Guided backprop replaces this backward rule.
final class ReluOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .outputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32
        for i in 0..<a.y.count { y[i] = max(x[i], 0) }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("Relu") { return }
        guard let gx = a.gx(0) else { return }
        ReluOp.standardBackward(y: a.y.f32, gy: a.gy.f32, gx: gx.f32, count: a.y.count)
    }
    static func standardBackward(y: UnsafePointer<Float>, gy: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { gx[i] += y[i] > 0 ? gy[i] : 0 }  // branchless: vectorises
    }

    /// The same, writing gx instead of adding into it (a fused Conv's own scratch).
    static func standardBackwardSet(y: UnsafePointer<Float>, gy: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { gx[i] = y[i] > 0 ? gy[i] : 0 }
    }
}

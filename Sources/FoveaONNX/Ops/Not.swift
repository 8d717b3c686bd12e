import FoveaTensor

/// Not: logical negation of a bool tensor.
final class NotOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        let d = try sameDesc(ctx, i)
        guard d[0].dtype == .bool else { throw ctx.shapeError("input must be bool, got \(d[0].dtype)") }
        return d
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x.u8, y = a.y.u8
        for i in 0..<a.y.count { y[i] = x[i] == 0 ? 1 : 0 }
    }
    func backward(_ a: BackwardArgs) throws {}
}

import FoveaTensor

/// Expand: broadcast the input to a shape (numpy rules, both ways); backward sums over the broadcast.
final class ExpandOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        guard let s = constants[1] else { throw ctx.needsConstant("the shape input") }
        guard let out = broadcastShapes(x.shape, s.ints) else { throw ctx.shapeError("cannot expand \(x.shape) to \(s.ints)") }
        return [TensorDesc(out, x.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        stridedCopy(from: a.x, broadcastLayout(a.x.shape, a.y.shape), to: a.y, dense(a.y.shape), shape: a.y.shape)
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        stridedAdd(from: a.gy.f32, dense(a.y.shape), to: g.f32, broadcastLayout(a.x.shape, a.y.shape), shape: a.y.shape)
    }
}

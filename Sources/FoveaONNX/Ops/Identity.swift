import FoveaTensor

/// Identity (and Dropout in inference, which the passes usually remove): y = x.
final class IdentityOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        // Dropout's optional mask output is all true in inference
        return ctx.node.outputs.count > 1 ? [x, TensorDesc(x.shape, .bool)] : [x]
    }
    func forward(_ a: ForwardArgs) {
        copyAll(a.x, a.y)
        if a.outputs.count > 1 { a.outputs[1].u8.initialize(repeating: 1, count: a.outputs[1].count) }
    }
    func backward(_ a: BackwardArgs) { if let g = a.gx(0) { addAll(a.gy, into: g) } }
}

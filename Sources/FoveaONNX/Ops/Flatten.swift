import FoveaTensor

/// Flatten: [d0..d(axis-1)] x [d(axis)..] as a 2-D tensor.
final class FlattenOp: Operator {
    let ctx: OpContext
    let axis: Int
    init(_ ctx: OpContext) throws { self.ctx = ctx; axis = try ctx.int("axis", 1) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax <= x.shape.count else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        return [TensorDesc([Array(x.shape[..<ax]).product, Array(x.shape[ax...]).product], x.dtype)]
    }
    func forward(_ a: ForwardArgs) { copyAll(a.x, a.y) }
    func backward(_ a: BackwardArgs) { if let g = a.gx(0) { addAll(a.gy, into: g) } }
}

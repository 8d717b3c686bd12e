import FoveaTensor

/// Squeeze: drops size-1 dimensions (the given axes, or all); axes are an attribute before opset 13.
final class SqueezeOp: Operator {
    let ctx: OpContext
    let attrAxes: [Int]?
    init(_ ctx: OpContext) throws { self.ctx = ctx; attrAxes = try ctx.ints("axes") }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        var axes = attrAxes
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("axes") }
            axes = c.ints
        }
        let r = x.shape.count
        let drop = Set((axes ?? x.shape.indices.filter { x.shape[$0] == 1 }).map { normAxis($0, r) })
        for d in drop where d < 0 || d >= r || x.shape[d] != 1 {
            throw ctx.shapeError("cannot squeeze axis \(d) of \(x.shape)")
        }
        return [TensorDesc(x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] }, x.dtype)]
    }
    func forward(_ a: ForwardArgs) { copyAll(a.x, a.y) }
    func backward(_ a: BackwardArgs) { if let g = a.gx(0) { addAll(a.gy, into: g) } }
}

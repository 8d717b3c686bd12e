import FoveaTensor

/// Concat along an axis; backward hands each input its slice of the gradient.
final class ConcatOp: Operator {
    let ctx: OpContext
    let axis: Int
    init(_ ctx: OpContext) throws { self.ctx = ctx; axis = try ctx.int("axis", 0) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        let ins = i.compactMap { $0 }
        guard let first = ins.first else { throw ctx.shapeError("no inputs") }
        let r = first.shape.count
        let ax = normAxis(axis, r)
        guard ax >= 0 && ax < r else { throw ctx.shapeError("axis \(axis) out of range for rank \(r)") }
        var out = first.shape
        out[ax] = 0
        for t in ins {
            guard t.shape.count == r, t.dtype == first.dtype,
                  (0..<r).allSatisfy({ $0 == ax || t.shape[$0] == first.shape[$0] }) else {
                throw ctx.shapeError("inputs \(ins.map(\.shape)) do not agree outside axis \(ax)")
            }
            out[ax] += t.shape[ax]
        }
        return [TensorDesc(out, first.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let ax = normAxis(axis, a.y.rank)
        let ys = contiguousStrides(a.y.shape)
        var off = 0
        for case let t? in a.inputs {
            stridedCopy(from: t, dense(t.shape), to: a.y, (off * ys[ax], ys), shape: t.shape)
            off += t.shape[ax]
        }
    }
    func backward(_ a: BackwardArgs) {
        let ax = normAxis(axis, a.y.rank)
        let ys = contiguousStrides(a.y.shape)
        var off = 0
        for (k, t) in a.inputs.enumerated() {
            guard let t else { continue }
            if let g = a.gx(k) { stridedAdd(from: a.gy.f32, (off * ys[ax], ys), to: g.f32, dense(t.shape), shape: t.shape) }
            off += t.shape[ax]
        }
    }
}

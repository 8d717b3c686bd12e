import FoveaTensor

/// Transpose: y = x with its axes permuted (default: reversed); backward permutes back.
final class TransposeOp: Operator {
    let ctx: OpContext
    let perm: [Int]?
    init(_ ctx: OpContext) throws { self.ctx = ctx; perm = try ctx.ints("perm") }
    func permutation(_ r: Int) -> [Int] { perm ?? Array((0..<r).reversed()) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let p = permutation(x.shape.count)
        guard Set(p) == Set(0..<x.shape.count), p.count == x.shape.count else {
            throw ctx.shapeError("perm \(p) is not a permutation of the \(x.shape.count) axes")
        }
        return [TensorDesc(p.map { x.shape[$0] }, x.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let p = permutation(a.x.rank)
        let st = contiguousStrides(a.x.shape)
        stridedCopy(from: a.x, (0, p.map { st[$0] }), to: a.y, dense(a.y.shape), shape: a.y.shape)
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let p = permutation(a.x.rank)
        let st = contiguousStrides(a.x.shape)
        stridedAdd(from: a.gy.f32, dense(a.y.shape), to: g.f32, (0, p.map { st[$0] }), shape: a.y.shape)
    }
}

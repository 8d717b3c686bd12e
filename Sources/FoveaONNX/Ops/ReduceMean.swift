import FoveaTensor

/// ReduceMean over axes; backward spreads gy / count over the reduced positions.
final class ReduceMeanOp: Operator {
    let ctx: OpContext
    let attrs: ReduceAttributes
    init(_ ctx: OpContext) throws { self.ctx = ctx; attrs = try ReduceAttributes(ctx) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        guard x.dtype == .float32 else { throw ctx.shapeError("only float32 is supported") }
        return [TensorDesc(attrs.outShape(x.shape, try attrs.axes(ctx, x.shape, constants, i)))]
    }
    func axes(_ a: [Tensor?], _ x: Tensor) -> [Int] {
        try! attrs.axes(ctx, x.shape, a, a.map { $0.map { TensorDesc($0.shape, $0.dtype) } })
    }
    func forward(_ a: ForwardArgs) {
        let ax = axes(a.inputs, a.x)
        let n = ax.map { a.x.shape[$0] }.product
        reduceSum(a.x, a.y, axes: ax, attrs: attrs, scale: 1 / Float(max(n, 1)))
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let ax = axes(a.inputs, a.x)
        let inv = 1 / Float(max(ax.map { a.x.shape[$0] }.product, 1))
        let l = attrs.outLayout(a.x.shape, ax)
        let gy = a.gy.f32, gp = g.f32
        stridedRuns(a.x.shape, src: l, dst: dense(a.x.shape)) { si, di, n, ss, ds in
            for k in 0..<n { gp[di + k * ds] += gy[si + k * ss] * inv }
        }
    }
}

import FoveaTensor

/// ReduceSum over axes (axes input from opset 13); backward broadcasts gy back.
final class ReduceSumOp: Operator {
    let ctx: OpContext
    let attrs: ReduceAttributes
    init(_ ctx: OpContext) throws { self.ctx = ctx; attrs = try ReduceAttributes(ctx) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        guard x.dtype != .bool else { throw ctx.shapeError("bool input is not supported") }
        return [TensorDesc(attrs.outShape(x.shape, try attrs.axes(ctx, x.shape, constants, i)), x.dtype)]
    }
    func axes(_ a: [Tensor?], _ x: Tensor) -> [Int] {
        try! attrs.axes(ctx, x.shape, a, a.map { $0.map { TensorDesc($0.shape, $0.dtype) } })
    }
    func forward(_ a: ForwardArgs) {
        if a.x.dtype == .int64 {
            // integer sums (counts of a mask in detection graphs)
            let px = a.x.i64, py = a.y.i64
            for k in 0..<a.y.count { py[k] = 0 }
            stridedRuns(a.x.shape, src: dense(a.x.shape), dst: attrs.outLayout(a.x.shape, axes(a.inputs, a.x))) { si, di, n, ss, ds in
                for k in 0..<n { py[di + k * ds] &+= px[si + k * ss] }
            }
            return
        }
        reduceSum(a.x, a.y, axes: axes(a.inputs, a.x), attrs: attrs, scale: 1)
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let l = attrs.outLayout(a.x.shape, axes(a.inputs, a.x))
        stridedAdd(from: a.gy.f32, l, to: g.f32, dense(a.x.shape), shape: a.x.shape)
    }
}

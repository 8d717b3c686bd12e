import FoveaTensor

/// Min of any number of inputs with broadcasting (float32 or int64). Forward only.
final class MinOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let first = i.first ?? nil else { throw ctx.shapeError("needs at least one input") }
        var s = first.shape
        for d in i.dropFirst() {
            guard let d, d.dtype == first.dtype else { throw ctx.shapeError("inputs must share one type") }
            guard let b = broadcastShapes(s, d.shape) else { throw ctx.shapeError("shapes \(s) and \(d.shape) do not broadcast") }
            s = b
        }
        return [TensorDesc(s, first.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let z = a.y
        stridedCopy(from: a.x, broadcastLayout(a.x.shape, z.shape), to: z, dense(z.shape), shape: z.shape)
        for k in 1..<a.inputs.count {
            let x = a.input(k)
            if z.dtype == .int64 {
                let pz = z.i64, px = x.i64
                broadcastRuns(out: z.shape, a: z.shape, b: x.shape) { o, _, ib, n, _, sb in
                    for j in 0..<n { pz[o + j] = min(pz[o + j], px[ib + j * sb]) }
                }
            } else {
                let pz = z.f32, px = x.f32
                broadcastRuns(out: z.shape, a: z.shape, b: x.shape) { o, _, ib, n, _, sb in
                    for j in 0..<n { let v = px[ib + j * sb]; pz[o + j] = v.isNaN ? v : Swift.min(pz[o + j], v) }
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

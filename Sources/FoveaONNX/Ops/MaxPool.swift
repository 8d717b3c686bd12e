import FoveaTensor

/// MaxPool (2-D) with dilations, pads, ceil_mode and the optional Indices output (NCHW flat indices).
/// Backward routes each output gradient to the first maximal input of its window.
final class MaxPoolOp: Operator {
    let ctx: OpContext
    let attrs: PoolAttributes
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        attrs = try PoolAttributes(ctx)
        if try ctx.int("storage_order", 0) != 0 { throw ctx.unsupported("storage_order = 1 is not supported") }
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let (g, _, _) = try attrs.geometry(ctx, x.shape)
        let s = [x.shape[0], x.shape[1], g.ho, g.wo]
        return ctx.node.outputs.count > 1 ? [TensorDesc(s), TensorDesc(s, .int64)] : [TensorDesc(s)]
    }
    /// Calls body(outIndex, argmaxInputIndex (within the channel plane), maxValue) for one plane.
    @inline(__always) func plane(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ body: (Int, Int, Float) -> Void) {
        for oh in 0..<g.ho {
            for ow in 0..<g.wo {
                var best = -Float.infinity, arg = -1
                for i in 0..<g.kh {
                    let ih = oh * g.sh - g.pt + i * g.dh
                    if ih < 0 || ih >= g.h { continue }
                    for j in 0..<g.kw {
                        let iw = ow * g.sw - g.pl + j * g.dw
                        if iw < 0 || iw >= g.w { continue }
                        let v = x[ih * g.w + iw]
                        if v > best || arg < 0 { best = v; arg = ih * g.w + iw }
                    }
                }
                body(oh * g.wo + ow, arg, best)
            }
        }
    }
    func forward(_ a: ForwardArgs) {
        let (g, _, _) = try! attrs.geometry(ctx, a.x.shape)
        let planes = a.x.shape[0] * a.x.shape[1], inHW = g.h * g.w, outHW = g.ho * g.wo
        let x = a.x.f32, y = a.y.f32
        let idx: UnsafeMutablePointer<Int64>? = a.outputs.count > 1 ? a.outputs[1].i64 : nil
        for p in 0..<planes {
            plane(x + p * inHW, g) { o, arg, v in
                y[p * outHW + o] = v
                idx?[p * outHW + o] = Int64(p * inHW + arg)
            }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let gx = a.gx(0) else { return }
        let (g, _, _) = try! attrs.geometry(ctx, a.x.shape)
        let planes = a.x.shape[0] * a.x.shape[1], inHW = g.h * g.w, outHW = g.ho * g.wo
        let gy = a.gy.f32, gp = gx.f32
        for p in 0..<planes {
            plane(a.x.f32 + p * inHW, g) { o, arg, _ in if arg >= 0 { gp[p * inHW + arg] += gy[p * outHW + o] } }
        }
    }
}

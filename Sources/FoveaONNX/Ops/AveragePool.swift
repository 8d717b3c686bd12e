import FoveaTensor

/// AveragePool (2-D) with pads, ceil_mode and count_include_pad; backward spreads gy/divisor.
final class AveragePoolOp: Operator {
    let ctx: OpContext
    let attrs: PoolAttributes
    let includePad: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        attrs = try PoolAttributes(ctx)
        includePad = try ctx.int("count_include_pad", 0) != 0
        if attrs.dilations != [1, 1] { throw ctx.unsupported("dilations other than 1 are not supported for AveragePool") }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let (g, _, _) = try attrs.geometry(ctx, x.shape)
        return [TensorDesc([x.shape[0], x.shape[1], g.ho, g.wo])]
    }
    /// Calls body(outIndex, h0, h1, w0, w1, divisor) with the clipped window for each output.
    @inline(__always) func windows(_ g: ConvGeometry, _ pb: Int, _ pr: Int, _ body: (Int, Int, Int, Int, Int, Float) -> Void) {
        for oh in 0..<g.ho {
            let hs = oh * g.sh - g.pt, he = min(hs + (g.kh - 1) * g.dh + 1, g.h + pb)
            for ow in 0..<g.wo {
                let ws = ow * g.sw - g.pl, we = min(ws + (g.kw - 1) * g.dw + 1, g.w + pr)
                let h0 = max(hs, 0), h1 = min(he, g.h), w0 = max(ws, 0), w1 = min(we, g.w)
                let div = includePad ? (he - hs) * (we - ws) : (h1 - h0) * (w1 - w0)
                body(oh * g.wo + ow, h0, h1, w0, w1, 1 / Float(max(div, 1)))
            }
        }
    }
    func forward(_ a: ForwardArgs) {
        let (g, pb, pr) = try! attrs.geometry(ctx, a.x.shape)
        let planes = a.x.shape[0] * a.x.shape[1], inHW = g.h * g.w, outHW = g.ho * g.wo
        for p in 0..<planes {
            let x = a.x.f32 + p * inHW, y = a.y.f32 + p * outHW
            windows(g, pb, pr) { o, h0, h1, w0, w1, inv in
                var s: Float = 0
                for ih in h0..<h1 { for iw in w0..<w1 { s += x[ih * g.w + iw] } }
                y[o] = s * inv
            }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let gx = a.gx(0) else { return }
        let (g, pb, pr) = try! attrs.geometry(ctx, a.x.shape)
        let planes = a.x.shape[0] * a.x.shape[1], inHW = g.h * g.w, outHW = g.ho * g.wo
        for p in 0..<planes {
            let d = gx.f32 + p * inHW, gy = a.gy.f32 + p * outHW
            windows(g, pb, pr) { o, h0, h1, w0, w1, inv in
                let v = gy[o] * inv
                for ih in h0..<h1 { for iw in w0..<w1 { d[ih * g.w + iw] += v } }
            }
        }
    }
}

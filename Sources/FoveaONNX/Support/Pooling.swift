import FoveaTensor

/// Window geometry shared by MaxPool and AveragePool (2-D): kernel, strides, dilations, pads,
/// auto_pad and ceil_mode as ONNX defines them.
struct PoolAttributes {
    let kernel: [Int], strides: [Int], dilations: [Int], pads: [Int]
    let autoPad: String
    let ceilMode: Bool
    init(_ ctx: OpContext) throws {
        guard let k = try ctx.ints("kernel_shape"), k.count == 2 else {
            throw ctx.unsupported("kernel_shape must give 2 sizes (only 2-D pooling is supported)")
        }
        kernel = k
        strides = try ctx.ints("strides") ?? [1, 1]
        dilations = try ctx.ints("dilations") ?? [1, 1]
        pads = try ctx.ints("pads") ?? [0, 0, 0, 0]
        autoPad = try ctx.string("auto_pad", "NOTSET")
        ceilMode = try ctx.int("ceil_mode", 0) != 0
        guard strides.count == 2, dilations.count == 2, pads.count == 4 else {
            throw ctx.unsupported("strides/dilations need 2 values and pads 4")
        }
    }
    /// Geometry plus the bottom/right pads (for count_include_pad).
    func geometry(_ ctx: OpContext, _ x: [Int]) throws -> (ConvGeometry, Int, Int) {
        guard x.count == 4 else { throw ctx.shapeError("only 4-D (NCHW) inputs are supported, got \(x)") }
        let h = x[2], w = x[3]
        let ekh = (kernel[0] - 1) * dilations[0] + 1, ekw = (kernel[1] - 1) * dilations[1] + 1
        var p = pads
        var ho: Int, wo: Int
        switch autoPad {
        case "VALID":
            p = [0, 0, 0, 0]
            ho = (h - ekh) / strides[0] + 1; wo = (w - ekw) / strides[1] + 1
        case "SAME_UPPER", "SAME_LOWER":
            ho = (h + strides[0] - 1) / strides[0]; wo = (w + strides[1] - 1) / strides[1]
            let ph = max(0, (ho - 1) * strides[0] + ekh - h), pw = max(0, (wo - 1) * strides[1] + ekw - w)
            p = autoPad == "SAME_UPPER" ? [ph / 2, pw / 2, ph - ph / 2, pw - pw / 2] : [ph - ph / 2, pw - pw / 2, ph / 2, pw / 2]
        default:
            let nh = h + p[0] + p[2] - ekh, nw = w + p[1] + p[3] - ekw
            if ceilMode {
                ho = (nh + strides[0] - 1) / strides[0] + 1; wo = (nw + strides[1] - 1) / strides[1] + 1
                if (ho - 1) * strides[0] >= h + p[0] { ho -= 1 }
                if (wo - 1) * strides[1] >= w + p[1] { wo -= 1 }
            } else {
                ho = nh / strides[0] + 1; wo = nw / strides[1] + 1
            }
        }
        guard ho > 0, wo > 0 else { throw ctx.shapeError("input \(x) is smaller than the window") }
        return (ConvGeometry(c: x[1], h: h, w: w, kh: kernel[0], kw: kernel[1], sh: strides[0], sw: strides[1],
                             dh: dilations[0], dw: dilations[1], pt: p[0], pl: p[1], ho: ho, wo: wo), p[2], p[3])
    }
}

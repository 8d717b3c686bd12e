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
        let (ho, wo, p) = windowOutput(h: h, w: w, ekh: ekh, ekw: ekw, strides: strides, pads: pads, autoPad: autoPad,
                                       ceilMode: ceilMode)
        guard ho > 0, wo > 0 else { throw ctx.shapeError("input \(x) is smaller than the window") }
        return (ConvGeometry(c: x[1], h: h, w: w, kh: kernel[0], kw: kernel[1], sh: strides[0], sw: strides[1],
                             dh: dilations[0], dw: dilations[1], pt: p[0], pl: p[1], ho: ho, wo: wo), p[2], p[3])
    }
}

import FoveaTensor

/// ConvTranspose (2-D, NCHW): per image and group, col = Wᵀ·x by GEMM, then col2im into the output, plus
/// bias. Strides, dilations, pads, output_padding, output_shape and auto_pad; groups. Forward only.
final class ConvTransposeOp: Operator {
    let ctx: OpContext
    let group: Int
    let strides: [Int], dilations: [Int], outputPadding: [Int]
    let pads: [Int]?, outputShape: [Int]?, kernelShape: [Int]?
    let autoPad: String
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        group = try ctx.int("group", 1)
        strides = try ctx.ints("strides") ?? [1, 1]
        dilations = try ctx.ints("dilations") ?? [1, 1]
        outputPadding = try ctx.ints("output_padding") ?? [0, 0]
        pads = try ctx.ints("pads")
        outputShape = try ctx.ints("output_shape")
        kernelShape = try ctx.ints("kernel_shape")
        autoPad = try ctx.string("auto_pad", "NOTSET")
        guard group >= 1, strides.count == 2, dilations.count == 2, outputPadding.count == 2,
              strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw ctx.unsupported("only 2-D ConvTranspose with positive strides and dilations is supported")
        }
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else {
            throw ctx.unsupported("auto_pad '\(autoPad)' is not supported")
        }
    }

    /// Geometry of the equivalent convolution that maps the output (as its input) to x (as its output).
    func geometry(_ x: [Int], _ w: [Int]) throws -> (cout: Int, ConvGeometry) {
        guard x.count == 4, w.count == 4 else { throw ctx.shapeError("only 2-D (4-D input and weight) is supported") }
        guard w[0] == x[1], x[1] % group == 0 else { throw ctx.shapeError("weight \(w) does not fit \(x[1]) input channels") }
        if let k = kernelShape, k != [w[2], w[3]] { throw ctx.shapeError("kernel_shape \(k) differs from the weight's") }
        let cout = w[1] * group
        let (h, wd) = (x[2], x[3])
        let ek = [(w[2] - 1) * dilations[0] + 1, (w[3] - 1) * dilations[1] + 1]
        var p = pads ?? [0, 0, 0, 0]
        guard p.count == 4 else { throw ctx.shapeError("pads must have 4 values") }
        var out = [0, 0]
        for d in 0..<2 {
            let inLen = d == 0 ? h : wd
            let full = strides[d] * (inLen - 1) + outputPadding[d] + ek[d]
            if let os = outputShape, os.count >= 2 {
                out[d] = os[os.count - 2 + d]
                let total = max(full - out[d], 0)
                if autoPad == "SAME_UPPER" { p[d] = total / 2; p[d + 2] = total - total / 2 }
                else { p[d] = total - total / 2; p[d + 2] = total / 2 }
            } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                out[d] = inLen * strides[d]
                let total = max(full - out[d], 0)
                if autoPad == "SAME_UPPER" { p[d] = total / 2; p[d + 2] = total - total / 2 }
                else { p[d] = total - total / 2; p[d + 2] = total / 2 }
            } else {
                if autoPad == "VALID" { p = [0, 0, 0, 0] }
                out[d] = full - p[d] - p[d + 2]
            }
        }
        guard out[0] > 0, out[1] > 0 else { throw ctx.shapeError("output size \(out) is not positive") }
        return (cout, ConvGeometry(c: w[1], h: out[0], w: out[1], kh: w[2], kw: w[3], sh: strides[0], sw: strides[1],
                                   dh: dilations[0], dw: dilations[1], pt: p[0], pl: p[1], ho: h, wo: wd))
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count >= 2, let x = i[0], let w = i[1] else { throw ctx.shapeError("needs input and weight") }
        let (cout, g) = try geometry(x.shape, w.shape)
        if i.count > 2, let b = i[2], b.count != cout { throw ctx.shapeError("bias has \(b.count) values for \(cout) channels") }
        return [TensorDesc([x.shape[0], cout, g.h, g.w])]
    }
    func forwardScratch(_ i: [TensorDesc?]) -> Int {
        guard let x = i[0], let w = i[1], let (_, g) = try? geometry(x.shape, w.shape) else { return 0 }
        return g.c * g.kh * g.kw * g.ho * g.wo * 4
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, w = a.input(1), y = a.y
        let (cout, g) = try! geometry(x.shape, w.shape)
        let cinG = x.shape[1] / group, coutG = cout / group
        let rows = coutG * g.kh * g.kw, hw = g.ho * g.wo, outHW = g.h * g.w
        let col = a.scratch.assumingMemoryBound(to: Float.self)
        y.zero()
        for n in 0..<x.shape[0] {
            for gi in 0..<group {
                let xg = x.f32 + (n * x.shape[1] + gi * cinG) * hw
                let wg = w.f32 + gi * cinG * rows
                sgemm(transA: true, m: rows, n: hw, k: cinG, a: wg, lda: rows, b: xg, ldb: hw, c: col, ldc: hw)
                col2imAdd(col, g, y.f32 + (n * cout + gi * coutG) * outHW)
            }
            if a.has(2) {
                let b = a.input(2).f32
                for c in 0..<cout {
                    let p = y.f32 + (n * cout + c) * outHW
                    for k in 0..<outHW { p[k] += b[c] }
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

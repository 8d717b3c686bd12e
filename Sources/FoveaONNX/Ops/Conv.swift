import Foundation
import FoveaTensor

/// Conv (2-D, NCHW): groups (depthwise included), strides, dilations, asymmetric pads, auto_pad,
/// and an optional fused Relu/Clip (set by the fusion pass as `__activation`).
/// 1x1 stride-1 convs are plain GEMMs; depthwise convs a direct loop; the rest im2col + GEMM.
/// Backward: dX = col2im(Wᵀ·dY), dW = dY·colᵀ, dB = Σ dY, after the activation's own backward.
final class ConvOp: Operator {
    let ctx: OpContext
    let group: Int
    let strides: [Int]?, dilations: [Int]?, pads: [Int]?, kernelShape: [Int]?
    let autoPad: String
    let activation: String?
    let clip: (Float, Float)
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        group = try ctx.int("group", 1)
        strides = try ctx.ints("strides")
        dilations = try ctx.ints("dilations")
        pads = try ctx.ints("pads")
        kernelShape = try ctx.ints("kernel_shape")
        autoPad = try ctx.string("auto_pad", "NOTSET")
        if case .string(let s)? = ctx.node.attributes["__activation"] { activation = s } else { activation = nil }
        if case .floats(let f)? = ctx.node.attributes["__clip"], f.count == 2 { clip = (f[0], f[1]) } else {
            clip = (-Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude)
        }
        guard group >= 1 else { throw ctx.unsupported("group must be >= 1") }
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else {
            throw ctx.unsupported("auto_pad '\(autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
    }
    var saves: Saves { .inputsAndOutputs }
    struct Shapes { var n: Int; var cin: Int; var cout: Int; var geo: ConvGeometry }

    func shapes(_ x: [Int], _ w: [Int]) throws -> Shapes {
        guard x.count == 4, w.count == 4 else {
            throw ctx.shapeError("only 2-D convolution (4-D input and weight) is supported; input \(x), weight \(w)")
        }
        let (n, cin, h, wd) = (x[0], x[1], x[2], x[3])
        let (cout, cpg, kh, kw) = (w[0], w[1], w[2], w[3])
        guard cin == cpg * group, cout % group == 0 else {
            throw ctx.shapeError("input has \(cin) channels, weight \(w) with group \(group) expects \(cpg * group)")
        }
        if let k = kernelShape, k != [kh, kw] { throw ctx.shapeError("kernel_shape \(k) differs from the weight's \([kh, kw])") }
        let s = strides ?? [1, 1], d = dilations ?? [1, 1]
        guard s.count == 2, d.count == 2, s.allSatisfy({ $0 > 0 }), d.allSatisfy({ $0 > 0 }) else {
            throw ctx.shapeError("strides \(s) / dilations \(d) must be two positive ints")
        }
        let p0 = pads ?? [0, 0, 0, 0]
        guard p0.count == 4 else { throw ctx.shapeError("pads must have 4 values, got \(p0)") }
        let (ho, wo, p) = windowOutput(h: h, w: wd, ekh: (kh - 1) * d[0] + 1, ekw: (kw - 1) * d[1] + 1, strides: s,
                                       pads: p0, autoPad: autoPad)
        guard ho > 0, wo > 0 else { throw ctx.shapeError("input \(x) is smaller than the kernel \([kh, kw]) allows") }
        return Shapes(n: n, cin: cin, cout: cout,
                      geo: ConvGeometry(c: cpg, h: h, w: wd, kh: kh, kw: kw, sh: s[0], sw: s[1], dh: d[0], dw: d[1],
                                        pt: p[0], pl: p[1], ho: ho, wo: wo))
    }

    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count >= 2, let x = i[0], let w = i[1] else { throw ctx.shapeError("needs input and weight") }
        let s = try shapes(x.shape, w.shape)
        if i.count > 2, let b = i[2], b.count != s.cout { throw ctx.shapeError("bias has \(b.count) values for \(s.cout) channels") }
        return [TensorDesc([s.n, s.cout, s.geo.ho, s.geo.wo])]
    }

    func isPointwise(_ g: ConvGeometry) -> Bool {
        g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.ho == g.h && g.wo == g.w
    }
    func isDepthwise(_ s: Shapes) -> Bool { s.geo.c == 1 && group > 1 }

    func colFloats(_ i: [TensorDesc?]) -> Int {
        guard let x = i[0], let w = i[1], let s = try? shapes(x.shape, w.shape) else { return 0 }
        if isPointwise(s.geo) || isDepthwise(s) { return 0 }
        return s.geo.c * s.geo.kh * s.geo.kw * s.geo.ho * s.geo.wo
    }
    /// Above this many floats an im2col buffer is built and multiplied in bands of output rows.
    static let bandFloats = 256 * 1024
    /// Depthwise work is split over at most this many threads (each has its own padded-plane scratch).
    static let maxParts = 8
    /// Whether the channel-blocked depthwise kernels handle this conv (one output channel per input channel).
    func blockedApplies(_ s: Shapes) -> Bool { isDepthwise(s) && s.cout == s.cin && depthwiseBlockedApplies(s.geo) }
    /// Whether the forward uses them (the backward always does when they apply).
    func useBlocked(_ s: Shapes) -> Bool {
        guard blockedApplies(s) else { return false }
        let g = s.geo
        // measured per layer: the per-plane kernel wins only for 3x3 stride 1 on planes wider than ~16
        return g.sw == 2 || g.kw != 3 || g.wo <= 16 || !depthwiseSmallApplies(g)
    }
    func forwardScratch(_ i: [TensorDesc?]) -> Int {
        if let x = i[0], let w = i[1], let s = try? shapes(x.shape, w.shape), isDepthwise(s) {
            return max(DepthwiseLayout(s.geo).floats, DepthwiseBlockedLayout(s.geo).forwardFloats) * ConvOp.maxParts * 4
        }
        return colFloats(i) * 4
    }
    func backwardScratch(_ i: [TensorDesc?]) -> Int {
        guard let x = i[0], let w = i[1], let s = try? shapes(x.shape, w.shape) else { return 0 }
        let blocked = isDepthwise(s) ? DepthwiseBlockedLayout(s.geo).backwardFloats : 0
        return (colFloats(i) + s.n * s.cout * s.geo.ho * s.geo.wo + blocked) * 4
    }

    func forward(_ a: ForwardArgs) {
        let x = a.x, w = a.input(1), y = a.y
        let s = try! shapes(x.shape, w.shape)
        let g = s.geo
        let hw = g.ho * g.wo, inHW = g.h * g.w
        let coutG = s.cout / group
        let kdim = g.c * g.kh * g.kw
        let bias: UnsafeMutablePointer<Float>? = a.has(2) ? a.input(2).f32 : nil
        if useBlocked(s) {
            let (lo, hi) = activationBounds
            let blocks = (s.cin + 7) / 8
            let parts = min(Threads.count, s.n * blocks, ConvOp.maxParts)
            let scr = DepthwiseBlockedLayout(g).forwardFloats
            Threads.parallelFor(parts) { part in
                let total = s.n * blocks, per = (total + parts - 1) / parts
                let scratch = a.scratch + part * scr * 4
                for idx in part * per..<min(total, (part + 1) * per) {
                    let n = idx / blocks, c0 = (idx % blocks) * 8, cb = min(8, s.cin - c0)
                    depthwiseBlocked(x.f32 + (n * s.cin + c0) * inHW, inStride: inHW, w.f32 + c0 * g.kh * g.kw,
                                     bias: bias.map { $0 + c0 }, channels: cb, g,
                                     y.f32 + (n * s.cout + c0) * hw, outStride: hw, lo: lo, hi: hi, scratch: scratch)
                }
            }
            return
        }
        if isDepthwise(s) {
            let mult = coutG
            let fast = depthwiseSmallApplies(g)
            let (lo, hi) = activationBounds
            let parts = min(Threads.count, s.n * s.cout, ConvOp.maxParts)
            let padSize = DepthwiseLayout(g).floats
            Threads.parallelFor(parts) { part in
                let total = s.n * s.cout, per = (total + parts - 1) / parts
                let padded = a.scratch.assumingMemoryBound(to: Float.self) + part * padSize
                for idx in part * per..<min(total, (part + 1) * per) {
                    let n = idx / s.cout, oc = idx % s.cout
                    let ic = oc / mult
                    let xp = x.f32 + (n * s.cin + ic) * inHW, wp = w.f32 + oc * g.kh * g.kw, yp = y.f32 + (n * s.cout + oc) * hw
                    if fast {
                        depthwiseSmall(xp, wp, bias: bias?[oc] ?? 0, g, yp, lo: lo, hi: hi, scratch: padded)
                    } else {
                        depthwiseChannel(xp, wp, bias: bias?[oc] ?? 0, g, yp)
                        if activation != nil { for k in 0..<hw { yp[k] = min(max(yp[k], lo), hi) } }
                    }
                }
            }
            return
        } else {
            let col = a.scratch.assumingMemoryBound(to: Float.self)
            let pointwise = isPointwise(g)
            let (lo, hi) = activationBounds
            for n in 0..<s.n {
                for gi in 0..<group {
                    let xg = x.f32 + (n * s.cin + gi * g.c) * inHW
                    let yg = y.f32 + (n * s.cout + gi * coutG) * hw
                    let wg = w.f32 + gi * coutG * kdim
                    let src: UnsafePointer<Float>
                    if !pointwise && kdim * hw > ConvOp.bandFloats && g.wo > 0 {
                        // a large im2col in bands of output rows that stay in cache with their GEMM
                        let rowsPerBand = max(1, ConvOp.bandFloats / (kdim * g.wo))
                        var r0 = 0
                        while r0 < g.ho {
                            let band = r0..<min(g.ho, r0 + rowsPerBand), cnt = band.count * g.wo
                            im2colRows(xg, g, col, rows: band)
                            sgemmBiasClamp(m: coutG, n: cnt, k: kdim, a: wg, lda: kdim, b: col, ldb: cnt,
                                           bias: bias.map { UnsafePointer($0 + gi * coutG) }, lo: lo, hi: hi,
                                           clamp: activation != nil, c: yg + r0 * g.wo, ldc: hw)
                            r0 = band.upperBound
                        }
                        continue
                    }
                    if pointwise { src = UnsafePointer(xg) } else { im2col(xg, g, col); src = UnsafePointer(col) }
                    if bias == nil && activation == nil {
                        sgemm(m: coutG, n: hw, k: kdim, a: wg, lda: kdim, b: src, ldb: hw, c: yg, ldc: hw)
                    } else {
                        sgemmBiasClamp(m: coutG, n: hw, k: kdim, a: wg, lda: kdim, b: src, ldb: hw,
                                       bias: bias.map { UnsafePointer($0 + gi * coutG) }, lo: lo, hi: hi,
                                       clamp: activation != nil, c: yg, ldc: hw)
                    }
                }
            }
        }
    }

    /// The clamp the fused activation applies (none: ±greatest finite).
    var activationBounds: (Float, Float) {
        switch activation {
        case "Relu"?: return (0, Float.greatestFiniteMagnitude)
        case "Clip"?: return clip
        default: return (-Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude)
        }
    }

    func backward(_ a: BackwardArgs) {
        let x = a.x, w = a.input(1), y = a.y
        let s = try! shapes(x.shape, w.shape)
        let g = s.geo
        let hw = g.ho * g.wo, inHW = g.h * g.w
        let coutG = s.cout / group
        let kdim = g.c * g.kh * g.kw
        let colCount = isPointwise(g) || isDepthwise(s) ? 0 : kdim * hw
        let col = a.scratch.assumingMemoryBound(to: Float.self)
        // the activation's backward first (with the caller's rule for it, if any); the blocked depthwise
        // input gradient applies the standard Relu/Clip mask itself when nothing else needs the masked dy
        var dy = UnsafePointer(a.gy.f32)
        let fusedMask = (activation == "Relu" || activation == "Clip") && a.rules.unary[activation!] == nil
            && a.gx(1) == nil && a.gx(2) == nil && blockedApplies(s)
        if let act = activation, !fusedMask {
            let t = col + colCount
            if let rule = a.rules.unary[act] {
                t.initialize(repeating: 0, count: y.count)
                rule(UnaryGrad(x: y.f32, y: y.f32, gy: a.gy.f32, gx: t, count: y.count))
            } else if act == "Relu" {
                ReluOp.standardBackwardSet(y: y.f32, gy: a.gy.f32, gx: t, count: y.count)
            } else {
                ClipOp.standardBackwardSet(y: y.f32, gy: a.gy.f32, gx: t, count: y.count, lo: clip.0, hi: clip.1)
            }
            dy = UnsafePointer(t)
        }
        let dx = a.gx(0), dw = a.gx(1), db = a.gx(2)
        if let db {
            for n in 0..<s.n { for oc in 0..<s.cout {
                db.f32[oc] += vsum(dy + (n * s.cout + oc) * hw, hw)
            } }
        }
        if blockedApplies(s) {
            let blocks = (s.cin + 7) / 8
            let scratch = UnsafeMutableRawPointer(col + colCount + (activation != nil ? y.count : 0))
            let mask: (lo: Float, hi: Float?)? = !fusedMask ? nil : activation == "Relu" ? (0, nil) : (clip.0, clip.1)
            for n in 0..<s.n {
                for b in 0..<blocks {
                    let c0 = b * 8, cb = min(8, s.cin - c0)
                    if let dx {
                        depthwiseBlockedBackwardInput(dy + (n * s.cout + c0) * hw, dyStride: hw, w.f32 + c0 * g.kh * g.kw,
                                                      channels: cb, g, dx.f32 + (n * s.cin + c0) * inHW, dxStride: inHW,
                                                      activation: mask.map { (UnsafePointer(y.f32 + (n * s.cout + c0) * hw), $0.lo, $0.hi) },
                                                      scratch: scratch)
                    }
                    if let dw {
                        for c in c0..<c0 + cb {
                            depthwiseChannelBackward(x.f32 + (n * s.cin + c) * inHW, w.f32 + c * g.kh * g.kw,
                                                     dy + (n * s.cout + c) * hw, g, dx: nil, dw: dw.f32 + c * g.kh * g.kw)
                        }
                    }
                }
            }
            return
        }
        if isDepthwise(s) {
            let mult = coutG
            for n in 0..<s.n {
                for oc in 0..<s.cout {
                    let ic = oc / mult
                    depthwiseChannelBackward(x.f32 + (n * s.cin + ic) * inHW, w.f32 + oc * g.kh * g.kw,
                                             dy + (n * s.cout + oc) * hw, g,
                                             dx: dx.map { $0.f32 + (n * s.cin + ic) * inHW },
                                             dw: dw.map { $0.f32 + oc * g.kh * g.kw })
                }
            }
            return
        }
        let pointwise = isPointwise(g)
        for n in 0..<s.n {
            for gi in 0..<group {
                let dyg = dy + (n * s.cout + gi * coutG) * hw
                let wg = w.f32 + gi * coutG * kdim
                if let dx {
                    let dxg = dx.f32 + (n * s.cin + gi * g.c) * inHW
                    if pointwise {
                        sgemm(transA: true, m: kdim, n: hw, k: coutG, a: wg, lda: kdim, b: dyg, ldb: hw, beta: 1,
                              c: dxg, ldc: hw)
                    } else {
                        sgemm(transA: true, m: kdim, n: hw, k: coutG, a: wg, lda: kdim, b: dyg, ldb: hw, c: col, ldc: hw)
                        col2imAdd(col, g, dxg)
                    }
                }
                if let dw {
                    let xg = x.f32 + (n * s.cin + gi * g.c) * inHW
                    let src: UnsafePointer<Float>
                    if pointwise { src = UnsafePointer(xg) } else { im2col(xg, g, col); src = UnsafePointer(col) }
                    sgemm(transB: true, m: coutG, n: kdim, k: hw, a: dyg, lda: hw, b: src, ldb: hw, beta: 1,
                          c: dw.f32 + gi * coutG * kdim, ldc: kdim)
                }
            }
        }
    }
}

/// Depthwise KxK convolution (dilation 1, stride 1 or 2, one output channel per input channel) of
/// up to 8 channels at once, one SIMD lane per channel — the NCHW8c idea, applied per call.
///
/// The channels' planes are interleaved into a zero-padded plane of `SIMD8<Float>` pixels in scratch,
/// so every output pixel is K·K vector FMAs with no bounds checks and no short rows: late layers
/// (14x14, 7x7 planes) and stride 2 vectorise as well as early ones. The backward input gradient is
/// the same loop in gather form over the interleaved output gradient.

/// Scratch layout of the blocked kernels for one geometry.
public struct DepthwiseBlockedLayout {
    /// padded input plane: rows x cols pixels
    public let rows: Int, cols: Int
    /// backward: the output gradient plane with `margin` zero pixels before it on each axis
    public let gRows: Int, gCols: Int, margin: Int
    let kk: Int
    public init(_ g: ConvGeometry) {
        rows = max(g.h + g.pt, (g.ho - 1) * g.sh + g.kh)
        cols = max(g.w + g.pl, (g.wo - 1) * g.sw + g.kw)
        margin = (g.kh - 1) / g.sh
        gRows = margin + max(g.ho, (rows - 1) / g.sh + 1)
        gCols = margin + max(g.wo, (cols - 1) / g.sw + 1)
        kk = g.kh * g.kw
    }
    /// Floats one forward call needs (plane, weights, bias, alignment slack).
    public var forwardFloats: Int { (rows * cols + kk + 1) * 8 + 8 }
    /// Floats one backward (input gradient) call needs.
    public var backwardFloats: Int { (gRows * gCols + kk) * 8 + 8 }
}

/// Whether the blocked kernels handle this geometry.
public func depthwiseBlockedApplies(_ g: ConvGeometry) -> Bool {
    g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2) && g.kh == g.kw && g.kw <= 7
}

@inline(__always) func aligned32(_ p: UnsafeMutableRawPointer) -> UnsafeMutablePointer<SIMD8<Float>> {
    let a = (Int(bitPattern: p) + 31) & ~31
    return UnsafeMutableRawPointer(bitPattern: a)!.assumingMemoryBound(to: SIMD8<Float>.self)
}

/// Lane offsets of `cb` channels `stride` floats apart; lanes past `cb` repeat the last channel.
@inline(__always) func laneOffsets(_ cb: Int, _ stride: Int) -> SIMD8<Int> {
    var o = SIMD8<Int>()
    for c in 0..<8 { o[c] = min(c, cb - 1) * stride }
    return o
}

/// Lanewise clamp (the stdlib's pointwiseMin/Max are not inlined and run lane by lane).
@inline(__always) func clamp8(_ a: SIMD8<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> SIMD8<Float> {
    let r = a.replacing(with: lo, where: a .< lo)
    return r.replacing(with: hi, where: r .> hi)
}

@inline(__always) func gather8(_ p: UnsafePointer<Float>, _ o: SIMD8<Int>) -> SIMD8<Float> {
    SIMD8(p[o[0]], p[o[1]], p[o[2]], p[o[3]], p[o[4]], p[o[5]], p[o[6]], p[o[7]])
}

/// Interleaved per-tap weights: w[t] lane c = weight t of channel c.
@inline(__always) func packWeights(_ wt: UnsafePointer<Float>, kk: Int, cb: Int, flip: Bool,
                                   into w: UnsafeMutablePointer<SIMD8<Float>>) {
    let o = laneOffsets(cb, kk)
    for t in 0..<kk { w[t] = gather8(wt + (flip ? kk - 1 - t : t), o) }
}

/// y[c] = clamp(bias[c] + depthwise(x[c], w[c]), lo, hi) for channels c in 0..<cb (cb <= 8), where
/// channel c's input plane starts at x + c·inStride and its output plane at y + c·outStride.
public func depthwiseBlocked(_ x: UnsafePointer<Float>, inStride: Int, _ wt: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, channels cb: Int, _ g: ConvGeometry,
                             _ y: UnsafeMutablePointer<Float>, outStride: Int, lo: Float, hi: Float,
                             scratch: UnsafeMutableRawPointer) {
    let L = DepthwiseBlockedLayout(g)
    let rows = L.rows, cols = L.cols, kk = L.kk, k = g.kw
    let P = aligned32(scratch)
    let W = P + rows * cols
    packWeights(wt, kk: kk, cb: cb, flip: false, into: W)
    let B: SIMD8<Float> = bias.map { gather8($0, laneOffsets(cb, 1)) } ?? .zero
    let LO = SIMD8<Float>(repeating: lo), HI = SIMD8<Float>(repeating: hi)
    // interleave the input planes into the padded plane
    let io = laneOffsets(cb, inStride)
    for r in 0..<rows {
        let row = P + r * cols
        let ih = r - g.pt
        if ih < 0 || ih >= g.h { row.initialize(repeating: .zero, count: cols); continue }
        for c in 0..<g.pl { row[c] = .zero }
        for c in (g.pl + g.w)..<cols { row[c] = .zero }
        let xr = x + ih * g.w, dst = row + g.pl
        for iw in 0..<g.w { dst[iw] = gather8(xr + iw, io) }
    }
    let s = g.sw, wo = g.wo
    @inline(__always) func store(_ v: SIMD8<Float>, _ o: Int) {
        let q = y + o
        if cb == 8 {
            q[0] = v[0]; q[outStride] = v[1]; q[2 * outStride] = v[2]; q[3 * outStride] = v[3]
            q[4 * outStride] = v[4]; q[5 * outStride] = v[5]; q[6 * outStride] = v[6]; q[7 * outStride] = v[7]
        } else {
            for c in 0..<cb { q[c * outStride] = v[c] }
        }
    }
    // four output pixels at a time: four independent FMA chains (one chain is FMA-latency bound)
    let kh = g.kh
    for oh in 0..<g.ho {
        let base = UnsafePointer(P + oh * g.sh * cols)
        var ow = 0
        while ow + 4 <= wo {
            var a0 = B, a1 = B, a2 = B, a3 = B
            for i in 0..<kh {
                let r = base + i * cols + ow * s, wr = W + i * k
                for j in 0..<k {
                    let wv = wr[j]
                    a0 = a0.addingProduct(r[j], wv)
                    a1 = a1.addingProduct(r[j + s], wv)
                    a2 = a2.addingProduct(r[j + 2 * s], wv)
                    a3 = a3.addingProduct(r[j + 3 * s], wv)
                }
            }
            let o = oh * wo + ow
            store(clamp8(a0, LO, HI), o)
            store(clamp8(a1, LO, HI), o + 1)
            store(clamp8(a2, LO, HI), o + 2)
            store(clamp8(a3, LO, HI), o + 3)
            ow += 4
        }
        while ow < wo {
            var a = B
            for i in 0..<kh {
                let r = base + i * cols + ow * s, wr = W + i * k
                for j in 0..<k { a = a.addingProduct(r[j], wr[j]) }
            }
            store(clamp8(a, LO, HI), oh * wo + ow)
            ow += 1
        }
    }
}

/// Backward of `depthwiseBlocked` (before its clamp) for the input: dx[c] += Σ w[c] · dy[c] scattered
/// back through the window, computed in gather form — dx at padded (r, q) takes the taps (i, j) with
/// r ≡ i and q ≡ j (mod stride) from dy[(r−i)/s][(q−j)/s].
///
/// With `activation` (the fused Relu/Clip's output y and bounds; hi nil for Relu), dy is kept only where
/// lo < y (< hi) while it is interleaved — the activation's backward without a pass of its own.
public func depthwiseBlockedBackwardInput(_ dy: UnsafePointer<Float>, dyStride: Int, _ wt: UnsafePointer<Float>,
                                          channels cb: Int, _ g: ConvGeometry,
                                          _ dx: UnsafeMutablePointer<Float>, dxStride: Int,
                                          activation: (y: UnsafePointer<Float>, lo: Float, hi: Float?)? = nil,
                                          scratch: UnsafeMutableRawPointer) {
    let L = DepthwiseBlockedLayout(g)
    let gr = L.gRows, gc = L.gCols, m = L.margin, kk = L.kk, k = g.kw, kh = g.kh
    let G = aligned32(scratch)
    let W = G + gr * gc
    packWeights(wt, kk: kk, cb: cb, flip: false, into: W)
    // interleave dy into G at (m + oh, m + ow); zero elsewhere
    let io = laneOffsets(cb, dyStride)
    for r in 0..<gr {
        let row = G + r * gc
        let oh = r - m
        if oh < 0 || oh >= g.ho { row.initialize(repeating: .zero, count: gc); continue }
        for c in 0..<m { row[c] = .zero }
        for c in (m + g.wo)..<gc { row[c] = .zero }
        let src = dy + oh * g.wo, dst = row + m
        if let act = activation {
            let ys = act.y + oh * g.wo
            let LO = SIMD8<Float>(repeating: act.lo)
            if let hi = act.hi {
                let HI = SIMD8<Float>(repeating: hi)
                for ow in 0..<g.wo {
                    let yv = gather8(ys + ow, io)
                    dst[ow] = gather8(src + ow, io).replacing(with: 0, where: .!((yv .> LO) .& (yv .< HI)))
                }
            } else {
                for ow in 0..<g.wo {
                    let yv = gather8(ys + ow, io)
                    dst[ow] = gather8(src + ow, io).replacing(with: 0, where: .!(yv .> LO))
                }
            }
        } else {
            for ow in 0..<g.wo { dst[ow] = gather8(src + ow, io) }
        }
    }
    let oo = laneOffsets(cb, dxStride)
    @inline(__always) func add(_ v: SIMD8<Float>, _ o: Int) {
        let q = dx + o
        if cb == 8 {
            q[0] += v[0]; q[dxStride] += v[1]; q[2 * dxStride] += v[2]; q[3 * dxStride] += v[3]
            q[4 * dxStride] += v[4]; q[5 * dxStride] += v[5]; q[6 * dxStride] += v[6]; q[7 * dxStride] += v[7]
        } else {
            for c in 0..<cb { q[oo[c]] += v[c] }
        }
    }
    if g.sw == 1 {
        // dx(r, q) = Σ_ij w[i][j] · G[m + r − i][m + q − j]  (r, q padded input coordinates)
        for ih in 0..<g.h {
            let r = ih + g.pt + m
            var iw = 0
            while iw + 4 <= g.w {
                let q = iw + g.pl + m
                var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
                for i in 0..<kh {
                    let gi = UnsafePointer(G + (r - i) * gc + q), wr = W + i * k
                    for j in 0..<k {
                        let wv = wr[j], p = gi - j
                        a0 = a0.addingProduct(p[0], wv)
                        a1 = a1.addingProduct(p[1], wv)
                        a2 = a2.addingProduct(p[2], wv)
                        a3 = a3.addingProduct(p[3], wv)
                    }
                }
                let o = ih * g.w + iw
                add(a0, o); add(a1, o + 1); add(a2, o + 2); add(a3, o + 3)
                iw += 4
            }
            while iw < g.w {
                let q = iw + g.pl + m
                var a = SIMD8<Float>()
                for i in 0..<kh {
                    let gi = UnsafePointer(G + (r - i) * gc + q), wr = W + i * k
                    for j in 0..<k { a = a.addingProduct(gi[-j], wr[j]) }
                }
                add(a, ih * g.w + iw)
                iw += 1
            }
        }
        return
    }
    // stride 2: the taps of padded row r are i = r&1, r&1 + 2, ...; of column q, j = q&1, q&1 + 2, ...
    for ih in 0..<g.h {
        let r = ih + g.pt
        var iw = 0
        while iw + 4 <= g.w {
            // columns q, q+2 share their taps (parity p0), and q+1, q+3 theirs (parity p1)
            let q = iw + g.pl
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
            var i = r & 1
            while i < kh {
                let gi = UnsafePointer(G + (m + (r - i) >> 1) * gc + m), wr = W + i * k
                var j = q & 1
                while j < k {
                    let p = gi + ((q - j) >> 1), wv = wr[j]
                    a0 = a0.addingProduct(p[0], wv)
                    a2 = a2.addingProduct(p[1], wv)
                    j += 2
                }
                j = (q + 1) & 1
                while j < k {
                    let p = gi + ((q + 1 - j) >> 1), wv = wr[j]
                    a1 = a1.addingProduct(p[0], wv)
                    a3 = a3.addingProduct(p[1], wv)
                    j += 2
                }
                i += 2
            }
            let o = ih * g.w + iw
            add(a0, o); add(a1, o + 1); add(a2, o + 2); add(a3, o + 3)
            iw += 4
        }
        while iw < g.w {
            let q = iw + g.pl
            var a = SIMD8<Float>()
            var i = r & 1
            while i < kh {
                let gi = UnsafePointer(G + (m + (r - i) >> 1) * gc + m), wr = W + i * k
                var j = q & 1
                while j < k {
                    a = a.addingProduct(gi[(q - j) >> 1], wr[j])
                    j += 2
                }
                i += 2
            }
            add(a, ih * g.w + iw)
            iw += 1
        }
    }
}

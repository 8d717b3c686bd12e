/// Depthwise KxK convolution (K = 3 or 5, dilation 1, stride 1 or 2) of one channel plane.
///
/// The plane is first copied into `scratch` with its zero padding, so every output is an interior
/// output and no loop has a bounds check. Stride 1 runs over the padded plane as one flat array (short
/// rows of late layers then still vectorise; the few junk columns past each row are dropped when the
/// rows are copied out with the activation clamp). Stride 2 stores each padded row de-interleaved
/// (even columns, then odd columns), so its taps are contiguous loads too. Weights are copied to
/// locals so stores cannot alias them.
public func depthwiseSmall(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, bias: Float, _ g: ConvGeometry,
                           _ y: UnsafeMutablePointer<Float>, lo: Float, hi: Float, scratch: UnsafeMutablePointer<Float>) {
    let L = DepthwiseLayout(g)
    let plane = scratch, tmp = scratch + L.planeFloats
    // zero only what the copy does not overwrite: the pad rows and the margins of each row
    let rs0 = L.rowStride
    plane.initialize(repeating: 0, count: g.pt * rs0)
    let below = (g.h + g.pt) * rs0
    (plane + below).initialize(repeating: 0, count: L.planeFloats - below)
    if g.sw == 1 {
        for ih in 0..<g.h {
            let row = plane + (ih + g.pt) * rs0
            row.initialize(repeating: 0, count: g.pl)
            (row + g.pl).update(from: x + ih * g.w, count: g.w)
            (row + g.pl + g.w).initialize(repeating: 0, count: rs0 - g.pl - g.w)
        }
    } else {
        let h = L.half
        for ih in 0..<g.h {
            let row = plane + (ih + g.pt) * rs0, xr = x + ih * g.w
            row.initialize(repeating: 0, count: rs0)
            // padded column c = iw + pl goes to (c even ? E : O)[c / 2]
            let e = row, o = row + h
            let first = g.pl & 1   // parity of the padded column of iw = 0
            // iw with (iw + pl) even: iw = first, first + 2, ...
            let nEven = (g.w - first + 1) / 2, nOdd = (g.w - (1 - first) + 1) / 2
            let e0 = (first + g.pl) / 2, o0 = ((1 - first) + g.pl) / 2
            for t in 0..<nEven { e[e0 + t] = xr[first + 2 * t] }
            for t in 0..<nOdd { o[o0 + t] = xr[(1 - first) + 2 * t] }
        }
    }
    let k = g.kw, rs = L.rowStride
    if g.sw == 1 {
        let n = (g.ho - 1) * rs + g.wo
        if k == 3 {
            let a0 = wt[0], a1 = wt[1], a2 = wt[2], b0 = wt[3], b1 = wt[4], b2 = wt[5], c0 = wt[6], c1 = wt[7], c2 = wt[8]
            let r0 = UnsafePointer(plane), r1 = r0 + rs, r2 = r1 + rs
            for p in 0..<n {
                var v = a0 * r0[p] + a1 * r0[p + 1] + a2 * r0[p + 2]
                v += b0 * r1[p] + b1 * r1[p + 1] + b2 * r1[p + 2]
                v += c0 * r2[p] + c1 * r2[p + 1] + c2 * r2[p + 2]
                tmp[p] = bias + v
            }
        } else {
            for p in 0..<n { tmp[p] = bias }
            for i in 0..<5 {
                let r = UnsafePointer(plane + i * rs)
                let k0 = wt[i * 5], k1 = wt[i * 5 + 1], k2 = wt[i * 5 + 2], k3 = wt[i * 5 + 3], k4 = wt[i * 5 + 4]
                for p in 0..<n { tmp[p] += k0 * r[p] + k1 * r[p + 1] + k2 * r[p + 2] + k3 * r[p + 3] + k4 * r[p + 4] }
            }
        }
        for oh in 0..<g.ho {
            let t = tmp + oh * rs, yr = y + oh * g.wo
            for ow in 0..<g.wo { yr[ow] = min(max(t[ow], lo), hi) }
        }
        return
    }
    // stride 2 on de-interleaved rows: input column 2*ow + j is E[ow + j/2] (j even) or O[ow + j/2] (j odd)
    let h = L.half
    for oh in 0..<g.ho {
        let yr = y + oh * g.wo
        for ow in 0..<g.wo { yr[ow] = bias }
        for i in 0..<k {
            let e = UnsafePointer(plane + (2 * oh + i) * rs), o = e + h
            if k == 3 {
                let k0 = wt[i * 3], k1 = wt[i * 3 + 1], k2 = wt[i * 3 + 2]
                for ow in 0..<g.wo { yr[ow] += k0 * e[ow] + k1 * o[ow] + k2 * e[ow + 1] }
            } else {
                let k0 = wt[i * 5], k1 = wt[i * 5 + 1], k2 = wt[i * 5 + 2], k3 = wt[i * 5 + 3], k4 = wt[i * 5 + 4]
                for ow in 0..<g.wo { yr[ow] += k0 * e[ow] + k1 * o[ow] + k2 * e[ow + 1] + k3 * o[ow + 1] + k4 * e[ow + 2] }
            }
        }
        for ow in 0..<g.wo { yr[ow] = min(max(yr[ow], lo), hi) }
    }
}

/// Scratch layout of `depthwiseSmall` for one plane.
public struct DepthwiseLayout {
    public let rowStride: Int, half: Int, rows: Int, planeFloats: Int, tmpFloats: Int
    public init(_ g: ConvGeometry) {
        let width = max(g.w + g.pl, (g.wo - 1) * g.sw + g.kw) + 2
        rows = max(g.h + g.pt, (g.ho - 1) * g.sh + g.kh) + 1
        if g.sw == 1 {
            half = 0
            rowStride = width
        } else {
            half = (width + 1) / 2 + 1
            rowStride = 2 * half
        }
        planeFloats = rows * rowStride
        tmpFloats = g.sw == 1 ? g.ho * rowStride : 0
    }
    /// Floats of scratch one call needs.
    public var floats: Int { planeFloats + tmpFloats + 16 }
}

/// Whether `depthwiseSmall` handles this geometry.
public func depthwiseSmallApplies(_ g: ConvGeometry) -> Bool {
    g.kh == g.kw && (g.kw == 3 || g.kw == 5) && g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2)
}

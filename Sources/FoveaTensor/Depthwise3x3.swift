/// Depthwise 3x3 convolution of one channel plane (dilation 1, stride 1 or 2), computed output row by
/// output row with the nine taps in registers; the interior columns need no bounds checks and
/// vectorise (stride 2 as an interleaved load). Border columns and rows take the checked path.
/// The activation (clamp to [lo, hi]) is applied while the row is in cache.
public func depthwise3x3(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, bias: Float, _ g: ConvGeometry,
                         _ y: UnsafeMutablePointer<Float>, lo: Float, hi: Float) {
    let w00 = wt[0], w01 = wt[1], w02 = wt[2], w10 = wt[3], w11 = wt[4], w12 = wt[5], w20 = wt[6], w21 = wt[7], w22 = wt[8]
    let s = g.sw, W = g.w
    // interior output columns: ow*s - pl >= 0 and ow*s - pl + 2 < W
    let owLo = min(g.wo, (g.pl + s - 1) / s)
    let owHi = max(owLo, min(g.wo, (W - 3 + g.pl) / s + 1))
    for oh in 0..<g.ho {
        let yr = y + oh * g.wo
        let ih0 = oh * g.sh - g.pt
        if ih0 >= 0 && ih0 + 2 < g.h {
            let r0 = x + ih0 * W - g.pl, r1 = r0 + W, r2 = r1 + W
            if s == 1 {
                for ow in owLo..<owHi {
                    var v = bias + w00 * r0[ow] + w01 * r0[ow + 1] + w02 * r0[ow + 2]
                    v += w10 * r1[ow] + w11 * r1[ow + 1] + w12 * r1[ow + 2]
                    v += w20 * r2[ow] + w21 * r2[ow + 1] + w22 * r2[ow + 2]
                    yr[ow] = min(max(v, lo), hi)
                }
            } else {
                for ow in owLo..<owHi {
                    let c = 2 * ow
                    var v = bias + w00 * r0[c] + w01 * r0[c + 1] + w02 * r0[c + 2]
                    v += w10 * r1[c] + w11 * r1[c + 1] + w12 * r1[c + 2]
                    v += w20 * r2[c] + w21 * r2[c + 1] + w22 * r2[c + 2]
                    yr[ow] = min(max(v, lo), hi)
                }
            }
            for ow in 0..<owLo { yr[ow] = min(max(tap(x, wt, bias, g, oh, ow), lo), hi) }
            for ow in owHi..<g.wo { yr[ow] = min(max(tap(x, wt, bias, g, oh, ow), lo), hi) }
        } else {
            for ow in 0..<g.wo { yr[ow] = min(max(tap(x, wt, bias, g, oh, ow), lo), hi) }
        }
    }
}

/// One output of a 3x3 depthwise window with bounds checks.
@inline(__always)
private func tap(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: Float, _ g: ConvGeometry, _ oh: Int, _ ow: Int) -> Float {
    var v = bias
    for i in 0..<3 {
        let ih = oh * g.sh - g.pt + i
        if ih < 0 || ih >= g.h { continue }
        for j in 0..<3 {
            let iw = ow * g.sw - g.pl + j
            if iw < 0 || iw >= g.w { continue }
            v += wt[i * 3 + j] * x[ih * g.w + iw]
        }
    }
    return v
}

/// Depthwise KxK convolution (K = 3 or 5, dilation 1, stride 1 or 2) of one channel plane.
/// The plane is first copied into `padded` with its zero padding, so every output is an interior
/// output: the taps are unrolled, the loop over output columns vectorises (stride 2 as an interleaved
/// load), and the activation clamp is applied before the store. (Explicit SIMD8 code measured slower
/// here: SIMD pointwiseMin/Max do not compile to vminps/vmaxps.)
public func depthwiseSmall(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, bias: Float, _ g: ConvGeometry,
                           _ y: UnsafeMutablePointer<Float>, lo: Float, hi: Float, padded: UnsafeMutablePointer<Float>) {
    let pw = depthwisePaddedWidth(g), ph = depthwisePaddedHeight(g)
    // zero border + copy
    padded.initialize(repeating: 0, count: pw * ph)
    for ih in 0..<g.h {
        (padded + (ih + g.pt) * pw + g.pl).update(from: x + ih * g.w, count: g.w)
    }
    let s = g.sw
    for oh in 0..<g.ho {
        let r = UnsafePointer(padded + oh * g.sh * pw)
        let yr = y + oh * g.wo
        if g.kw == 3 {
            let r0 = r, r1 = r + pw, r2 = r + 2 * pw
            if s == 1 {
                for ow in 0..<g.wo { yr[ow] = min(max(bias + row3(r0, wt, ow) + row3(r1, wt + 3, ow) + row3(r2, wt + 6, ow), lo), hi) }
            } else {
                for ow in 0..<g.wo {
                    let c = 2 * ow
                    yr[ow] = min(max(bias + row3(r0, wt, c) + row3(r1, wt + 3, c) + row3(r2, wt + 6, c), lo), hi)
                }
            }
        } else {
            let r0 = r, r1 = r + pw, r2 = r + 2 * pw, r3 = r + 3 * pw, r4 = r + 4 * pw
            if s == 1 {
                for ow in 0..<g.wo {
                    let v = bias + row5(r0, wt, ow) + row5(r1, wt + 5, ow) + row5(r2, wt + 10, ow) + row5(r3, wt + 15, ow) + row5(r4, wt + 20, ow)
                    yr[ow] = min(max(v, lo), hi)
                }
            } else {
                for ow in 0..<g.wo {
                    let c = 2 * ow
                    let v = bias + row5(r0, wt, c) + row5(r1, wt + 5, c) + row5(r2, wt + 10, c) + row5(r3, wt + 15, c) + row5(r4, wt + 20, c)
                    yr[ow] = min(max(v, lo), hi)
                }
            }
        }
    }
}

/// Whether `depthwiseSmall` handles this geometry.
public func depthwiseSmallApplies(_ g: ConvGeometry) -> Bool {
    g.kh == g.kw && (g.kw == 3 || g.kw == 5) && g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2)
}

/// Padded plane extents: enough for every window of every output.
public func depthwisePaddedWidth(_ g: ConvGeometry) -> Int { max(g.w + g.pl, (g.wo - 1) * g.sw + g.kw) + 1 }
public func depthwisePaddedHeight(_ g: ConvGeometry) -> Int { max(g.h + g.pt, (g.ho - 1) * g.sh + g.kh) + 1 }


@inline(__always) private func row3(_ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ c: Int) -> Float {
    w[0] * r[c] + w[1] * r[c + 1] + w[2] * r[c + 2]
}
@inline(__always) private func row5(_ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ c: Int) -> Float {
    w[0] * r[c] + w[1] * r[c + 1] + w[2] * r[c + 2] + w[3] * r[c + 3] + w[4] * r[c + 4]
}

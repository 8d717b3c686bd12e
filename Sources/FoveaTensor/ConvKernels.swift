/// Geometry of a 2-D convolution or pooling window over one NCHW image.
public struct ConvGeometry: Sendable, Equatable {
    public var c: Int, h: Int, w: Int          // input channels (per group for conv), height, width
    public var kh: Int, kw: Int
    public var sh: Int, sw: Int
    public var dh: Int, dw: Int
    public var pt: Int, pl: Int                // top / left padding (bottom/right follow from ho/wo)
    public var ho: Int, wo: Int
    public init(c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, dh: Int, dw: Int, pt: Int, pl: Int, ho: Int, wo: Int) {
        self.c = c; self.h = h; self.w = w; self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw
        self.dh = dh; self.dw = dw; self.pt = pt; self.pl = pl; self.ho = ho; self.wo = wo
    }

    /// Output positions [lo, hi) along one axis for which input index o*s - p + k*d lies in [0, n).
    @inline(__always) public static func validRange(out: Int, n: Int, s: Int, p: Int, kd: Int) -> (Int, Int) {
        // need 0 <= o*s - p + kd < n
        let a = p - kd
        var lo = a <= 0 ? 0 : (a + s - 1) / s
        let b = n - 1 + p - kd
        var hi = b < 0 ? 0 : b / s + 1
        lo = min(lo, out)
        hi = min(max(hi, lo), out)
        return (lo, hi)
    }
}

/// im2col: col[(ci*kh + i)*kw + j][oh*wo + ow] = x[ci][oh*sh - pt + i*dh][ow*sw - pl + j*dw] (0 outside).
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>) {
    im2colRows(x, g, col, rows: 0..<g.ho)
}

/// im2col of the output rows `rows` only: col[k][(oh - rows.lowerBound)*wo + ow], each of the kdim rows
/// rows.count * wo long (a band that stays in cache while its GEMM runs).
public func im2colRows(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, rows band: Range<Int>) {
    let hw = band.count * g.wo
    for ci in 0..<g.c {
        let xc = x + ci * g.h * g.w
        for i in 0..<g.kh {
            var (ohLo, ohHi) = ConvGeometry.validRange(out: g.ho, n: g.h, s: g.sh, p: g.pt, kd: i * g.dh)
            ohLo = min(max(ohLo, band.lowerBound), band.upperBound)
            ohHi = min(max(ohHi, ohLo), band.upperBound)
            for j in 0..<g.kw {
                let row = col + ((ci * g.kh + i) * g.kw + j) * hw - band.lowerBound * g.wo
                let (owLo, owHi) = ConvGeometry.validRange(out: g.wo, n: g.w, s: g.sw, p: g.pl, kd: j * g.dw)
                if ohLo > band.lowerBound { (row + band.lowerBound * g.wo).initialize(repeating: 0, count: (ohLo - band.lowerBound) * g.wo) }
                if ohHi < band.upperBound { (row + ohHi * g.wo).initialize(repeating: 0, count: (band.upperBound - ohHi) * g.wo) }
                let off = j * g.dw - g.pl
                for oh in ohLo..<ohHi {
                    let r = row + oh * g.wo
                    let xr = xc + (oh * g.sh - g.pt + i * g.dh) * g.w + off
                    for ow in 0..<owLo { r[ow] = 0 }
                    if g.sw == 1 {
                        for ow in owLo..<owHi { r[ow] = xr[ow] }
                    } else {
                        let s = g.sw
                        for ow in owLo..<owHi { r[ow] = xr[ow * s] }
                    }
                    for ow in owHi..<g.wo { r[ow] = 0 }
                }
            }
        }
    }
}

/// col2im, accumulating: the adjoint of im2col (dx += scatter of dcol).
public func col2imAdd(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let hw = g.ho * g.wo
    for ci in 0..<g.c {
        let xc = dx + ci * g.h * g.w
        for i in 0..<g.kh {
            let (ohLo, ohHi) = ConvGeometry.validRange(out: g.ho, n: g.h, s: g.sh, p: g.pt, kd: i * g.dh)
            for j in 0..<g.kw {
                let row = col + ((ci * g.kh + i) * g.kw + j) * hw
                let (owLo, owHi) = ConvGeometry.validRange(out: g.wo, n: g.w, s: g.sw, p: g.pl, kd: j * g.dw)
                let off = j * g.dw - g.pl
                for oh in ohLo..<ohHi {
                    let r = row + oh * g.wo
                    let xr = xc + (oh * g.sh - g.pt + i * g.dh) * g.w + off
                    let s = g.sw
                    for ow in owLo..<owHi { xr[ow * s] += r[ow] }
                }
            }
        }
    }
}

/// Depthwise convolution of one channel: y[oh][ow] = bias + Σ w[i][j] · x[...]. Row-accumulating so
/// the inner loop is a contiguous (or strided) axpy without bounds checks.
public func depthwiseChannel(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, bias: Float,
                             _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>) {
    y.initialize(repeating: bias, count: g.ho * g.wo)
    for i in 0..<g.kh {
        let (ohLo, ohHi) = ConvGeometry.validRange(out: g.ho, n: g.h, s: g.sh, p: g.pt, kd: i * g.dh)
        for j in 0..<g.kw {
            let wv = wt[i * g.kw + j]
            let (owLo, owHi) = ConvGeometry.validRange(out: g.wo, n: g.w, s: g.sw, p: g.pl, kd: j * g.dw)
            let off = j * g.dw - g.pl
            for oh in ohLo..<ohHi {
                let yr = y + oh * g.wo
                let xr = x + (oh * g.sh - g.pt + i * g.dh) * g.w + off
                if g.sw == 1 {
                    for ow in owLo..<owHi { yr[ow] += wv * xr[ow] }
                } else {
                    let s = g.sw
                    for ow in owLo..<owHi { yr[ow] += wv * xr[ow * s] }
                }
            }
        }
    }
}

/// Backward of `depthwiseChannel`: dx += Σ w · dy (when dx given), dw += Σ dy · x (when dw given).
public func depthwiseChannelBackward(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                     _ g: ConvGeometry, dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?) {
    for i in 0..<g.kh {
        let (ohLo, ohHi) = ConvGeometry.validRange(out: g.ho, n: g.h, s: g.sh, p: g.pt, kd: i * g.dh)
        for j in 0..<g.kw {
            let wv = wt[i * g.kw + j]
            let (owLo, owHi) = ConvGeometry.validRange(out: g.wo, n: g.w, s: g.sw, p: g.pl, kd: j * g.dw)
            let off = j * g.dw - g.pl
            let s = g.sw
            var acc: Float = 0
            for oh in ohLo..<ohHi {
                let dyr = dy + oh * g.wo
                let base = (oh * g.sh - g.pt + i * g.dh) * g.w + off
                if let dx {
                    let dxr = dx + base
                    if s == 1 {
                        for ow in owLo..<owHi { dxr[ow] += wv * dyr[ow] }  // contiguous: vectorises
                    } else {
                        for ow in owLo..<owHi { dxr[ow * s] += wv * dyr[ow] }
                    }
                }
                if dw != nil {
                    let xr = x + base
                    if s == 1 {
                        acc += vdot(dyr + owLo, xr + owLo, owHi - owLo)
                    } else {
                        for ow in owLo..<owHi { acc += dyr[ow] * xr[ow * s] }
                    }
                }
            }
            if let dw { dw[i * g.kw + j] += acc }
        }
    }
}

/// Pillow's antialiased bilinear resize (`Image.resize(size, BILINEAR)`), bit for bit: double-precision
/// triangle-filter coefficients stretched by the scale when shrinking, 22-bit fixed point with the 2^21
/// rounding bias, each pass rounded to 8 bits, and Pillow 13's pass order (vertical first when the height
/// shrinks by more than twice the width). See reference/pillow-compat.md §1.
public enum PillowResize {
    /// Pillow's BILINEAR (triangle, support 1) or BICUBIC (a = -0.5, support 2; `Image.resize`'s default filter).
    public enum Filter: Sendable {
        case bilinear, bicubic
        var support: Double { self == .bilinear ? 1 : 2 }
        func weight(_ x0: Double) -> Double {
            let x = abs(x0)
            switch self {
            case .bilinear: return max(0.0, 1.0 - x)
            case .bicubic:
                let a = -0.5
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            }
        }
    }

    struct Coefficients {
        var start: [Int]      // first input index per output
        var count: [Int]      // taps per output
        var k: [Int32]        // ksize taps per output, fixed point
        var ksize: Int
    }

    static let precisionBits = 22

    static func coefficients(inSize: Int, outSize: Int, filter: Filter = .bilinear) -> Coefficients {
        let scale = Double(Float(inSize)) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = filter.support * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        let inv = 1.0 / filterscale
        var c = Coefficients(start: [Int](repeating: 0, count: outSize), count: [Int](repeating: 0, count: outSize),
                             k: [Int32](repeating: 0, count: outSize * ksize), ksize: ksize)
        var w = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            let count = max(0, xmax - xmin)
            var ww = 0.0
            for x in 0..<count {
                let arg = (Double(x + xmin) - center + 0.5) * inv
                let v = filter.weight(arg)
                w[x] = v
                ww += v
            }
            for x in 0..<count {
                let v = ww != 0 ? w[x] / ww : w[x]
                let f = v * Double(1 << precisionBits)
                c.k[xx * ksize + x] = Int32(v < 0 ? (-0.5 + f).rounded(.towardZero) : (0.5 + f).rounded(.towardZero))
            }
            c.start[xx] = xmin
            c.count[xx] = count
        }
        return c
    }

    @inline(__always) static func clip8(_ acc: Int32) -> UInt8 {
        let v = acc >> Int32(precisionBits)
        return UInt8(truncatingIfNeeded: v < 0 ? 0 : v > 255 ? 255 : v)
    }

    /// Resizes an RGB image to width x height.
    public static func resize(_ img: RGBImage, width outW: Int, height outH: Int, filter: Filter = .bilinear) -> RGBImage {
        precondition(outW > 0 && outH > 0)
        let inW = img.width, inH = img.height
        if inW == outW && inH == outH { return img }
        let needH = outW != inW, needV = outH != inH
        let horizontalFirst = !((inH - outH) > 0 && (inH - outH) > 2 * (inW - outW))
        if !needV { return horizontal(img, outW, rows: 0..<inH, filter: filter) }
        let cv = coefficients(inSize: inH, outSize: outH, filter: filter)
        if !needH { return vertical(img, outH, coefficients: cv) }
        if horizontalFirst {
            // only the source rows the vertical pass reads
            let first = cv.start[0], last = cv.start[outH - 1] + cv.count[outH - 1]
            let mid = horizontal(img, outW, rows: first..<last, filter: filter)
            return vertical(mid, outH, coefficients: cv, rowOffset: first)
        }
        return horizontal(vertical(img, outH, coefficients: cv), outW, rows: 0..<outH, filter: filter)
    }

    static func horizontal(_ img: RGBImage, _ outW: Int, rows: Range<Int>, filter: Filter = .bilinear) -> RGBImage {
        let c = coefficients(inSize: img.width, outSize: outW, filter: filter)
        var out = [UInt8](repeating: 0, count: outW * rows.count * 3)
        let inStride = img.width * 3
        img.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.k.withUnsafeBufferPointer { k in
                    for (r, y) in rows.enumerated() {
                        let s = src.baseAddress! + y * inStride
                        let d = dst.baseAddress! + r * outW * 3
                        for xx in 0..<outW {
                            var a0: Int32 = 1 << 21, a1: Int32 = 1 << 21, a2: Int32 = 1 << 21
                            let kk = k.baseAddress! + xx * c.ksize
                            let p = s + c.start[xx] * 3
                            for x in 0..<c.count[xx] {
                                let w = kk[x]
                                a0 &+= Int32(p[3 * x]) &* w
                                a1 &+= Int32(p[3 * x + 1]) &* w
                                a2 &+= Int32(p[3 * x + 2]) &* w
                            }
                            d[3 * xx] = clip8(a0); d[3 * xx + 1] = clip8(a1); d[3 * xx + 2] = clip8(a2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: outW, height: rows.count, pixels: out)
    }

    static func vertical(_ img: RGBImage, _ outH: Int, coefficients given: Coefficients? = nil, rowOffset: Int = 0) -> RGBImage {
        let c = given ?? coefficients(inSize: img.height + rowOffset, outSize: outH)
        let rowLen = img.width * 3
        var out = [UInt8](repeating: 0, count: rowLen * outH)
        var acc = [Int32](repeating: 0, count: rowLen)
        img.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                acc.withUnsafeMutableBufferPointer { a in
                    for yy in 0..<outH {
                        for i in 0..<rowLen { a[i] = 1 << 21 }
                        for y in 0..<c.count[yy] {
                            let w = c.k[yy * c.ksize + y]
                            let s = src.baseAddress! + (c.start[yy] + y - rowOffset) * rowLen
                            for i in 0..<rowLen { a[i] &+= Int32(s[i]) &* w }
                        }
                        let d = dst.baseAddress! + yy * rowLen
                        for i in 0..<rowLen { d[i] = clip8(a[i]) }
                    }
                }
            }
        }
        return RGBImage(width: img.width, height: outH, pixels: out)
    }
}

import Foundation

/// OpenCV's `cv2.resize` for 8-bit 3-channel images, as AutoML's YOLO scorer calls it: INTER_AREA when
/// shrinking (area-weighted averages in float, rounded half to even) and INTER_LINEAR when growing
/// (11-bit fixed-point weights, OpenCV's two-pass integer arithmetic). Checked against opencv-python.
public enum OpenCVResize {
    public enum Interpolation: Sendable { case area, linear }

    public static func resize(_ img: RGBImage, width: Int, height: Int, _ interpolation: Interpolation) -> RGBImage {
        precondition(width > 0 && height > 0)
        if width == img.width && height == img.height { return img }
        switch interpolation {
        case .linear: return linear(img, width, height)
        case .area:
            let sx = Double(img.width) / Double(width), sy = Double(img.height) / Double(height)
            // OpenCV: INTER_AREA only averages when shrinking; growing falls back to bilinear
            if sx < 1 || sy < 1 { return linear(img, width, height) }
            let ix = Int(sx.rounded()), iy = Int(sy.rounded())
            if abs(sx - Double(ix)) < Double.ulpOfOne && abs(sy - Double(iy)) < Double.ulpOfOne {
                return areaFast(img, width, height, ix, iy)
            }
            return area(img, width, height)
        }
    }

    // MARK: INTER_LINEAR

    static let coefBits = 11, coefScale = 1 << 11

    /// Offsets and weights per output position. Columns are clamped at the borders (weight 0 beyond them);
    /// rows are not (OpenCV reads the clamped row twice with both weights, which can round differently).
    static func linearTable(src: Int, dst: Int, clampEdges: Bool = true) -> (ofs: [Int], a0: [Int32], a1: [Int32], border: Int) {
        let scale = 1.0 / (Double(dst) / Double(src))
        var ofs = [Int](repeating: 0, count: dst), a0 = [Int32](repeating: 0, count: dst), a1 = [Int32](repeating: 0, count: dst)
        var border = dst
        for d in 0..<dst {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if s < 0 && clampEdges { f = 0; s = 0 }
            if s + 1 >= src && clampEdges {
                border = min(border, d)
                if s >= src - 1 { f = 0; s = src - 1 }
            }
            ofs[d] = s
            a0[d] = Int32(((1 - f) * Float(coefScale)).rounded(.toNearestOrEven))
            a1[d] = Int32((f * Float(coefScale)).rounded(.toNearestOrEven))
        }
        return (ofs, a0, a1, border)
    }

    static func linear(_ img: RGBImage, _ outW: Int, _ outH: Int) -> RGBImage {
        let tx = linearTable(src: img.width, dst: outW), ty = linearTable(src: img.height, dst: outH, clampEdges: false)
        let inW = img.width
        // horizontal pass of one source row into ints (cached: consecutive output rows share source rows)
        var cache: [Int: [Int32]] = [:]
        func hrow(_ y: Int) -> [Int32] {
            if let r = cache[y] { return r }
            var r = [Int32](repeating: 0, count: outW * 3)
            img.pixels.withUnsafeBufferPointer { p in
                let s = p.baseAddress! + y * inW * 3
                for d in 0..<outW {
                    let sx = tx.ofs[d] * 3
                    for c in 0..<3 {
                        if d < tx.border {
                            r[d * 3 + c] = Int32(s[sx + c]) * tx.a0[d] + Int32(s[sx + 3 + c]) * tx.a1[d]
                        } else {
                            r[d * 3 + c] = Int32(s[sx + c]) * Int32(coefScale)
                        }
                    }
                }
            }
            if cache.count > 4 { cache.removeAll() }
            cache[y] = r
            return r
        }
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        for dy in 0..<outH {
            let sy = ty.ofs[dy]
            let r0 = hrow(min(max(sy, 0), img.height - 1)), r1 = hrow(min(max(sy + 1, 0), img.height - 1))
            let b0 = ty.a0[dy], b1 = ty.a1[dy]
            for x in 0..<(outW * 3) {
                let v = (((b0 &* (r0[x] >> 4)) >> 16) &+ ((b1 &* (r1[x] >> 4)) >> 16) &+ 2) >> 2
                out[dy * outW * 3 + x] = UInt8(clamping: v)
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }

    // MARK: INTER_AREA

    struct Tap { var d: Int; var s: Int; var alpha: Float }

    static func areaTable(src: Int, dst: Int, scale: Double) -> [Tap] {
        var tab: [Tap] = []
        for dx in 0..<dst {
            let f1 = Double(dx) * scale, f2 = f1 + scale
            let cell = min(scale, Double(src) - f1)
            var s1 = Int(f1.rounded(.up))
            var s2 = Int(f2.rounded(.down))
            s2 = min(s2, src - 1)
            s1 = min(s1, s2)
            if Double(s1) - f1 > 1e-3 { tab.append(Tap(d: dx, s: s1 - 1, alpha: Float((Double(s1) - f1) / cell))) }
            if s1 < s2 { for sx in s1..<s2 { tab.append(Tap(d: dx, s: sx, alpha: Float(1.0 / cell))) } }
            if f2 - Double(s2) > 1e-3 { tab.append(Tap(d: dx, s: s2, alpha: Float(min(min(f2 - Double(s2), 1.0), cell) / cell))) }
        }
        return tab
    }

    @inline(__always) static func round8(_ v: Float) -> UInt8 {
        let r = v.rounded(.toNearestOrEven)
        return r <= 0 ? 0 : r >= 255 ? 255 : UInt8(r)
    }

    static func area(_ img: RGBImage, _ outW: Int, _ outH: Int) -> RGBImage {
        let scaleX = 1.0 / (Double(outW) / Double(img.width)), scaleY = 1.0 / (Double(outH) / Double(img.height))
        let xtab = areaTable(src: img.width, dst: outW, scale: scaleX)
        let ytab = areaTable(src: img.height, dst: outH, scale: scaleY)
        let w3 = outW * 3
        var out = [UInt8](repeating: 0, count: w3 * outH)
        var buf = [Float](repeating: 0, count: w3), sum = [Float](repeating: 0, count: w3)
        var prev = ytab.first?.d ?? 0
        img.pixels.withUnsafeBufferPointer { p in
            for t in ytab {
                let s = p.baseAddress! + t.s * img.width * 3
                for k in 0..<w3 { buf[k] = 0 }
                for x in xtab {
                    let si = x.s * 3, di = x.d * 3
                    buf[di] = buf[di] + Float(s[si]) * x.alpha
                    buf[di + 1] = buf[di + 1] + Float(s[si + 1]) * x.alpha
                    buf[di + 2] = buf[di + 2] + Float(s[si + 2]) * x.alpha
                }
                if t.d != prev {
                    for k in 0..<w3 { out[prev * w3 + k] = round8(sum[k]); sum[k] = t.alpha * buf[k] }
                    prev = t.d
                } else {
                    for k in 0..<w3 { sum[k] += t.alpha * buf[k] }
                }
            }
        }
        for k in 0..<w3 { out[prev * w3 + k] = round8(sum[k]) }
        return RGBImage(width: outW, height: outH, pixels: out)
    }

    /// Integer shrink factors: plain block means (OpenCV's resizeAreaFast; 2x2 blocks as (sum + 2) >> 2).
    static func areaFast(_ img: RGBImage, _ outW: Int, _ outH: Int, _ fx: Int, _ fy: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        let scale = 1 / Float(fx * fy)
        for y in 0..<outH {
            for x in 0..<outW {
                for c in 0..<3 {
                    var s = 0
                    for j in 0..<fy { for i in 0..<fx { s += Int(img.pixels[((y * fy + j) * img.width + x * fx + i) * 3 + c]) } }
                    out[(y * outW + x) * 3 + c] = fx == 2 && fy == 2 ? UInt8((s + 2) >> 2) : round8(Float(s) * scale)
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}

/// AutoML's YOLO letterbox: resize so the longer side is `size` (cv2 INTER_AREA when shrinking, INTER_LINEAR
/// when growing), then pad to size x size with 114, the padding split as AutoML splits it.
public struct Letterbox: Sendable, Equatable {
    public var size: Int
    public var resizedWidth: Int, resizedHeight: Int
    public var left: Int, top: Int
    public var originalWidth: Int, originalHeight: Int

    public init(width: Int, height: Int, size: Int) {
        let r = Double(size) / Double(max(width, height))
        resizedWidth = max(1, Int(Double(width) * r))
        resizedHeight = max(1, Int(Double(height) * r))
        let dw = Double(size - resizedWidth) / 2, dh = Double(size - resizedHeight) / 2
        left = Int((dw - 0.1).rounded(.toNearestOrEven))
        top = Int((dh - 0.1).rounded(.toNearestOrEven))
        self.size = size
        originalWidth = width
        originalHeight = height
    }

    /// The padded size x size image.
    public func apply(_ img: RGBImage) -> RGBImage {
        let shrink = resizedWidth < img.width || resizedHeight < img.height
        let r = OpenCVResize.resize(img, width: resizedWidth, height: resizedHeight, shrink ? .area : .linear)
        var px = [UInt8](repeating: 114, count: size * size * 3)
        for y in 0..<r.height {
            let dst = ((y + top) * size + left) * 3
            px.withUnsafeMutableBufferPointer { d in
                r.pixels.withUnsafeBufferPointer { s in
                    (d.baseAddress! + dst).update(from: s.baseAddress! + y * r.width * 3, count: r.width * 3)
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: px)
    }
}

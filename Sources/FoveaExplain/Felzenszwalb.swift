import Foundation

/// Felzenszwalb-Huttenlocher graph segmentation as scikit-image 0.19 implements it (reference/xai-reference.md
/// §4.4): Gaussian smoothing (sigma, truncate 4, reflect), 8-connected edges weighted by the Euclidean colour
/// distance, sorted once; union-find with the float32 threshold `cint + k/size`, then a small-component merge.
/// Labels 0..<K in raster order of each component's first pixel.
public struct Felzenszwalb {
    public let height: Int, width: Int
    let edgeU: [Int32], edgeV: [Int32], weight: [Double]

    /// `image`: HWC float values (any range), `channels` per pixel.
    public init(image: [Float], height: Int, width: Int, channels: Int, sigma: Double = 0.8) {
        self.height = height
        self.width = width
        let sm = Felzenszwalb.smooth(image.map(Double.init), height, width, channels, sigma)
        var u: [Int32] = [], v: [Int32] = [], w: [Double] = []
        let n = height * width
        u.reserveCapacity(4 * n); v.reserveCapacity(4 * n); w.reserveCapacity(4 * n)
        func add(_ a: Int, _ b: Int) {
            var s = 0.0
            for c in 0..<channels { let d = sm[a * channels + c] - sm[b * channels + c]; s += d * d }
            u.append(Int32(a)); v.append(Int32(b)); w.append(s.squareRoot())
        }
        for r in 0..<height { for c in 0..<(width - 1) { add(r * width + c + 1, r * width + c) } }
        for r in 0..<(height - 1) { for c in 0..<width { add((r + 1) * width + c, r * width + c) } }
        for r in 0..<(height - 1) { for c in 0..<(width - 1) { add((r + 1) * width + c + 1, r * width + c) } }
        for r in 0..<(height - 1) { for c in 0..<(width - 1) { add(r * width + c + 1, (r + 1) * width + c) } }
        let order = w.indices.sorted { w[$0] < w[$1] }
        edgeU = order.map { u[$0] }
        edgeV = order.map { v[$0] }
        weight = order.map { w[$0] }
    }

    /// scipy.ndimage.gaussian_filter per channel (axis 0 then axis 1), radius int(4σ+0.5), mode 'reflect'.
    static func smooth(_ img: [Double], _ h: Int, _ w: Int, _ ch: Int, _ sigma: Double) -> [Double] {
        guard sigma > 0 else { return img }
        let radius = Int(4 * sigma + 0.5)
        var k = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        func reflect(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
            return i
        }
        var tmp = [Double](repeating: 0, count: img.count), out = tmp
        for r in 0..<h { for c in 0..<w { for q in 0..<ch {
            var acc = 0.0
            for t in -radius...radius { acc += k[t + radius] * img[(reflect(r + t, h) * w + c) * ch + q] }
            tmp[(r * w + c) * ch + q] = acc
        } } }
        for r in 0..<h { for c in 0..<w { for q in 0..<ch {
            var acc = 0.0
            for t in -radius...radius { acc += k[t + radius] * tmp[(r * w + reflect(c + t, w)) * ch + q] }
            out[(r * w + c) * ch + q] = acc
        } } }
        return out
    }

    /// Labels for one scale (skimage's `scale`; k = scale/255).
    public func segment(scale: Double, minSize: Int = 150) -> (labels: [Int32], count: Int) {
        let n = height * width
        var forest = [Int32](0..<Int32(n))
        var size = [Int32](repeating: 1, count: n)
        var cint = [Double](repeating: 0, count: n)
        func root(_ x: Int32) -> Int32 {
            var r = x
            while forest[Int(r)] < r { r = forest[Int(r)] }
            return r
        }
        func setRoot(_ x: Int32, _ r: Int32) {
            var i = x
            while forest[Int(i)] < i { let j = forest[Int(i)]; forest[Int(i)] = r; i = j }
            forest[Int(i)] = r
        }
        func join(_ a: Int32, _ b: Int32) -> Int32 {
            let r = min(root(a), root(b))
            setRoot(a, r)
            setRoot(b, r)
            return r
        }
        let k = scale / 255
        for e in 0..<weight.count {
            let a = root(edgeU[e]), b = root(edgeV[e])
            if a == b { continue }
            let ta = Float(cint[Int(a)] + k / Double(size[Int(a)])), tb = Float(cint[Int(b)] + k / Double(size[Int(b)]))
            if weight[e] < Double(min(ta, tb)) {
                let s = size[Int(a)] + size[Int(b)]
                let r = join(a, b)
                size[Int(r)] = s
                cint[Int(r)] = weight[e]
            }
        }
        for e in 0..<weight.count {
            let a = root(edgeU[e]), b = root(edgeV[e])
            if a == b { continue }
            if size[Int(a)] < minSize || size[Int(b)] < minSize {
                let s = size[Int(a)] + size[Int(b)]
                let r = join(a, b)
                size[Int(r)] = s
            }
        }
        var labelOf = [Int32](repeating: -1, count: n)
        var labels = [Int32](repeating: 0, count: n)
        var next: Int32 = 0
        for i in 0..<n {
            let r = Int(root(Int32(i)))
            if labelOf[r] < 0 { labelOf[r] = next; next += 1 }
            labels[i] = labelOf[r]
        }
        return (labels, Int(next))
    }
}

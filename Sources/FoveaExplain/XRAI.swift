import Foundation
import FoveaTensor

/// XRAI as saliency 0.1.3 computes it (reference/xai-reference.md §4), on the real image: integrated gradients of
/// the target's softmax probability with respect to the [0, 1] image from two constant baselines (the image's
/// min and max), max over channels; Felzenszwalb segments at six scales, dilated by a radius-5 disk; regions
/// ranked by attribution density (fast) or by greedy gain over the growing union (full).
public enum XRAI {
    public static let scales: [Double] = [50, 100, 150, 250, 500, 1200]
    public static let minSegmentSize = 150
    public static let dilationRadius = 5
    public static let minPixelDiff = 50

    /// `image01`: the [0, 1] crop as [3, H, W]; `mean`/`std` turn it into the model's input. Returns an H·W map.
    public static func attribute(_ r: GradientRunner, image01: [Float], height h: Int, width w: Int, mean: [Float], std: [Float],
                                 target: Int, steps: Int, fast: Bool) throws -> [Float] {
        let plane = h * w, per = 3 * plane
        let lo = image01.min() ?? 0, hi = image01.max() ?? 1
        let baselines = [lo, hi]
        let alphas = (0..<steps).map { steps == 1 ? 1.0 : Double($0) / Double(steps - 1) }  // linspace(0, 1, steps)
        var totals = [[Float]](repeating: [Float](repeating: 0, count: per), count: 2)
        try r.run(rows: 2 * steps, shape: [3, h, w], target: target, probability: true, fill: { row, dst in
            let b = baselines[row / steps], a = Float(alphas[row % steps])
            for c in 0..<3 {
                for i in 0..<plane {
                    let v = b + a * (image01[c * plane + i] - b)
                    dst[c * plane + i] = (v - mean[c]) / std[c]
                }
            }
        }, consume: { row, g in
            let bi = row / steps
            totals[bi].withUnsafeMutableBufferPointer { t in
                for c in 0..<3 { let s = 1 / std[c]; for i in 0..<plane { t[c * plane + i] += g[c * plane + i] * s } }
            }
        })
        // IG per baseline = total · (x − b) / steps; mean of the two; max over channels.
        var attr = [Float](repeating: -.infinity, count: plane)
        for c in 0..<3 {
            for i in 0..<plane {
                let x = image01[c * plane + i]
                let ig0 = totals[0][c * plane + i] * (x - lo) / Float(steps)
                let ig1 = totals[1][c * plane + i] * (x - hi) / Float(steps)
                attr[i] = max(attr[i], (ig0 + ig1) / 2)
            }
        }
        let masks = segmentMasks(image01: image01, height: h, width: w)
        return fast ? rankFast(attr, masks) : rankFull(attr, masks)
    }

    /// The dilated segment masks of all six scales, in scale then label order (bit sets over H·W).
    public static func segmentMasks(image01: [Float], height h: Int, width w: Int) -> [[Int32]] {
        let plane = h * w
        let lo = image01.min() ?? 0, hi = image01.max() ?? 1
        let span = hi - lo > 0 ? hi - lo : 1
        var hwc = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 { for i in 0..<plane { hwc[i * 3 + c] = (image01[c * plane + i] - lo) / span * 2 - 1 } }
        let fz = Felzenszwalb(image: hwc, height: h, width: w, channels: 3)
        var masks: [[Int32]] = []
        let disk = diskOffsets(dilationRadius)
        for s in scales {
            let (labels, count) = fz.segment(scale: s, minSize: minSegmentSize)
            var m = [[Bool]](repeating: [Bool](repeating: false, count: plane), count: count)
            // dilate: every pixel within the disk of a labelled pixel
            for y in 0..<h {
                for x in 0..<w {
                    let l = Int(labels[y * w + x])
                    for (dy, dx) in disk {
                        let yy = y + dy, xx = x + dx
                        if yy >= 0 && yy < h && xx >= 0 && xx < w { m[l][yy * w + xx] = true }
                    }
                }
            }
            masks += m.map { bits in bits.indices.filter { bits[$0] }.map(Int32.init) }
        }
        return masks
    }

    static func diskOffsets(_ r: Int) -> [(Int, Int)] {
        var o: [(Int, Int)] = []
        for dy in -r...r { for dx in -r...r where dx * dx + dy * dy <= r * r { o.append((dy, dx)) } }
        return o
    }

    static func mean(_ attr: [Float], _ m: [Int32]) -> Float {
        var s = 0.0
        for i in m { s += Double(attr[Int(i)]) }
        return m.isEmpty ? -.infinity : Float(s / Double(m.count))
    }

    /// Fast: masks ranked once by their mean attribution; each adds the pixels not yet covered (>= 50 of them),
    /// which get the mean attribution of those new pixels.
    public static func rankFast(_ attr: [Float], _ masks: [[Int32]]) -> [Float] {
        let n = attr.count
        var out = [Float](repeating: -.infinity, count: n)
        var current = [Bool](repeating: false, count: n)
        let gains = masks.map { mean(attr, $0) }
        let order = masks.indices.sorted { gains[$0] > gains[$1] || (gains[$0] == gains[$1] && $0 < $1) }
        for mi in order {
            let m = masks[mi]
            var diff: [Int] = []
            for i in m where !current[Int(i)] { diff.append(Int(i)) }
            if diff.count < minPixelDiff { continue }
            var s = 0.0
            for i in diff { s += Double(attr[i]) }
            let g = Float(s / Double(diff.count))
            for i in diff { out[i] = g }
            for i in m { current[Int(i)] = true }
        }
        fillUncovered(&out, attr)
        return out
    }

    /// Full: repeatedly adds the mask whose new pixels have the highest mean attribution.
    public static func rankFull(_ attr: [Float], _ masks: [[Int32]]) -> [Float] {
        let n = attr.count
        var out = [Float](repeating: -.infinity, count: n)
        var current = [Bool](repeating: false, count: n)
        var remaining = Array(masks.indices)
        var covered = 0
        while covered <= n && !remaining.isEmpty {
            var best = -1, bestGain = -Float.infinity
            var drop: Set<Int> = []
            for mi in remaining {
                var s = 0.0, c = 0
                let m = masks[mi]
                for i in m where !current[Int(i)] { s += Double(attr[Int(i)]); c += 1 }
                if c < minPixelDiff { drop.insert(mi); continue }
                let g = Float(s / Double(c))
                if best < 0 || g > bestGain { best = mi; bestGain = g }
            }
            remaining.removeAll { drop.contains($0) }
            guard best >= 0 else { break }
            let m = masks[best]
            for i in m where !current[Int(i)] { out[Int(i)] = bestGain; current[Int(i)] = true; covered += 1 }
            remaining.removeAll { $0 == best }
            if covered >= n { break }
        }
        fillUncovered(&out, attr)
        return out
    }

    static func fillUncovered(_ out: inout [Float], _ attr: [Float]) {
        var s = 0.0, c = 0
        for i in 0..<out.count where out[i] == -.infinity { s += Double(attr[i]); c += 1 }
        guard c > 0 else { return }
        let m = Float(s / Double(c))
        for i in 0..<out.count where out[i] == -.infinity { out[i] = m }
    }
}

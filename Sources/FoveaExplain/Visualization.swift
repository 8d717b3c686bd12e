import Foundation
import FoveaImage

/// AutoML's 2x2 explanation figure (reference/xai-reference.md §5.5, §6): the input crop; the heat map of
/// |Σ_c attributions| normalised by Captum's 98% cumulative-sum threshold in colorcet bgyw with a colour bar;
/// the heat map blended (alpha 0.5) on the grey image; the image where attributions are above their 70th
/// percentile (per channel element). Suptitle "Predicted_label: <label>, Confidence_score: <score>".
public enum Visualization {
    public static let scale = 2

    /// `image01`: [3, H, W] un-normalised crop; `attr`: [3, H, W].
    public static func figure(image01: [Float], attr: [Float], height h: Int, width w: Int, algorithm: String,
                              label: String, score: Float) -> RGBImage {
        let plane = h * w
        var img = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane { for c in 0..<3 { img[i * 3 + c] = UInt8(max(0, min(1, image01[c * plane + i])) * 255) } }
        let norm = heatNormalised(attr, plane: plane)
        var heat = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            let (r, g, b) = Colormap.color(norm[i])
            heat[i * 3] = r; heat[i * 3 + 1] = g; heat[i * 3 + 2] = b
        }
        // blended: grey = channel mean of the uint8 image, autoscaled to its min..max as imshow does
        var grey = [Float](repeating: 0, count: plane)
        for i in 0..<plane { grey[i] = (Float(img[i * 3]) + Float(img[i * 3 + 1]) + Float(img[i * 3 + 2])) / 3 }
        let gmin = grey.min() ?? 0, gmax = grey.max() ?? 1
        var blend = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            let gv = gmax > gmin ? (grey[i] - gmin) / (gmax - gmin) * 255 : 0
            for c in 0..<3 { blend[i * 3 + c] = UInt8(min(255, 0.5 * Float(heat[i * 3 + c]) + 0.5 * gv)) }
        }
        // top 30%: attr > 70th percentile (numpy linear interpolation) per channel element
        let thr = percentile(attr, 70)
        var top = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane { for c in 0..<3 where attr[c * plane + i] > thr { top[i * 3 + c] = img[i * 3 + c] } }

        let P = w * scale, PH = h * scale, pad = 24
        let titleH = Canvas.lineHeight(.small) + 8, supH = Canvas.lineHeight(.large) + 16, barH = 14, barLabels = Canvas.lineHeight(.small) + 4
        let W = 3 * pad + 2 * P
        let row1 = pad + supH, row2 = row1 + titleH + PH + 8 + barH + barLabels + pad
        let H = row2 + titleH + PH + pad
        var cv = Canvas(width: W, height: H)
        cv.centeredText("Predicted_label: \(label), Confidence_score: \(pythonRound4(score))", centerX: W / 2, y: pad, size: .large)
        let x0 = pad, x1 = 2 * pad + P
        let panels: [(String, [UInt8], Int, Int)] = [("Augmented Input Image", img, x0, row1), ("\(algorithm) heatmap", heat, x1, row1),
                                                     ("\(algorithm) on image", blend, x0, row2), ("Top 30% attributions", top, x1, row2)]
        for (title, px, x, y) in panels {
            cv.centeredText(title, centerX: x + P / 2, y: y, size: .small)
            cv.blit(px, width: w, height: h, x: x, y: y + titleH, scale: scale)
        }
        // colour bar under the heat map, 0 to 1
        let by = row1 + titleH + PH + 8
        for xx in 0..<P {
            let (r, g, b) = Colormap.color(Float(xx) / Float(P - 1))
            cv.fill(x: x1 + xx, y: by, w: 1, h: barH, color: (r, g, b))
        }
        for t in 0...4 {
            let v = Double(t) / 4, x = x1 + Int(Double(P - 1) * v)
            cv.fill(x: x, y: by + barH, w: 1, h: 3, color: (0, 0, 0))
            cv.centeredText(String(format: "%.2f", v), centerX: x, y: by + barH + 3, size: .small)
        }
        return cv.image
    }

    /// Captum's `_normalize_image_attr(attr, "absolute_value", 2)`: |channel sum| / (value where the ascending
    /// cumulative sum reaches 98% of the total), clipped to [0, 1]. All-zero attributions give zeros.
    public static func heatNormalised(_ attr: [Float], plane: Int) -> [Float] {
        var combined = [Float](repeating: 0, count: plane)
        for i in 0..<plane { combined[i] = abs(attr[i] + attr[plane + i] + attr[2 * plane + i]) }
        let s = combined.sorted()
        var cs: [Float] = []
        cs.reserveCapacity(s.count)
        var acc: Float = 0
        for v in s { acc += v; cs.append(acc) }
        let total = cs.last ?? 0
        guard total > 0 else { return combined.map { _ in 0 } }
        let idx = cs.firstIndex { $0 >= total * 0.98 } ?? (s.count - 1)
        let thr = s[idx]
        guard thr > 0 else { return combined.map { $0 > 0 ? 1 : 0 } }
        return combined.map { min(1, max(0, $0 / thr)) }
    }

    /// numpy.percentile with linear interpolation.
    public static func percentile(_ v: [Float], _ q: Double) -> Float {
        let s = v.sorted()
        guard !s.isEmpty else { return 0 }
        let pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        let f = Float(pos - Double(lo))
        return s[lo] + (s[hi] - s[lo]) * f
    }

    /// Python's `str(round(score, 4))`.
    public static func pythonRound4(_ x: Float) -> String {
        let r = (Double(x) * 10000).rounded() / 10000
        var s = String(format: "%.4f", r)
        while s.hasSuffix("0") && !s.hasSuffix(".0") { s.removeLast() }
        return s
    }
}

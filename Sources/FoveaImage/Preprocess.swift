import Foundation
import FoveaTensor

/// torchvision's Resize(int) / CenterCrop / ToTensor / Normalize on a Pillow image, as AutoML's
/// classification scoring applies them (reference/pillow-compat.md §2).
public enum Preprocess {
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// Output size of Resize(size) for an image: the shorter side becomes `size`, the longer
    /// `int(size * long / short)` (truncated); a square image puts the short side on the width.
    public static func resizedSize(width w: Int, height h: Int, shorter size: Int) -> (width: Int, height: Int) {
        let (short, long) = w <= h ? (w, h) : (h, w)
        let newLong = Int(Double(size * long) / Double(short))
        return w <= h ? (size, newLong) : (newLong, size)
    }

    /// CenterCrop(size): pads with black when the image is smaller, then crops at
    /// int(round((dim - size) / 2)) with Python's round-half-to-even.
    public static func centerCrop(_ img: RGBImage, size: Int) -> RGBImage {
        var src = img
        if img.width < size || img.height < size {
            let pw = max(0, size - img.width), ph = max(0, size - img.height)
            let left = pw / 2, top = ph / 2
            let nw = img.width + pw, nh = img.height + ph
            var px = [UInt8](repeating: 0, count: nw * nh * 3)
            for y in 0..<img.height {
                for x in 0..<(img.width * 3) { px[((y + top) * nw + left) * 3 + x] = img.pixels[y * img.width * 3 + x] }
            }
            src = RGBImage(width: nw, height: nh, pixels: px)
            if nw == size && nh == size { return src }
        }
        let top = Int((Double(src.height - size) / 2.0).rounded(.toNearestOrEven))
        let left = Int((Double(src.width - size) / 2.0).rounded(.toNearestOrEven))
        var out = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            let s = ((top + y) * src.width + left) * 3
            out[(y * size * 3)..<((y + 1) * size * 3)] = src.pixels[s..<(s + size * 3)]
        }
        return RGBImage(width: size, height: size, pixels: out)
    }

    /// ToTensor + Normalize: CHW float32, x = (v / 255 - mean) / std with true divisions.
    public static func normalize(_ img: RGBImage, mean: [Float] = imagenetMean, std: [Float] = imagenetStd,
                                 into t: UnsafeMutablePointer<Float>) {
        let hw = img.width * img.height
        img.pixels.withUnsafeBufferPointer { p in
            for c in 0..<3 {
                let m = mean[c], s = std[c]
                let o = t + c * hw
                for i in 0..<hw { o[i] = (Float(p[i * 3 + c]) / 255 - m) / s }
            }
        }
    }

    /// AutoML classification preprocessing of one decoded image → [1, 3, crop, crop].
    public static func classification(_ img: RGBImage, resize: Int = 256, crop: Int = 224,
                                      mean: [Float] = imagenetMean, std: [Float] = imagenetStd) -> Tensor {
        let (w, h) = resizedSize(width: img.width, height: img.height, shorter: resize)
        let cropped = centerCrop(PillowResize.resize(img, width: w, height: h), size: crop)
        let t = Tensor(zeros: [1, 3, crop, crop])
        normalize(cropped, mean: mean, std: std, into: t.f32)
        return t
    }
}

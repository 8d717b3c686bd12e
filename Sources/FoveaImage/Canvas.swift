import Foundation

/// An RGB drawing surface for figures: rectangles, scaled images, antialiased text from the embedded font.
public struct Canvas: Sendable {
    public let width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, w: width, h: height, color: background)
    }

    public mutating func fill(x: Int, y: Int, w: Int, h: Int, color: (UInt8, UInt8, UInt8)) {
        for yy in max(0, y)..<min(height, y + h) {
            for xx in max(0, x)..<min(width, x + w) {
                let o = (yy * width + xx) * 3
                pixels[o] = color.0; pixels[o + 1] = color.1; pixels[o + 2] = color.2
            }
        }
    }

    /// Draws an RGB image (row-major, 3 bytes a pixel) at (x, y), each pixel as a scale × scale block.
    public mutating func blit(_ rgb: [UInt8], width w: Int, height h: Int, x: Int, y: Int, scale: Int = 1) {
        for sy in 0..<h {
            for sx in 0..<w {
                let s = (sy * w + sx) * 3
                for dy in 0..<scale {
                    let yy = y + sy * scale + dy
                    guard yy >= 0 && yy < height else { continue }
                    for dx in 0..<scale {
                        let xx = x + sx * scale + dx
                        guard xx >= 0 && xx < width else { continue }
                        let o = (yy * width + xx) * 3
                        pixels[o] = rgb[s]; pixels[o + 1] = rgb[s + 1]; pixels[o + 2] = rgb[s + 2]
                    }
                }
            }
        }
    }

    public enum FontSize: Sendable { case small, large }

    struct Face {
        let height: Int
        let widths: [Int]
        let offsets: [Int]
        let glyphs: [UInt8]
        init(height: Int, widths: [Int], b64: String) {
            self.height = height
            self.widths = widths
            var o: [Int] = [], acc = 0
            for w in widths { o.append(acc); acc += w * height }
            offsets = o
            glyphs = [UInt8](Data(base64Encoded: b64)!)
        }
    }
    static let small = Face(height: FontData.height15, widths: FontData.widths15, b64: FontData.glyphs15)
    static let large = Face(height: FontData.height22, widths: FontData.widths22, b64: FontData.glyphs22)

    static func face(_ s: FontSize) -> Face { s == .small ? small : large }

    public static func textWidth(_ s: String, size: FontSize) -> Int {
        let f = face(size)
        return s.unicodeScalars.reduce(0) { $0 + f.widths[glyphIndex($1)] }
    }
    public static func lineHeight(_ size: FontSize) -> Int { face(size).height }

    static func glyphIndex(_ u: Unicode.Scalar) -> Int {
        (32...126).contains(u.value) ? Int(u.value) - 32 : Int(UInt8(ascii: "?")) - 32
    }

    /// Draws text with its top-left at (x, y), blending the glyph coverage with `color`.
    public mutating func text(_ s: String, x: Int, y: Int, size: FontSize, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        let f = Canvas.face(size)
        var cx = x
        for u in s.unicodeScalars {
            let g = Canvas.glyphIndex(u), w = f.widths[g], base = f.offsets[g]
            for gy in 0..<f.height {
                let yy = y + gy
                guard yy >= 0 && yy < height else { continue }
                for gx in 0..<w {
                    let xx = cx + gx
                    guard xx >= 0 && xx < width else { continue }
                    let a = Int(f.glyphs[base + gy * w + gx])
                    if a == 0 { continue }
                    let o = (yy * width + xx) * 3
                    pixels[o] = UInt8((Int(pixels[o]) * (255 - a) + Int(color.0) * a) / 255)
                    pixels[o + 1] = UInt8((Int(pixels[o + 1]) * (255 - a) + Int(color.1) * a) / 255)
                    pixels[o + 2] = UInt8((Int(pixels[o + 2]) * (255 - a) + Int(color.2) * a) / 255)
                }
            }
            cx += w
        }
    }

    /// Text centred horizontally on `centerX`.
    public mutating func centeredText(_ s: String, centerX: Int, y: Int, size: FontSize, color: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        text(s, x: centerX - Canvas.textWidth(s, size: size) / 2, y: y, size: size, color: color)
    }

    public var image: RGBImage { RGBImage(width: width, height: height, pixels: pixels) }
}

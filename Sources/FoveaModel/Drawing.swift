import Foundation
import FoveaImage

/// Draws detections on their image for `fovea predict --draw`: each box's outline in its class's colour,
/// polygons as closed lines, and "label score" on a filled tag above the box.
public enum DetectionDrawing {
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
        (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40), (128, 0, 0),
    ]

    public static func draw(_ img: RGBImage, _ r: DetectionResult) -> RGBImage {
        var c = Canvas(width: img.width, height: img.height)
        c.blit(img.pixels, width: img.width, height: img.height, x: 0, y: 0)
        let w = Float(img.width), h = Float(img.height)
        let thick = max(2, min(img.width, img.height) / 200)
        for b in r.boxes.reversed() {   // the best box drawn last, on top
            let color = palette[b.labelIndex % palette.count]
            let x0 = Int(b.topX * w), y0 = Int(b.topY * h), x1 = Int(b.bottomX * w), y1 = Int(b.bottomY * h)
            c.fill(x: x0, y: y0, w: x1 - x0 + 1, h: thick, color: color)
            c.fill(x: x0, y: y1 - thick + 1, w: x1 - x0 + 1, h: thick, color: color)
            c.fill(x: x0, y: y0, w: thick, h: y1 - y0 + 1, color: color)
            c.fill(x: x1 - thick + 1, y: y0, w: thick, h: y1 - y0 + 1, color: color)
            for poly in b.polygon ?? [] where poly.count >= 4 {
                let n = poly.count / 2
                for k in 0..<n {
                    let j = (k + 1) % n
                    line(&c, Int(poly[2 * k] * w), Int(poly[2 * k + 1] * h), Int(poly[2 * j] * w), Int(poly[2 * j + 1] * h), color)
                }
            }
            let tag = "\(b.label) \(String(format: "%.2f", b.score))"
            let tw = Canvas.textWidth(tag, size: .small) + 6, th = Canvas.lineHeight(.small) + 2
            let ty = y0 - th >= 0 ? y0 - th : y0
            c.fill(x: x0, y: ty, w: tw, h: th, color: color)
            let light = 299 * Int(color.0) + 587 * Int(color.1) + 114 * Int(color.2) > 150_000
            c.text(tag, x: x0 + 3, y: ty + 1, size: .small, color: light ? (0, 0, 0) : (255, 255, 255))
        }
        return c.image
    }

    static func line(_ c: inout Canvas, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: (UInt8, UInt8, UInt8)) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            c.fill(x: x - 1, y: y - 1, w: 2, h: 2, color: color)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
}

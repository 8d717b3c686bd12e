import Foundation

/// AutoML's mask → polygon conversion (masktools.convert_mask_to_polygon): threshold, pad one pixel of
/// zeros, scikit-image's `find_contours(mask, 0.5)` (marching squares, contours assembled in its order),
/// each contour simplified with Ramer-Douglas-Peucker at tolerance 0, 1, 2, ... (at most 25 rounds) until it
/// has at most `maxPoints` points, then x = ceil(col) - 1, y = ceil(row) - 1, normalised by the mask size.
public enum MaskPolygons {
    public static let maxRefinements = 25

    public static func polygons(_ probs: UnsafePointer<Float>, width: Int, height: Int, threshold: Float, maxPoints: Int) -> [[Float]] {
        let pw = width + 2, ph = height + 2
        var m = [UInt8](repeating: 0, count: pw * ph)
        for y in 0..<height { for x in 0..<width where probs[y * width + x] > threshold { m[(y + 1) * pw + x + 1] = 1 } }
        return findContours(m, width: pw, height: ph).map { c0 in
            var c = c0
            var factor = 0
            while c.count > maxPoints && factor < maxRefinements {
                c = simplify(c, epsilon: Double(factor))
                factor += 1
            }
            var flat: [Float] = []
            flat.reserveCapacity(c.count * 2)
            for p in c {
                flat.append(Float((p.c.rounded(.up) - 1) / Double(width)))
                flat.append(Float((p.r.rounded(.up) - 1) / Double(height)))
            }
            return flat
        }
    }

    public struct Point: Hashable, Sendable { public var r: Double; public var c: Double }

    /// scikit-image's find_contours at level 0.5 on a 0/1 image (fully_connected="low").
    public static func findContours(_ a: [UInt8], width: Int, height: Int) -> [[Point]] {
        var segments: [(Point, Point)] = []
        if width < 2 || height < 2 { return [] }
        for r0 in 0..<(height - 1) {
            for c0 in 0..<(width - 1) {
                let ul = a[r0 * width + c0], ur = a[r0 * width + c0 + 1]
                let ll = a[(r0 + 1) * width + c0], lr = a[(r0 + 1) * width + c0 + 1]
                let sq = (ul > 0 ? 1 : 0) + (ur > 0 ? 2 : 0) + (ll > 0 ? 4 : 0) + (lr > 0 ? 8 : 0)
                if sq == 0 || sq == 15 { continue }
                func frac(_ f: UInt8, _ t: UInt8) -> Double { f == t ? 0 : (0.5 - Double(f)) / (Double(t) - Double(f)) }
                let r = Double(r0), c = Double(c0)
                let top = Point(r: r, c: c + frac(ul, ur)), bottom = Point(r: r + 1, c: c + frac(ll, lr))
                let left = Point(r: r + frac(ul, ll), c: c), right = Point(r: r + frac(ur, lr), c: c + 1)
                switch sq {
                case 1: segments.append((top, left))
                case 2: segments.append((right, top))
                case 3: segments.append((right, left))
                case 4: segments.append((left, bottom))
                case 5: segments.append((top, bottom))
                case 6: segments.append((right, top)); segments.append((left, bottom))
                case 7: segments.append((right, bottom))
                case 8: segments.append((bottom, right))
                case 9: segments.append((top, left)); segments.append((bottom, right))
                case 10: segments.append((bottom, top))
                case 11: segments.append((bottom, left))
                case 12: segments.append((left, right))
                case 13: segments.append((top, right))
                default: segments.append((left, top))  // 14
                }
            }
        }
        return assemble(segments)
    }

    /// skimage.measure._find_contours._assemble_contours, step for step.
    static func assemble(_ segments: [(Point, Point)]) -> [[Point]] {
        final class Contour { var points: [Point]; let id: Int; init(_ p: [Point], _ id: Int) { points = p; self.id = id } }
        var contours: [Int: Contour] = [:]
        var starts: [Point: Contour] = [:], ends: [Point: Contour] = [:]
        var next = 0
        for (from, to) in segments {
            if from == to { continue }
            let tail = starts.removeValue(forKey: to)
            let head = ends.removeValue(forKey: from)
            if let tail, let head {
                if tail === head {
                    head.points.append(to)
                } else if tail.id > head.id {
                    head.points.append(contentsOf: tail.points)
                    contours[tail.id] = nil
                    starts[head.points.first!] = head
                    ends[head.points.last!] = head
                } else {
                    starts[head.points.first!] = nil
                    tail.points.insert(contentsOf: head.points, at: 0)
                    contours[head.id] = nil
                    starts[tail.points.first!] = tail
                    ends[tail.points.last!] = tail
                }
            } else if tail == nil && head == nil {
                let c = Contour([from, to], next)
                contours[next] = c
                starts[from] = c
                ends[to] = c
                next += 1
            } else if let tail {
                tail.points.insert(from, at: 0)
                starts[from] = tail
            } else if let head {
                head.points.append(to)
                ends[to] = head
            }
        }
        return contours.keys.sorted().map { contours[$0]!.points }
    }

    /// Ramer-Douglas-Peucker as the `simplification` package (Rust geo) does it: distances to the segment
    /// between the ends (to the end point when a closed contour starts and ends at one point), the last of
    /// equally far points splits the line when it is farther than epsilon; epsilon <= 0 changes nothing.
    public static func simplify(_ p: [Point], epsilon: Double) -> [Point] {
        if p.count < 3 || epsilon <= 0 { return p }
        func dist(_ q: Point, _ a: Point, _ b: Point) -> Double {
            if a == b { return hypot(q.c - a.c, q.r - a.r) }
            let dx = b.c - a.c, dy = b.r - a.r
            let t = ((q.c - a.c) * dx + (q.r - a.r) * dy) / (dx * dx + dy * dy)
            if t <= 0 { return hypot(q.c - a.c, q.r - a.r) }
            if t >= 1 { return hypot(q.c - b.c, q.r - b.r) }
            let s = ((a.r - q.r) * dx - (a.c - q.c) * dy) / (dx * dx + dy * dy)
            return abs(s) * hypot(dx, dy)
        }
        func rdp(_ lo: Int, _ hi: Int, _ out: inout [Point]) {
            var dmax = 0.0, index = lo
            if hi - lo >= 2 {
                for i in (lo + 1)..<hi {
                    let d = dist(p[i], p[lo], p[hi])
                    if d >= dmax { dmax = d; index = i }
                }
            }
            if dmax > epsilon {
                rdp(lo, index, &out)
                out.removeLast()
                rdp(index, hi, &out)
            } else {
                out.append(p[lo])
                out.append(p[hi])
            }
        }
        var out: [Point] = []
        rdp(0, p.count - 1, &out)
        return out
    }
}

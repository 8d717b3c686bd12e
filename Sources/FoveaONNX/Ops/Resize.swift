import Foundation
import FoveaTensor

/// Resize (opset 10-13 semantics; Upsample too): nearest (all four nearest_modes) on any axes, and
/// linear on the two innermost axes, with the coordinate transformations half_pixel, pytorch_half_pixel,
/// align_corners, asymmetric and tf_half_pixel_for_nn. Output sizes from `sizes`, else floor(in × scale).
/// Backward (nearest and linear) scatters gy back to the source positions.
final class ResizeOp: Operator {
    let ctx: OpContext
    let linear: Bool
    let transform: String
    let nearestMode: String
    let legacy: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        let mode = try ctx.string("mode", "nearest")
        guard mode == "nearest" || mode == "linear" || mode == "bilinear" else {
            throw ctx.unsupported("mode '\(mode)' is not supported (nearest and linear are)")
        }
        linear = mode != "nearest"
        legacy = ctx.opset < 11 || ctx.node.opType == "Upsample"
        transform = legacy ? "asymmetric" : try ctx.string("coordinate_transformation_mode", "half_pixel")
        guard ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"].contains(transform) else {
            throw ctx.unsupported("coordinate_transformation_mode '\(transform)' is not supported")
        }
        nearestMode = legacy ? "legacy" : try ctx.string("nearest_mode", "round_prefer_floor")
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "legacy"].contains(nearestMode) else {
            throw ctx.unsupported("nearest_mode '\(nearestMode)' is not supported")
        }
        if try ctx.int("antialias", 0) != 0 { throw ctx.unsupported("antialias is not supported") }
        if ctx.node.attributes["axes"] != nil { throw ctx.unsupported("the axes attribute is not supported") }
        if try ctx.string("keep_aspect_ratio_policy", "stretch") != "stretch" {
            throw ctx.unsupported("keep_aspect_ratio_policy other than stretch is not supported")
        }
    }

    /// Output shape and per-axis scales.
    func plan(_ x: [Int], _ i: [TensorDesc?], _ c: [Tensor?]) throws -> ([Int], [Float]) {
        let scalesAt = legacy ? 1 : 2, sizesAt = 3
        if sizesAt < i.count, let d = i[sizesAt], d.count > 0 {
            guard let s = c[sizesAt] else { throw ctx.needsConstant("sizes") }
            guard s.count == x.count else { throw ctx.shapeError("sizes \(s.ints) do not match rank \(x.count)") }
            let out = s.ints
            guard out.allSatisfy({ $0 >= 0 }) else { throw ctx.shapeError("negative size in \(out)") }
            return (out, zip(out, x).map { $1 == 0 ? 1 : Float($0) / Float($1) })
        }
        guard scalesAt < i.count, let d = i[scalesAt], d.count > 0 else { throw ctx.shapeError("needs scales or sizes") }
        guard let s = c[scalesAt] else { throw ctx.needsConstant("scales") }
        guard s.count == x.count, s.dtype == .float32 else { throw ctx.shapeError("scales must be \(x.count) floats") }
        let sc = s.floats
        guard sc.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ctx.shapeError("scales \(sc) must be positive") }
        let out = zip(x, sc).map { Int((Float($0) * $1).rounded(.down)) }
        guard out.product <= 1 << 31 else { throw ctx.shapeError("output \(out) is too large") }
        return (out, sc)
    }

    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let (out, _) = try plan(x.shape, i, constants)
        if linear, x.shape.count >= 2, zip(out, x.shape).dropLast(2).contains(where: { $0 != $1 }) {
            throw ctx.unsupported("linear resize of axes other than the two innermost is not supported")
        }
        return [TensorDesc(out, x.dtype)]
    }

    /// Source coordinate of output index o along an axis.
    func source(_ o: Int, scale: Float, inLen: Int, outLen: Int) -> Float {
        let x = Float(o)
        switch transform {
        case "half_pixel": return (x + 0.5) / scale - 0.5
        case "pytorch_half_pixel": return outLen > 1 ? (x + 0.5) / scale - 0.5 : 0
        case "align_corners": return outLen == 1 ? 0 : x * Float(inLen - 1) / Float(outLen - 1)
        case "tf_half_pixel_for_nn": return (x + 0.5) / scale
        default: return x / scale
        }
    }

    func nearest(_ v: Float, scale: Float) -> Int {
        switch nearestMode {
        case "floor": return Int(v.rounded(.down))
        case "ceil": return Int(v.rounded(.up))
        case "round_prefer_ceil": return Int(v.rounded(.toNearestOrAwayFromZero))
        case "legacy": return scale < 1 ? Int(v.rounded(.up)) : Int(v)
        default: // round_prefer_floor
            return v == v.rounded(.down) + 0.5 ? Int(v.rounded(.down)) : Int(v.rounded())
        }
    }

    /// Per axis: (low index, high index, weight of high) for each output position.
    func tables(_ x: [Int], _ out: [Int], _ scales: [Float]) -> [[(Int, Int, Float)]] {
        (0..<x.count).map { d in
            (0..<out[d]).map { o in
                if out[d] == x[d] && scales[d] == 1 { return (o, o, 0) }
                let s = source(o, scale: scales[d], inLen: x[d], outLen: out[d])
                if !linear || d < x.count - 2 {
                    let k = min(max(nearest(s, scale: scales[d]), 0), x[d] - 1)
                    return (k, k, 0)
                }
                let c = min(max(s, 0), Float(x[d] - 1))
                let lo = Int(c), hi = min(lo + 1, x[d] - 1)
                return (lo, hi, c - Float(lo))
            }
        }
    }

    /// Calls body(outputOffset, [(inputOffset, weight)]) per output element.
    func walk(_ x: [Int], _ out: [Int], _ scales: [Float], _ body: (Int, Int, Int, Int, Int, Float, Float) -> Void) {
        let t = tables(x, out, scales)
        let r = x.count
        let st = contiguousStrides(x)
        if out.product == 0 { return }
        // outer axes (all but the last two): nearest indices
        let outerDims = Array(out.prefix(max(r - 2, 0)))
        let hOut = r >= 2 ? out[r - 2] : 1, wOut = r >= 1 ? out[r - 1] : 1
        var idx = [Int](repeating: 0, count: outerDims.count)
        var o = 0
        for _ in 0..<outerDims.product {
            var base = 0
            for (d, k) in idx.enumerated() { base += t[d][k].0 * st[d] }
            for oh in 0..<hOut {
                let (h0, h1, wh) = r >= 2 ? t[r - 2][oh] : (0, 0, Float(0))
                let sh = r >= 2 ? st[r - 2] : 0
                for ow in 0..<wOut {
                    let (w0, w1, ww) = t[r - 1][ow]
                    body(o, base + h0 * sh + w0, base + h0 * sh + w1, base + h1 * sh + w0, base + h1 * sh + w1, wh, ww)
                    o += 1
                }
            }
            var d = outerDims.count - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < outerDims[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
    }

    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y
        let (_, scales) = try! plan(x.shape, a.inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } }, a.inputs)
        if x.dtype == .float32 {
            let px = x.f32, py = y.f32
            if linear {
                walk(x.shape, y.shape, scales) { o, i00, i01, i10, i11, wh, ww in
                    let top = px[i00] * (1 - ww) + px[i01] * ww, bottom = px[i10] * (1 - ww) + px[i11] * ww
                    py[o] = top * (1 - wh) + bottom * wh
                }
            } else {
                walk(x.shape, y.shape, scales) { o, i00, _, _, _, _, _ in py[o] = px[i00] }
            }
        } else {
            let es = x.dtype.byteSize
            walk(x.shape, y.shape, scales) { o, i00, _, _, _, _, _ in
                (y.raw + o * es).copyMemory(from: x.raw + i00 * es, byteCount: es)
            }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let (_, scales) = try! plan(a.x.shape, a.inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } }, a.inputs)
        let gy = a.gy.f32, gx = g.f32
        walk(a.x.shape, a.y.shape, scales) { o, i00, i01, i10, i11, wh, ww in
            let v = gy[o]
            if self.linear {
                gx[i00] += v * (1 - wh) * (1 - ww); gx[i01] += v * (1 - wh) * ww
                gx[i10] += v * wh * (1 - ww); gx[i11] += v * wh * ww
            } else {
                gx[i00] += v
            }
        }
    }
}

import Foundation
import FoveaTensor

/// RoiAlign: bilinear samples averaged (or maxed, onnxruntime's way) over each bin of each region.
/// coordinate_transformation_mode "half_pixel" (opset 16's default) shifts by half a pixel and does not
/// clamp small regions; "output_half_pixel" (opset 10's behaviour, what torchvision exports) clamps
/// regions to at least one pixel. Forward only.
final class RoiAlignOp: Operator {
    let ctx: OpContext
    let maxMode: Bool, outH: Int, outW: Int, samplingRatio: Int, spatialScale: Float, halfPixel: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        let mode = try ctx.string("mode", "avg")
        guard mode == "avg" || mode == "max" else { throw ctx.unsupported("mode '\(mode)' is not avg or max") }
        maxMode = mode == "max"
        outH = try ctx.int("output_height", 1)
        outW = try ctx.int("output_width", 1)
        samplingRatio = try ctx.int("sampling_ratio", 0)
        spatialScale = try ctx.float("spatial_scale", 1)
        let ctm = try ctx.string("coordinate_transformation_mode", ctx.opset >= 16 ? "half_pixel" : "output_half_pixel")
        guard ctm == "half_pixel" || ctm == "output_half_pixel" else {
            throw ctx.unsupported("coordinate_transformation_mode '\(ctm)' is not half_pixel or output_half_pixel")
        }
        halfPixel = ctm == "half_pixel"
        guard outH > 0, outW > 0, samplingRatio >= 0 else { throw ctx.unsupported("output sizes must be positive") }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count == 3, let x = i[0], let r = i[1], let b = i[2] else { throw ctx.shapeError("needs X, rois and batch_indices") }
        guard x.shape.count == 4, r.shape.count == 2, r.shape[1] == 4, b.shape == [r.shape[0]] else {
            throw ctx.shapeError("X \(x.shape) must be NCHW, rois \(r.shape) [n, 4], batch_indices \(b.shape) [n]")
        }
        return [TensorDesc([r.shape[0], x.shape[1], outH, outW])]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, rois = a.input(1).f32, bi = a.input(2), y = a.y.f32
        let (nImg, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let n = a.y.shape[0]
        let off: Float = halfPixel ? 0.5 : 0
        // per sample: four corner offsets and weights, shared by all channels
        struct Sample { var o1: Int, o2: Int, o3: Int, o4: Int; var w1: Float, w2: Float, w3: Float, w4: Float }
        var samples: [Sample] = []
        for r in 0..<n {
            let img = min(max(Int(bi.i64[r]), 0), max(nImg - 1, 0))
            let rs = rois + r * 4
            let sw = rs[0] * spatialScale - off, sh = rs[1] * spatialScale - off
            let ew = rs[2] * spatialScale - off, eh = rs[3] * spatialScale - off
            var rw = ew - sw, rh = eh - sh
            if !halfPixel { rw = max(rw, 1); rh = max(rh, 1) }
            let binH = rh / Float(outH), binW = rw / Float(outW)
            let gh = samplingRatio > 0 ? samplingRatio : Int(ceilf(rh / Float(outH)))
            let gw = samplingRatio > 0 ? samplingRatio : Int(ceilf(rw / Float(outW)))
            let count = Float(max(gh * gw, 1))
            for ph in 0..<outH {
                for pw in 0..<outW {
                    samples.removeAll(keepingCapacity: true)
                    for iy in 0..<gh {
                        let yy = sh + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gh)
                        for ix in 0..<gw {
                            let xx = sw + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gw)
                            if yy < -1 || yy > Float(h) || xx < -1 || xx > Float(w) {
                                samples.append(Sample(o1: 0, o2: 0, o3: 0, o4: 0, w1: 0, w2: 0, w3: 0, w4: 0))
                                continue
                            }
                            var y0 = yy
                            if y0 <= 0 { y0 = 0 }
                            var x0 = xx
                            if x0 <= 0 { x0 = 0 }
                            var yl = Int(y0), xl = Int(x0), yh: Int, xh: Int
                            if yl >= h - 1 { yh = h - 1; yl = h - 1; y0 = Float(yl) } else { yh = yl + 1 }
                            if xl >= w - 1 { xh = w - 1; xl = w - 1; x0 = Float(xl) } else { xh = xl + 1 }
                            let ly = y0 - Float(yl), lx = x0 - Float(xl), hy = 1 - ly, hx = 1 - lx
                            samples.append(Sample(o1: yl * w + xl, o2: yl * w + xh, o3: yh * w + xl, o4: yh * w + xh,
                                                  w1: hy * hx, w2: hy * lx, w3: ly * hx, w4: ly * lx))
                        }
                    }
                    for ch in 0..<c {
                        let p = x.f32 + (img * c + ch) * h * w
                        var acc: Float = maxMode ? -.greatestFiniteMagnitude : 0
                        var first = true
                        for s in samples {
                            if maxMode {
                                let v = max(max(s.w1 * p[s.o1], s.w2 * p[s.o2]), max(s.w3 * p[s.o3], s.w4 * p[s.o4]))
                                acc = first ? v : max(acc, v)
                                first = false
                            } else {
                                acc += s.w1 * p[s.o1] + s.w2 * p[s.o2] + s.w3 * p[s.o3] + s.w4 * p[s.o4]
                            }
                        }
                        y[((r * c + ch) * outH + ph) * outW + pw] = maxMode ? (samples.isEmpty ? 0 : acc) : acc / count
                    }
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

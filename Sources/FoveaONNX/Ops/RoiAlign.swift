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
        let n = a.y.shape[0], bins = outH * outW
        let off: Float = halfPixel ? 0.5 : 0
        // per roi: every bin's bilinear samples (four corner offsets and weights), shared by all channels
        var ofs: [Int32] = [], wts: [Float] = [], start = [Int](repeating: 0, count: bins + 1)
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
            ofs.removeAll(keepingCapacity: true)
            wts.removeAll(keepingCapacity: true)
            for ph in 0..<outH {
                for pw in 0..<outW {
                    start[ph * outW + pw] = ofs.count / 4
                    for iy in 0..<gh {
                        let yy = sh + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gh)
                        for ix in 0..<gw {
                            let xx = sw + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gw)
                            if yy < -1 || yy > Float(h) || xx < -1 || xx > Float(w) {
                                ofs += [0, 0, 0, 0]; wts += [0, 0, 0, 0]
                                continue
                            }
                            var y0 = max(yy, 0), x0 = max(xx, 0)
                            var yl = Int(y0), xl = Int(x0), yh: Int, xh: Int
                            if yl >= h - 1 { yh = h - 1; yl = h - 1; y0 = Float(yl) } else { yh = yl + 1 }
                            if xl >= w - 1 { xh = w - 1; xl = w - 1; x0 = Float(xl) } else { xh = xl + 1 }
                            let ly = y0 - Float(yl), lx = x0 - Float(xl), hy = 1 - ly, hx = 1 - lx
                            ofs += [Int32(yl * w + xl), Int32(yl * w + xh), Int32(yh * w + xl), Int32(yh * w + xh)]
                            wts += [hy * hx, hy * lx, ly * hx, ly * lx]
                        }
                    }
                }
            }
            start[bins] = ofs.count / 4
            ofs.withUnsafeBufferPointer { o in
                wts.withUnsafeBufferPointer { wt in
                    let o = o.baseAddress!, wt = wt.baseAddress!
                    for ch in 0..<c {
                        let p = x.f32 + (img * c + ch) * h * w
                        let dst = y + (r * c + ch) * bins
                        for bin in 0..<bins {
                            let s0 = start[bin], s1 = start[bin + 1]
                            if maxMode {
                                var acc: Float = 0
                                for s in s0..<s1 {
                                    let q = 4 * s
                                    let v = max(max(wt[q] * p[Int(o[q])], wt[q + 1] * p[Int(o[q + 1])]),
                                                max(wt[q + 2] * p[Int(o[q + 2])], wt[q + 3] * p[Int(o[q + 3])]))
                                    acc = s == s0 ? v : max(acc, v)
                                }
                                dst[bin] = acc
                            } else {
                                var acc: Float = 0
                                for s in s0..<s1 {
                                    let q = 4 * s
                                    acc += wt[q] * p[Int(o[q])] + wt[q + 1] * p[Int(o[q + 1])] + wt[q + 2] * p[Int(o[q + 2])] + wt[q + 3] * p[Int(o[q + 3])]
                                }
                                dst[bin] = acc / count
                            }
                        }
                    }
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

import FoveaTensor

/// NonMaxSuppression: per batch and class, boxes by descending score (ties: lower index first) above
/// score_threshold, each kept unless its IoU with a kept box exceeds iou_threshold, at most
/// max_output_boxes_per_class (0 or absent: none) — onnxruntime's rules. Output [selected, 3] int64
/// (batch, class, box); its length depends on the data.
final class NonMaxSuppressionOp: Operator {
    let ctx: OpContext
    let centerPointBox: Bool
    init(_ ctx: OpContext) throws { self.ctx = ctx; centerPointBox = try ctx.int("center_point_box", 0) != 0 }
    var differentiable: Bool { false }

    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count >= 2, let b = i[0], let s = i[1] else { throw ctx.shapeError("needs boxes and scores") }
        guard b.shape.count == 3, b.shape[2] == 4, s.shape.count == 3, s.shape[0] == b.shape[0], s.shape[2] == b.shape[1] else {
            throw ctx.shapeError("boxes \(b.shape) must be [batch, boxes, 4] and scores \(s.shape) [batch, classes, boxes]")
        }
        for k in 0..<min(constants.count, i.count) where i[k] != nil && constants[k] == nil {
            throw ctx.needsConstant("the number of boxes kept")
        }
        return [TensorDesc([select(constants).count / 3, 3], .int64)]
    }

    /// (batch, class, box) triples, flattened.
    func select(_ inputs: [Tensor?]) -> [Int64] {
        let boxes = inputs[0]!, scores = inputs[1]!
        let maxOut = inputs.count > 2 ? inputs[2].map { Int($0.i64[0]) } ?? 0 : 0
        let iouT = inputs.count > 3 ? inputs[3].map { $0.f32[0] } ?? 0 : 0
        let scoreT: Float? = inputs.count > 4 ? inputs[4].map { $0.f32[0] } : nil
        guard maxOut > 0 else { return [] }
        let nb = boxes.shape[0], nbox = boxes.shape[1], nc = scores.shape[1]
        var out: [Int64] = []
        var cand: [Int] = []
        // corners as (x0, y0, x1, y1) with min/max applied once, and areas (onnxruntime's SuppressByIOU, precomputed)
        var x0 = [Float](repeating: 0, count: nbox), y0 = x0, x1 = x0, y1 = x0, area = x0
        var keptX0: [Float] = [], keptY0: [Float] = [], keptX1: [Float] = [], keptY1: [Float] = [], keptA: [Float] = []
        for b in 0..<nb {
            let bx = boxes.f32 + b * nbox * 4
            for k in 0..<nbox {
                let p = bx + k * 4
                if centerPointBox {
                    x0[k] = p[0] - p[2] / 2; x1[k] = p[0] + p[2] / 2; y0[k] = p[1] - p[3] / 2; y1[k] = p[1] + p[3] / 2
                } else {
                    y0[k] = min(p[0], p[2]); y1[k] = max(p[0], p[2]); x0[k] = min(p[1], p[3]); x1[k] = max(p[1], p[3])
                }
                area[k] = (x1[k] - x0[k]) * (y1[k] - y0[k])
            }
            for c in 0..<nc {
                let sc = scores.f32 + (b * nc + c) * nbox
                cand.removeAll(keepingCapacity: true)
                for k in 0..<nbox where scoreT.map({ sc[k] > $0 }) ?? true { cand.append(k) }
                cand.sort { sc[$0] != sc[$1] ? sc[$0] > sc[$1] : $0 < $1 }
                keptX0.removeAll(keepingCapacity: true); keptY0.removeAll(keepingCapacity: true)
                keptX1.removeAll(keepingCapacity: true); keptY1.removeAll(keepingCapacity: true); keptA.removeAll(keepingCapacity: true)
                for k in cand {
                    if keptA.count >= maxOut { break }
                    var suppressed = false
                    let ax0 = x0[k], ay0 = y0[k], ax1 = x1[k], ay1 = y1[k], aa = area[k]
                    for j in 0..<keptA.count {
                        let ix0 = max(ax0, keptX0[j]), ix1 = min(ax1, keptX1[j])
                        if ix1 <= ix0 { continue }
                        let iy0 = max(ay0, keptY0[j]), iy1 = min(ay1, keptY1[j])
                        if iy1 <= iy0 { continue }
                        let inter = (ix1 - ix0) * (iy1 - iy0)
                        if inter <= 0 { continue }
                        let union = aa + keptA[j] - inter
                        if aa <= 0 || keptA[j] <= 0 || union <= 0 { continue }
                        if inter / union > iouT { suppressed = true; break }
                    }
                    if suppressed { continue }
                    keptX0.append(ax0); keptY0.append(ay0); keptX1.append(ax1); keptY1.append(ay1); keptA.append(aa)
                    out += [Int64(b), Int64(c), Int64(k)]
                }
            }
        }
        return out
    }

    /// onnxruntime's SuppressByIOU: corners may come in either order; empty boxes never suppress.
    @inline(__always) func suppress(_ bx: UnsafeMutablePointer<Float>, _ i: Int, _ j: Int, _ t: Float) -> Bool {
        let a = bx + i * 4, b = bx + j * 4
        var ax0, ax1, ay0, ay1, bx0, bx1, by0, by1: Float
        if centerPointBox {
            ax0 = a[0] - a[2] / 2; ax1 = a[0] + a[2] / 2; ay0 = a[1] - a[3] / 2; ay1 = a[1] + a[3] / 2
            bx0 = b[0] - b[2] / 2; bx1 = b[0] + b[2] / 2; by0 = b[1] - b[3] / 2; by1 = b[1] + b[3] / 2
        } else {
            ay0 = min(a[0], a[2]); ay1 = max(a[0], a[2]); ax0 = min(a[1], a[3]); ax1 = max(a[1], a[3])
            by0 = min(b[0], b[2]); by1 = max(b[0], b[2]); bx0 = min(b[1], b[3]); bx1 = max(b[1], b[3])
        }
        let ix0 = max(ax0, bx0), ix1 = min(ax1, bx1)
        if ix1 <= ix0 { return false }
        let iy0 = max(ay0, by0), iy1 = min(ay1, by1)
        if iy1 <= iy0 { return false }
        let inter = (ix1 - ix0) * (iy1 - iy0)
        if inter <= 0 { return false }
        let areaA = (ax1 - ax0) * (ay1 - ay0), areaB = (bx1 - bx0) * (by1 - by0)
        let union = areaA + areaB - inter
        if areaA <= 0 || areaB <= 0 || union <= 0 { return false }
        return inter / union > t
    }

    func forward(_ a: ForwardArgs) {
        let sel = select(a.inputs)
        for (k, v) in sel.enumerated() where k < a.y.count { a.y.i64[k] = v }
    }
    func backward(_ a: BackwardArgs) throws {}
}

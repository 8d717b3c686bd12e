import Foundation
import FoveaTensor

/// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) values; its length depends on the inputs.
final class RangeOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var differentiable: Bool { false }
    static let maxCount = 1 << 28
    func count(_ c: [Tensor?]) throws -> Int {
        guard c.count == 3, let s = c[0], let l = c[1], let d = c[2] else { throw ctx.needsConstant("the length") }
        guard s.count == 1, l.count == 1, d.count == 1 else { throw ctx.shapeError("start, limit and delta must be scalars") }
        let n: Double
        if s.dtype == .int64 {
            guard d.i64[0] != 0 else { throw ctx.shapeError("delta is 0") }
            n = ceil(Double(l.i64[0] - s.i64[0]) / Double(d.i64[0]))
        } else {
            guard d.f32[0] != 0 else { throw ctx.shapeError("delta is 0") }
            n = ceil(Double(l.f32[0] - s.f32[0]) / Double(d.f32[0]))
        }
        guard n.isFinite, n <= Double(RangeOp.maxCount) else { throw ctx.shapeError("Range would have \(n) values") }
        return max(Int(n), 0)
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let s = i[0] else { throw ctx.shapeError("missing start") }
        return [TensorDesc([try count(constants)], s.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let s = a.input(0), d = a.input(2), y = a.y
        if y.dtype == .int64 {
            for k in 0..<y.count { y.i64[k] = s.i64[0] + Int64(k) * d.i64[0] }
        } else {
            for k in 0..<y.count { y.f32[k] = s.f32[0] + Float(k) * d.f32[0] }
        }
    }
    func backward(_ a: BackwardArgs) throws {}
}

import FoveaTensor

/// ScatterElements (and the older Scatter): a copy of data with updates written at indices along an axis
/// (reduction none, add or mul). Forward only.
final class ScatterElementsOp: Operator {
    let ctx: OpContext
    let axis: Int
    let reduction: String
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        axis = try ctx.int("axis", 0)
        reduction = try ctx.string("reduction", "none")
        guard ["none", "add", "mul"].contains(reduction) else { throw ctx.unsupported("reduction '\(reduction)' is not supported") }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count == 3, let x = i[0], let idx = i[1], let u = i[2] else { throw ctx.shapeError("needs data, indices and updates") }
        guard idx.shape == u.shape, idx.shape.count == x.shape.count, u.dtype == x.dtype else {
            throw ctx.shapeError("indices \(idx.shape) and updates \(u.shape) must match and have data's rank \(x.shape.count)")
        }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < x.shape.count else { throw ctx.shapeError("axis \(axis) out of range") }
        return [x]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, idx = a.input(1), u = a.input(2), y = a.y
        copyAll(x, y)
        let ax = normAxis(axis, x.rank)
        let ys = contiguousStrides(x.shape), us = contiguousStrides(u.shape)
        let d = x.shape[ax]
        for k in 0..<u.count {
            var rem = k, off = 0
            for dim in 0..<u.rank {
                let c = rem / us[dim]
                rem -= c * us[dim]
                if dim == ax {
                    var v = Int(idx.i64[k])
                    if v < 0 { v += d }
                    v = min(max(v, 0), max(d - 1, 0))
                    off += v * ys[dim]
                } else {
                    off += c * ys[dim]
                }
            }
            write(y, off, u, k)
        }
    }
    func write(_ y: Tensor, _ off: Int, _ u: Tensor, _ k: Int) {
        switch (y.dtype, reduction) {
        case (.float32, "add"): y.f32[off] += u.f32[k]
        case (.float32, "mul"): y.f32[off] *= u.f32[k]
        case (.float32, _): y.f32[off] = u.f32[k]
        case (.int64, "add"): y.i64[off] &+= u.i64[k]
        case (.int64, "mul"): y.i64[off] &*= u.i64[k]
        case (.int64, _): y.i64[off] = u.i64[k]
        default: y.u8[off] = u.u8[k]
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

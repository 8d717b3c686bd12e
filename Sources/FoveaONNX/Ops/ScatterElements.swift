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
        let x = a.x, indices = a.input(1), u = a.input(2), y = a.y
        copyAll(x, y)
        let ax = normAxis(axis, x.rank)
        let ys = contiguousStrides(x.shape)
        let d = x.shape[ax], r = u.rank
        guard u.count > 0 else { return }
        // rows of the updates' last axis; the offset of every axis but `axis` advances with an odometer
        let last = u.shape[r - 1]
        var idx = [Int](repeating: 0, count: max(r - 1, 0))
        var base = 0
        for row in 0..<(u.count / max(last, 1)) {
            for j in 0..<last {
                let k = row * last + j
                var v = Int(idx64(idx: k))
                if v < 0 { v += d }
                v = min(max(v, 0), max(d - 1, 0))
                let off = ax == r - 1 ? base + v * ys[ax] : base + v * ys[ax] + j * ys[r - 1]
                write(y, off, u, k)
            }
            var dim = r - 2
            while dim >= 0 {
                idx[dim] += 1
                if dim != ax { base += ys[dim] }
                if idx[dim] < u.shape[dim] { break }
                if dim != ax { base -= ys[dim] * u.shape[dim] }
                idx[dim] = 0
                dim -= 1
            }
        }
        func idx64(idx k: Int) -> Int64 { indices.i64[k] }
    }
    @inline(__always) func write(_ y: Tensor, _ off: Int, _ u: Tensor, _ k: Int) {
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

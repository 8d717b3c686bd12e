import FoveaTensor

/// ScatterND: a copy of data with update slices written at the positions the last axis of indices
/// addresses (reduction none, add or mul). Backward: data's gradient passes where nothing was written,
/// updates' gradient is read back from the written slices.
final class ScatterNDOp: Operator {
    let ctx: OpContext
    let reduction: String
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        reduction = try ctx.string("reduction", "none")
        guard ["none", "add", "mul"].contains(reduction) else { throw ctx.unsupported("reduction '\(reduction)' is not supported") }
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count == 3, let x = i[0], let idx = i[1], let u = i[2] else { throw ctx.shapeError("needs data, indices and updates") }
        guard let m = idx.shape.last, m <= x.shape.count,
              u.shape == Array(idx.shape.dropLast()) + Array(x.shape[m...]), u.dtype == x.dtype else {
            throw ctx.shapeError("updates \(u.shape) do not fit indices \(idx.shape) into data \(x.shape)")
        }
        return [x]
    }
    /// Calls body(update slice number, element offset in data, slice length).
    func walk(_ x: Tensor, _ idx: Tensor, _ body: (Int, Int, Int) -> Void) {
        let m = idx.shape.last!
        let slice = Array(x.shape[m...]).product
        let st = contiguousStrides(x.shape)
        for t in 0..<(idx.count / max(m, 1)) {
            var off = 0
            for j in 0..<m {
                let d = x.shape[j]
                var v = Int(idx.i64[t * m + j])
                if v < 0 { v += d }
                v = min(max(v, 0), max(d - 1, 0))
                off += v * st[j]
            }
            body(t, off, slice)
        }
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, u = a.input(2), y = a.y, es = x.dtype.byteSize
        copyAll(x, y)
        walk(x, a.input(1)) { t, off, n in
            switch (y.dtype, reduction) {
            case (.float32, "add"): for k in 0..<n { y.f32[off + k] += u.f32[t * n + k] }
            case (.float32, "mul"): for k in 0..<n { y.f32[off + k] *= u.f32[t * n + k] }
            case (.int64, "add"): for k in 0..<n { y.i64[off + k] &+= u.i64[t * n + k] }
            case (.int64, "mul"): for k in 0..<n { y.i64[off + k] &*= u.i64[t * n + k] }
            default: (y.raw + off * es).copyMemory(from: u.raw + t * n * es, byteCount: n * es)
            }
        }
    }
    func backward(_ a: BackwardArgs) throws {
        guard reduction == "none" else { throw noBackward(ctx) }
        let gy = a.gy.f32
        if let gx = a.gx(0) {
            var written = [Bool](repeating: false, count: a.x.count)
            walk(a.x, a.input(1)) { _, off, n in for k in 0..<n { written[off + k] = true } }
            for k in 0..<a.x.count where !written[k] { gx.f32[k] += gy[k] }
        }
        if let gu = a.gx(2) {
            walk(a.x, a.input(1)) { t, off, n in for k in 0..<n { gu.f32[t * n + k] += gy[off + k] } }
        }
    }
}

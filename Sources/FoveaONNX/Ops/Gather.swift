import FoveaTensor

/// Gather along an axis with int64 indices (negative ones count from the end); backward scatter-adds.
final class GatherOp: Operator {
    let ctx: OpContext
    let axis: Int
    init(_ ctx: OpContext) throws { self.ctx = ctx; axis = try ctx.int("axis", 0) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0], let idx = i[1] else { throw ctx.shapeError("needs data and indices") }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < x.shape.count else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        if let c = constants[1], c.ints.contains(where: { $0 >= x.shape[ax] || $0 < -x.shape[ax] }) {
            throw ctx.shapeError("an index is outside 0..<\(x.shape[ax])")
        }
        return [TensorDesc(Array(x.shape[..<ax]) + idx.shape + Array(x.shape[(ax + 1)...]), x.dtype)]
    }
    func walk(_ x: Tensor, _ idx: Tensor, _ body: (Int, Int, Int) -> Void) {
        let ax = normAxis(axis, x.rank)
        let outer = Array(x.shape[..<ax]).product, inner = Array(x.shape[(ax + 1)...]).product
        let d = x.shape[ax], n = idx.count
        for o in 0..<outer {
            for k in 0..<n {
                var j = Int(idx.i64[k])
                if j < 0 { j += d }
                j = min(max(j, 0), d - 1)
                body((o * d + j) * inner, (o * n + k) * inner, inner)
            }
        }
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y, es = x.dtype.byteSize
        walk(x, a.input(1)) { src, dst, n in (y.raw + dst * es).copyMemory(from: x.raw + src * es, byteCount: n * es) }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let gy = a.gy.f32, gp = g.f32
        walk(a.x, a.input(1)) { src, dst, n in for k in 0..<n { gp[src + k] += gy[dst + k] } }
    }
}

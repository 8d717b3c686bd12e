import FoveaTensor

/// Where: z = cond ? x : y with three-way broadcasting (any element type); gradients go to the branch taken.
final class WhereOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count == 3, let c = i[0], let x = i[1], let y = i[2] else { throw ctx.shapeError("needs condition, X and Y") }
        guard c.dtype == .bool else { throw ctx.shapeError("the condition must be bool, got \(c.dtype)") }
        guard x.dtype == y.dtype else { throw ctx.shapeError("X and Y differ in type (\(x.dtype), \(y.dtype))") }
        guard let s1 = broadcastShapes(c.shape, x.shape), let s = broadcastShapes(s1, y.shape) else {
            throw ctx.shapeError("shapes \(c.shape), \(x.shape), \(y.shape) do not broadcast")
        }
        return [TensorDesc(s, x.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let c = a.input(0).u8, x = a.input(1), y = a.input(2), z = a.y
        let es = z.dtype.byteSize
        let px = x.raw, py = y.raw, pz = z.raw
        broadcastWalk(out: z.shape, inputs: [a.input(0).shape, x.shape, y.shape]) { o, p in
            let src = c[p[0]] != 0 ? px + p[1] * es : py + p[2] * es
            (pz + o * es).copyMemory(from: src, byteCount: es)
        }
    }
    func backward(_ a: BackwardArgs) {
        let c = a.input(0).u8, g = a.gy.f32
        let gx = a.gx(1)?.f32, gy = a.gx(2)?.f32
        broadcastWalk(out: a.y.shape, inputs: [a.input(0).shape, a.input(1).shape, a.input(2).shape]) { o, p in
            if c[p[0]] != 0 { gx?[p[1]] += g[o] } else { gy?[p[2]] += g[o] }
        }
    }
}

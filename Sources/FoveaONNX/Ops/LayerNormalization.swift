import FoveaTensor

/// LayerNormalization over the dimensions from `axis` on: y = (x - μ)/σ · scale + bias.
/// Backward: gx = (1/σ)·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = gy·scale; gscale = Σ gy·x̂; gbias = Σ gy.
final class LayerNormalizationOp: Operator {
    let ctx: OpContext
    let axis: Int
    let epsilon: Float
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        axis = try ctx.int("axis", -1)
        epsilon = try ctx.float("epsilon", 1e-5)
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0], let s = i[1] else { throw ctx.shapeError("needs X and Scale") }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < x.shape.count else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        let inner = Array(x.shape[ax...]).product
        guard s.count == inner || broadcastShapes(Array(x.shape[ax...]), s.shape) != nil else {
            throw ctx.shapeError("scale \(s.shape) does not match the normalised shape \(Array(x.shape[ax...]))")
        }
        let stat = Array(x.shape[..<ax]) + [Int](repeating: 1, count: x.shape.count - ax)
        return [x, TensorDesc(stat), TensorDesc(stat)].prefix(max(1, ctx.node.outputs.count)).map { $0 }
    }
    func split(_ s: [Int]) -> (Int, Int) {
        let ax = normAxis(axis, s.count)
        return (Array(s[..<ax]).product, Array(s[ax...]).product)
    }
    @inline(__always) func stats(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var mean: Float = 0
        for k in 0..<n { mean += x[k] }
        mean /= Float(n)
        var v: Float = 0
        for k in 0..<n { let d = x[k] - mean; v += d * d }
        return (mean, 1 / (v / Float(n) + epsilon).squareRoot())
    }
    func forward(_ a: ForwardArgs) {
        let (rows, n) = split(a.x.shape)
        let x = a.x.f32, y = a.y.f32, sc = a.input(1).f32
        let b: UnsafeMutablePointer<Float>? = a.has(2) ? a.input(2).f32 : nil
        let scN = a.input(1).count, bN = a.has(2) ? a.input(2).count : 0
        for r in 0..<rows {
            let xr = x + r * n, yr = y + r * n
            let (mean, inv) = stats(xr, n)
            for k in 0..<n { yr[k] = (xr[k] - mean) * inv * sc[k % scN] + (b.map { $0[k % bN] } ?? 0) }
            if a.outputs.count > 1 { a.outputs[1].f32[r] = mean }
            if a.outputs.count > 2 { a.outputs[2].f32[r] = inv }
        }
    }
    func backward(_ a: BackwardArgs) {
        let (rows, n) = split(a.x.shape)
        let x = a.x.f32, gy = a.gy.f32, sc = a.input(1).f32, scN = a.input(1).count
        let gx = a.gx(0), gs = a.gx(1), gb = a.gx(2)
        for r in 0..<rows {
            let xr = x + r * n, gr = gy + r * n
            let (mean, inv) = stats(xr, n)
            var m1: Float = 0, m2: Float = 0
            for k in 0..<n {
                let xh = (xr[k] - mean) * inv
                let gh = gr[k] * sc[k % scN]
                m1 += gh; m2 += gh * xh
                if let gs { gs.f32[k % scN] += gr[k] * xh }
                if let gb { gb.f32[k % gb.count] += gr[k] }
            }
            m1 /= Float(n); m2 /= Float(n)
            if let gx {
                let o = gx.f32 + r * n
                for k in 0..<n {
                    let xh = (xr[k] - mean) * inv
                    o[k] += inv * (gr[k] * sc[k % scN] - m1 - xh * m2)
                }
            }
        }
    }
}

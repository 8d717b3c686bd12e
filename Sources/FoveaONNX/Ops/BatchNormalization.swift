import FoveaTensor

/// BatchNormalization in inference mode (when not folded into a Conv):
/// y = scale · (x - mean)/√(var + ε) + bias per channel (axis 1). Backward w.r.t. x, scale and bias.
final class BatchNormalizationOp: Operator {
    let ctx: OpContext
    let epsilon: Float
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        epsilon = try ctx.float("epsilon", 1e-5)
        if try ctx.int("training_mode", 0) != 0 { throw ctx.unsupported("training_mode = 1 is not supported (inference only)") }
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard i.count >= 5, let x = i[0], x.shape.count >= 2 else { throw ctx.shapeError("needs X (rank >= 2), scale, B, mean, var") }
        for k in 1...4 where i[k]?.count != x.shape[1] {
            throw ctx.shapeError("input \(k) must have \(x.shape[1]) values")
        }
        return [x]
    }
    func geometry(_ s: [Int]) -> (Int, Int, Int) { (s[0], s[1], Array(s[2...]).product) }
    func forward(_ a: ForwardArgs) {
        let (n, c, hw) = geometry(a.x.shape)
        let x = a.x.f32, y = a.y.f32
        let sc = a.input(1).f32, b = a.input(2).f32, mu = a.input(3).f32, v = a.input(4).f32
        for ni in 0..<n { for ci in 0..<c {
            let s = sc[ci] / (v[ci] + epsilon).squareRoot(), t = b[ci] - mu[ci] * s
            let base = (ni * c + ci) * hw
            for k in 0..<hw { y[base + k] = x[base + k] * s + t }
        } }
    }
    func backward(_ a: BackwardArgs) {
        let (n, c, hw) = geometry(a.x.shape)
        let x = a.x.f32, gy = a.gy.f32
        let sc = a.input(1).f32, mu = a.input(3).f32, v = a.input(4).f32
        for ni in 0..<n { for ci in 0..<c {
            let inv = 1 / (v[ci] + epsilon).squareRoot()
            let base = (ni * c + ci) * hw
            if let gx = a.gx(0) { for k in 0..<hw { gx.f32[base + k] += gy[base + k] * sc[ci] * inv } }
            if let gs = a.gx(1) { var s: Float = 0; for k in 0..<hw { s += gy[base + k] * (x[base + k] - mu[ci]) * inv }; gs.f32[ci] += s }
            if let gb = a.gx(2) { gb.f32[ci] += vsum(gy + base, hw) }
        } }
    }
}

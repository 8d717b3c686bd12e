import FoveaTensor

/// GlobalAveragePool: mean over all spatial positions → [N, C, 1, 1]; backward spreads gy/HW.
final class GlobalAveragePoolOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0], x.shape.count >= 3 else { throw ctx.shapeError("needs an input of rank >= 3") }
        return [TensorDesc(Array(x.shape[..<2]) + [Int](repeating: 1, count: x.shape.count - 2))]
    }
    func forward(_ a: ForwardArgs) {
        let nc = a.x.shape[0] * a.x.shape[1], hw = a.x.count / max(nc, 1)
        let x = a.x.f32, y = a.y.f32, inv = 1 / Float(hw)
        for i in 0..<nc {
            y[i] = vsum(x + i * hw, hw) * inv
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let gx = a.gx(0) else { return }
        let nc = a.x.shape[0] * a.x.shape[1], hw = a.x.count / max(nc, 1)
        let gy = a.gy.f32, g = gx.f32, inv = 1 / Float(hw)
        for i in 0..<nc {
            let v = gy[i] * inv
            let r = g + i * hw
            for k in 0..<hw { r[k] += v }
        }
    }
}

import FoveaTensor

/// Output descriptor of an elementwise op: same as its input.
func sameDesc(_ ctx: OpContext, _ inputs: [TensorDesc?]) throws -> [TensorDesc] {
    guard let x = inputs.first ?? nil else { throw ctx.shapeError("missing input") }
    return [x]
}

extension BackwardArgs {
    /// Applies a replacement rule for this activation type when one is registered; true if it did.
    func applyRule(_ opType: String) -> Bool {
        guard let rule = rules.unary[opType], let gx = gx(0) else { return false }
        rule(UnaryGrad(x: x.f32, y: y.f32, gy: gy.f32, gx: gx.f32, count: y.count))
        return true
    }
}

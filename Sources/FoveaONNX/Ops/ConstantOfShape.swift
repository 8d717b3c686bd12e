import FoveaTensor

/// ConstantOfShape: a tensor of the given shape filled with `value` (default float 0).
final class ConstantOfShapeOp: Operator {
    let ctx: OpContext
    let value: Tensor
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        value = try ctx.tensor("value") ?? Tensor(shape: [1], floats: [0])
    }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let s = constants[0] else { throw ctx.needsConstant("the shape input") }
        guard s.ints.allSatisfy({ $0 >= 0 }) else { throw ctx.shapeError("negative dimension in \(s.ints)") }
        return [TensorDesc(s.ints, value.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let n = a.y.count
        switch value.dtype {
        case .float32: a.y.f32.update(repeating: value.f32[0], count: n)
        case .int64: a.y.i64.update(repeating: value.i64[0], count: n)
        case .bool: a.y.u8.update(repeating: value.u8[0], count: n)
        }
    }
    func backward(_ a: BackwardArgs) {}
}

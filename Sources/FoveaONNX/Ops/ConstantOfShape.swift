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
        let es = value.dtype.byteSize
        for k in 0..<a.y.count { (a.y.raw + k * es).copyMemory(from: value.raw, byteCount: es) }
    }
    func backward(_ a: BackwardArgs) {}
}

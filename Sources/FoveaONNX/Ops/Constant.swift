import FoveaTensor

/// Constant: a tensor (or scalar/list attribute) value. The passes turn these into initializers.
final class ConstantOp: Operator {
    let ctx: OpContext
    let value: Tensor
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        guard let v = ConstantOp.value(of: ctx.node) else {
            throw ctx.unsupported("needs a value, value_float(s) or value_int(s) attribute")
        }
        value = v
    }
    static func value(of n: Node) -> Tensor? {
        switch (n.attributes["value"], n.attributes["value_float"], n.attributes["value_floats"],
                n.attributes["value_int"], n.attributes["value_ints"]) {
        case (.tensor(let t)?, _, _, _, _): return t
        case (_, .float(let f)?, _, _, _): return Tensor(shape: [], floats: [f])
        case (_, _, .floats(let f)?, _, _): return Tensor(shape: [f.count], floats: f)
        case (_, _, _, .int(let i)?, _): return Tensor(shape: [], int64s: [Int64(i)])
        case (_, _, _, _, .ints(let i)?): return Tensor(shape: [i.count], int64s: i.map { Int64($0) })
        default: return nil
        }
    }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [TensorDesc(value.shape, value.dtype)] }
    func forward(_ a: ForwardArgs) { a.y.copy(from: value) }
    func backward(_ a: BackwardArgs) {}
}

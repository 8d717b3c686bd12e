import FoveaTensor

/// Mul: z = a · b with numpy broadcasting. ∂z/∂a = b, ∂z/∂b = a.
final class MulOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [try broadcastDesc(ctx, i)] }
    func forward(_ a: ForwardArgs) { binaryForward(a, { $0 * $1 }, { $0 &* $1 }) }
    func backward(_ a: BackwardArgs) { binaryBackward(a, da: { _, b, _ in b }, db: { x, _, _ in x }) }
}

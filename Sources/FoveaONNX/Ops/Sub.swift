import FoveaTensor

/// Sub: z = a - b with numpy broadcasting.
final class SubOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [try broadcastDesc(ctx, i)] }
    func forward(_ a: ForwardArgs) { binaryForward(a, { $0 - $1 }, { $0 &- $1 }) }
    func backward(_ a: BackwardArgs) { binaryBackward(a, da: { _, _, _ in 1 }, db: { _, _, _ in -1 }) }
}

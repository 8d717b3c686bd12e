import FoveaTensor

/// And: logical and of two bool tensors with broadcasting.
final class AndOp: BoolBinaryOp {
    init(_ ctx: OpContext) { super.init(ctx, boolInputs: true) }
    override func forward(_ a: ForwardArgs) { compareForward(a, { _, _ in false }, { $0 != 0 && $1 != 0 }) }
}

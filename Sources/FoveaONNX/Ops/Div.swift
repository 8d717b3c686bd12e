import FoveaTensor

/// Div: z = a / b with numpy broadcasting (integer division truncates, as ONNX says).
/// ∂z/∂a = 1/b, ∂z/∂b = -a/b².
final class DivOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [try broadcastDesc(ctx, i)] }
    func forward(_ a: ForwardArgs) { binaryForward(a, { $0 / $1 }, { $1 == 0 ? 0 : $0 / $1 }) }
    func backward(_ a: BackwardArgs) { binaryBackward(a, da: { _, b, _ in 1 / b }, db: { x, b, _ in -x / (b * b) }) }
}

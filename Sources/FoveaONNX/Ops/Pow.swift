import Foundation
import FoveaTensor

/// Pow: z = a ^ b with numpy broadcasting. ∂z/∂a = b·a^(b-1), ∂z/∂b = z·ln(a) (0 where a <= 0).
final class PowOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputsAndOutputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [try broadcastDesc(ctx, i)] }
    func forward(_ a: ForwardArgs) {
        binaryForward(a, { x, e in e == 2 ? x * x : powf(x, e) }, { x, e in
            var r: Int64 = 1
            for _ in 0..<max(e, 0) { r &*= x }
            return r
        })
    }
    func backward(_ a: BackwardArgs) {
        binaryBackward(a, da: { x, e, _ in e == 2 ? 2 * x : e * powf(x, e - 1) },
                       db: { x, _, z in x > 0 ? z * logf(x) : 0 })
    }
}

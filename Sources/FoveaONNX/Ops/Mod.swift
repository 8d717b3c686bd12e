import Foundation
import FoveaTensor

/// Mod with broadcasting: fmod = 0 takes the divisor's sign (Python's %), fmod = 1 the dividend's (C fmod).
/// Integer division by zero gives 0 rather than a trap.
final class ModOp: Operator {
    let ctx: OpContext
    let fmod: Bool
    init(_ ctx: OpContext) throws { self.ctx = ctx; fmod = try ctx.int("fmod", 0) != 0 }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { [try broadcastDesc(ctx, i)] }
    func forward(_ a: ForwardArgs) {
        let c = fmod
        binaryForward(a, { x, y in
            let r = fmodf(x, y)
            return !c && r != 0 && (r < 0) != (y < 0) ? r + y : r
        }, { x, y in
            if y == 0 { return 0 }
            let r = x % y
            return !c && r != 0 && (r < 0) != (y < 0) ? r + y : r
        })
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

import FoveaTensor

/// Greater: z = a > b elementwise with broadcasting (float32, int64 or bool inputs), bool output.
final class GreaterOp: BoolBinaryOp {
    override func forward(_ a: ForwardArgs) { compareForward(a, { $0 > $1 }, { $0 > $1 }) }
}

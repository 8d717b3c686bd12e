import FoveaTensor

/// GreaterOrEqual: z = a >= b elementwise with broadcasting (float32, int64 or bool inputs), bool output.
final class GreaterOrEqualOp: BoolBinaryOp {
    override func forward(_ a: ForwardArgs) { compareForward(a, { $0 >= $1 }, { $0 >= $1 }) }
}

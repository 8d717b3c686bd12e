import FoveaTensor

/// Max of any number of inputs with broadcasting (float32 or int64). Forward only.
final class MaxOp: VariadicFoldOp {
    override func foldF(_ a: Float, _ b: Float) -> Float { Swift.max(a, b) }
    override func foldI(_ a: Int64, _ b: Int64) -> Int64 { Swift.max(a, b) }
}

import FoveaTensor

/// Min of any number of inputs with broadcasting (float32 or int64). Forward only.
final class MinOp: VariadicFoldOp {
    override func foldF(_ a: Float, _ b: Float) -> Float { Swift.min(a, b) }
    override func foldI(_ a: Int64, _ b: Int64) -> Int64 { Swift.min(a, b) }
}

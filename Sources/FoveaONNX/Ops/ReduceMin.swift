import FoveaTensor

/// ReduceMin over axes (float32 or int64); an empty reduction gives the type's highest value. Forward only.
final class ReduceMinOp: ReduceFoldOp {
    override var identityF: Float { .infinity }
    override var identityI: Int64 { .max }
    override func foldF(_ a: Float, _ b: Float) -> Float { b.isNaN ? b : Swift.min(a, b) }
    override func foldI(_ a: Int64, _ b: Int64) -> Int64 { Swift.min(a, b) }
}

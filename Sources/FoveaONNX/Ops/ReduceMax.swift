import FoveaTensor

/// ReduceMax over axes (float32 or int64); an empty reduction gives the type's lowest value. Forward only.
final class ReduceMaxOp: ReduceFoldOp {
    override var identityF: Float { -.infinity }
    override var identityI: Int64 { .min }
    override func foldF(_ a: Float, _ b: Float) -> Float { b.isNaN ? b : Swift.max(a, b) }
    override func foldI(_ a: Int64, _ b: Int64) -> Int64 { Swift.max(a, b) }
}

import FoveaTensor

/// ReduceProd over axes (float32 or int64; integer products wrap). Forward only.
final class ReduceProdOp: ReduceFoldOp {
    override var identityF: Float { 1 }
    override var identityI: Int64 { 1 }
    override func foldF(_ a: Float, _ b: Float) -> Float { a * b }
    override func foldI(_ a: Int64, _ b: Int64) -> Int64 { a &* b }
}

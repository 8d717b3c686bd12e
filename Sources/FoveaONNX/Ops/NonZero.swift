import FoveaTensor

/// NonZero: the [rank, count] int64 coordinates of the non-zero elements, in row-major order. Its
/// shape depends on the values.
final class NonZeroOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var differentiable: Bool { false }
    static func isNonZero(_ x: Tensor, _ k: Int) -> Bool {
        switch x.dtype {
        case .float32: return x.f32[k] != 0
        case .int64: return x.i64[k] != 0
        case .bool: return x.u8[k] != 0
        }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        guard let c = constants[0] else { throw ctx.needsConstant("the number of non-zero elements") }
        var n = 0
        for k in 0..<c.count where NonZeroOp.isNonZero(c, k) { n += 1 }
        return [TensorDesc([max(x.shape.count, 1), n], .int64)]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y, n = y.shape[1]
        let st = contiguousStrides(x.shape)
        var j = 0
        for k in 0..<x.count where NonZeroOp.isNonZero(x, k) {
            if x.rank == 0 { y.i64[j] = 0 }
            var rem = k
            for d in 0..<x.rank {
                y.i64[d * n + j] = Int64(rem / st[d])
                rem %= st[d]
            }
            j += 1
        }
    }
    func backward(_ a: BackwardArgs) throws {}
}

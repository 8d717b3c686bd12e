import FoveaTensor

/// Cast between float32, int64 (all integer types) and bool. Float gradients pass through float→float.
final class CastOp: Operator {
    let ctx: OpContext
    let to: DType
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        let code = try ctx.int("to", 1)
        guard let t = ONNXImport.dtypeFor(code) else { throw ctx.unsupported("cast to data type \(code) is not supported") }
        to = t
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        return [TensorDesc(x.shape, to)]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y, n = y.count
        switch (x.dtype, to) {
        case (.float32, .float32), (.int64, .int64), (.bool, .bool): copyAll(x, y)
        case (.float32, .int64): for i in 0..<n { y.i64[i] = Int64(x.f32[i].isFinite ? x.f32[i] : 0) }
        case (.float32, .bool): for i in 0..<n { y.u8[i] = x.f32[i] != 0 ? 1 : 0 }
        case (.int64, .float32): for i in 0..<n { y.f32[i] = Float(x.i64[i]) }
        case (.int64, .bool): for i in 0..<n { y.u8[i] = x.i64[i] != 0 ? 1 : 0 }
        case (.bool, .float32): for i in 0..<n { y.f32[i] = Float(x.u8[i]) }
        case (.bool, .int64): for i in 0..<n { y.i64[i] = Int64(x.u8[i]) }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0), a.x.dtype == .float32, to == .float32 else { return }
        addAll(a.gy, into: g)
    }
}

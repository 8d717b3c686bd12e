import FoveaTensor

/// Forward-only ops say so when a gradient is asked for through them.
func noBackward(_ ctx: OpContext) -> EngineError {
    .gradient("'\(ctx.node.opType)' (node '\(ctx.node.label)') has no backward: it is forward only")
}

/// Strides of `shape` read as if broadcast to `out` (0 on broadcast axes), numpy rules.
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let pad = out.count - shape.count
    let st = contiguousStrides(shape)
    return out.indices.map { k in
        k < pad ? 0 : (shape[k - pad] == 1 && out[k] != 1 ? 0 : st[k - pad])
    }
}

/// Visits every output element of an N-way broadcast with the flat index of each input.
func broadcastWalk(out: [Int], inputs: [[Int]], _ body: (Int, [Int]) -> Void) {
    let n = out.product
    if n == 0 { return }
    let strides = inputs.map { broadcastStrides($0, to: out) }
    var idx = [Int](repeating: 0, count: out.count)
    var pos = [Int](repeating: 0, count: inputs.count)
    for o in 0..<n {
        body(o, pos)
        var d = out.count - 1
        while d >= 0 {
            idx[d] += 1
            for k in 0..<pos.count { pos[k] += strides[k][d] }
            if idx[d] < out[d] { break }
            for k in 0..<pos.count { pos[k] -= strides[k][d] * out[d] }
            idx[d] = 0
            d -= 1
        }
    }
}

/// Comparison of two tensors of the same type (float32, int64 or bool) into a bool tensor.
@inline(__always)
func compareForward(_ a: ForwardArgs, _ f: (Float, Float) -> Bool, _ fi: (Int64, Int64) -> Bool) {
    let x = a.input(0), y = a.input(1), z = a.y.u8
    switch x.dtype {
    case .float32:
        let px = x.f32, py = y.f32
        broadcastRuns(out: a.y.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            for k in 0..<n { z[o + k] = f(px[ia + k * sa], py[ib + k * sb]) ? 1 : 0 }
        }
    case .int64:
        let px = x.i64, py = y.i64
        broadcastRuns(out: a.y.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            for k in 0..<n { z[o + k] = fi(px[ia + k * sa], py[ib + k * sb]) ? 1 : 0 }
        }
    case .bool:
        let px = x.u8, py = y.u8
        broadcastRuns(out: a.y.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            for k in 0..<n { z[o + k] = fi(Int64(px[ia + k * sa]), Int64(py[ib + k * sb])) ? 1 : 0 }
        }
    }
}

/// A comparison or logical op: bool output of the broadcast shape; no gradient passes.
class BoolBinaryOp: Operator {
    let ctx: OpContext
    let boolInputs: Bool
    init(_ ctx: OpContext, boolInputs: Bool = false) { self.ctx = ctx; self.boolInputs = boolInputs }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        let d = try broadcastDesc(ctx, i, dtype: .bool)
        guard i[0]!.dtype == i[1]!.dtype else {
            throw ctx.shapeError("inputs have different types (\(i[0]!.dtype), \(i[1]!.dtype))")
        }
        if boolInputs && i[0]!.dtype != .bool { throw ctx.shapeError("inputs must be bool, got \(i[0]!.dtype)") }
        return [d]
    }
    func forward(_ a: ForwardArgs) { fatalError("subclass") }
    func backward(_ a: BackwardArgs) throws {}
}

/// An elementwise float op without a useful gradient (Floor, Ceil): no gradient passes.
class FloatUnaryOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var differentiable: Bool { false }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        let d = try sameDesc(ctx, i)
        guard d[0].dtype == .float32 else { throw ctx.shapeError("input must be float, got \(d[0].dtype)") }
        return d
    }
    func apply(_ x: Float) -> Float { x }
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32
        for i in 0..<a.y.count { y[i] = apply(x[i]) }
    }
    func backward(_ a: BackwardArgs) throws {}
}

/// Min/Max: a fold over any number of inputs with broadcasting (float32 or int64; NaN wins). Forward only.
class VariadicFoldOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    func foldF(_ a: Float, _ b: Float) -> Float { a }
    func foldI(_ a: Int64, _ b: Int64) -> Int64 { a }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let first = i.first ?? nil else { throw ctx.shapeError("needs at least one input") }
        var s = first.shape
        for d in i.dropFirst() {
            guard let d, d.dtype == first.dtype else { throw ctx.shapeError("inputs must share one type") }
            guard let b = broadcastShapes(s, d.shape) else { throw ctx.shapeError("shapes \(s) and \(d.shape) do not broadcast") }
            s = b
        }
        return [TensorDesc(s, first.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let z = a.y
        stridedCopy(from: a.x, broadcastLayout(a.x.shape, z.shape), to: z, dense(z.shape), shape: z.shape)
        for k in 1..<a.inputs.count {
            let x = a.input(k)
            if z.dtype == .int64 {
                let pz = z.i64, px = x.i64
                broadcastRuns(out: z.shape, a: z.shape, b: x.shape) { o, _, ib, n, _, sb in
                    for j in 0..<n { pz[o + j] = foldI(pz[o + j], px[ib + j * sb]) }
                }
            } else {
                let pz = z.f32, px = x.f32
                broadcastRuns(out: z.shape, a: z.shape, b: x.shape) { o, _, ib, n, _, sb in
                    for j in 0..<n { let v = px[ib + j * sb]; pz[o + j] = v.isNaN ? v : foldF(pz[o + j], v) }
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

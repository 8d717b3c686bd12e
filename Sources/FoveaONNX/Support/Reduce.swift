import FoveaTensor

/// Axes handling shared by the Reduce ops: axes as attribute (older opsets) or input (ReduceSum 13+,
/// the others 18+), keepdims, noop_with_empty_axes.
struct ReduceAttributes {
    let attrAxes: [Int]?
    let keepDims: Bool
    let noopWithEmptyAxes: Bool
    init(_ ctx: OpContext) throws {
        attrAxes = try ctx.ints("axes")
        keepDims = try ctx.int("keepdims", 1) != 0
        noopWithEmptyAxes = try ctx.int("noop_with_empty_axes", 0) != 0
    }
    /// The reduced axes (sorted, non-negative) for an input shape.
    func axes(_ ctx: OpContext, _ x: [Int], _ constants: [Tensor?], _ i: [TensorDesc?]) throws -> [Int] {
        var ax = attrAxes
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("axes") }
            ax = c.ints
        }
        if ax == nil || ax!.isEmpty { return noopWithEmptyAxes ? [] : Array(0..<x.count) }
        let r = ax!.map { normAxis($0, x.count) }
        guard r.allSatisfy({ $0 >= 0 && $0 < x.count }) else { throw ctx.shapeError("axes \(ax!) out of range for \(x)") }
        return Array(Set(r)).sorted()
    }
    func outShape(_ x: [Int], _ axes: [Int]) -> [Int] {
        keepDims ? x.indices.map { axes.contains($0) ? 1 : x[$0] } : x.indices.filter { !axes.contains($0) }.map { x[$0] }
    }
    /// Layout that maps the input index space onto the (keepdims) output: stride 0 on reduced axes.
    func outLayout(_ x: [Int], _ axes: [Int]) -> (offset: Int, strides: [Int]) {
        let kept = x.indices.map { axes.contains($0) ? 1 : x[$0] }
        let st = contiguousStrides(kept)
        return (0, x.indices.map { axes.contains($0) ? 0 : st[$0] })
    }
}

/// Sum (scaled) of x over axes into y, and its adjoint.
func reduceSum(_ x: Tensor, _ y: Tensor, axes: [Int], attrs: ReduceAttributes, scale: Float) {
    y.zero()
    stridedAdd(from: x.f32, dense(x.shape), to: y.f32, attrs.outLayout(x.shape, axes), shape: x.shape)
    if scale != 1 { for i in 0..<y.count { y.f32[i] *= scale } }
}

/// ReduceMax/Min/Prod: one fold over the reduced axes for float32 and int64 inputs. Forward only.
class ReduceFoldOp: Operator {
    let ctx: OpContext
    let attrs: ReduceAttributes
    init(_ ctx: OpContext) throws { self.ctx = ctx; attrs = try ReduceAttributes(ctx) }
    var identityF: Float { 0 }
    var identityI: Int64 { 0 }
    func foldF(_ a: Float, _ b: Float) -> Float { a }
    func foldI(_ a: Int64, _ b: Int64) -> Int64 { a }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        guard x.dtype != .bool else { throw ctx.shapeError("bool input is not supported") }
        return [TensorDesc(attrs.outShape(x.shape, try attrs.axes(ctx, x.shape, constants, i)), x.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y
        let ax = try! attrs.axes(ctx, x.shape, a.inputs, a.inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } })
        let l = attrs.outLayout(x.shape, ax)
        if x.dtype == .int64 {
            let px = x.i64, py = y.i64
            for k in 0..<y.count { py[k] = identityI }
            stridedRuns(x.shape, src: dense(x.shape), dst: l) { si, di, n, ss, ds in
                for k in 0..<n { py[di + k * ds] = foldI(py[di + k * ds], px[si + k * ss]) }
            }
        } else {
            let px = x.f32, py = y.f32
            for k in 0..<y.count { py[k] = identityF }
            stridedRuns(x.shape, src: dense(x.shape), dst: l) { si, di, n, ss, ds in
                for k in 0..<n { py[di + k * ds] = foldF(py[di + k * ds], px[si + k * ss]) }
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

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
            guard let c = constants[1] else { throw ctx.shapeError("axes must be constant") }
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

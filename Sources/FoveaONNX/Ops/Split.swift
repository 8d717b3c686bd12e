import FoveaTensor

/// Split along an axis into parts given by `split` (attribute before opset 13, input after) or equal parts.
final class SplitOp: Operator {
    let ctx: OpContext
    let axis: Int
    let attrSplit: [Int]?
    let numOutputs: Int
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        axis = try ctx.int("axis", 0)
        attrSplit = try ctx.ints("split")
        numOutputs = try ctx.int("num_outputs", ctx.node.outputs.count)
    }
    func sizes(_ x: TensorDesc, _ constants: [Tensor?], _ i: [TensorDesc?]) throws -> [Int] {
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < x.shape.count else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("split sizes") }
            return c.ints
        }
        if let s = attrSplit { return s }
        let n = max(numOutputs, 1), d = x.shape[ax]
        let chunk = (d + n - 1) / n
        return (0..<n).map { k in max(0, min(chunk, d - k * chunk)) }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let ax = normAxis(axis, x.shape.count)
        let s = try sizes(x, constants, i)
        guard s.reduce(0, +) == x.shape[ax] else { throw ctx.shapeError("split \(s) does not add up to \(x.shape[ax])") }
        return s.map { var sh = x.shape; sh[ax] = $0; return TensorDesc(sh, x.dtype) }
    }
    func forward(_ a: ForwardArgs) {
        let ax = normAxis(axis, a.x.rank)
        let xs = contiguousStrides(a.x.shape)
        var off = 0
        for y in a.outputs {
            stridedCopy(from: a.x, (off * xs[ax], xs), to: y, dense(y.shape), shape: y.shape)
            off += y.shape[ax]
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let ax = normAxis(axis, a.x.rank)
        let xs = contiguousStrides(a.x.shape)
        var off = 0
        for (k, y) in a.outputs.enumerated() {
            if let gy = a.gradOutputs[k] { stridedAdd(from: gy.f32, dense(y.shape), to: g.f32, (off * xs[ax], xs), shape: y.shape) }
            off += y.shape[ax]
        }
    }
}

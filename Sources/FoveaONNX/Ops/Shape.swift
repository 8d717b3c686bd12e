import FoveaTensor

/// Shape: the input's dimensions as int64 (start/end from opset 15). Always folded while planning.
final class ShapeOp: Operator {
    let ctx: OpContext
    let start: Int, end: Int?
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        start = try ctx.int("start", 0)
        end = ctx.node.attributes["end"] != nil ? try ctx.int("end", 0) : nil
    }
    var differentiable: Bool { false }
    func range(_ r: Int) -> Range<Int> {
        let s = min(max(normAxis(start, r), 0), r)
        let e = min(max(end.map { normAxis($0, r) } ?? r, 0), r)
        return s..<max(s, e)
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        return [TensorDesc([range(x.shape.count).count], .int64)]
    }
    func forward(_ a: ForwardArgs) {
        for (k, d) in range(a.x.rank).enumerated() { a.y.i64[k] = Int64(a.x.shape[d]) }
    }
    func backward(_ a: BackwardArgs) {}
}

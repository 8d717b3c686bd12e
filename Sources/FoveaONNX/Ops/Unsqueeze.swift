import FoveaTensor

/// Unsqueeze: inserts size-1 dimensions at the given output axes (attribute before opset 13).
final class UnsqueezeOp: Operator {
    let ctx: OpContext
    let attrAxes: [Int]?
    init(_ ctx: OpContext) throws { self.ctx = ctx; attrAxes = try ctx.ints("axes") }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        var axes = attrAxes
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("axes") }
            axes = c.ints
        }
        guard let ax = axes else { throw ctx.shapeError("no axes") }
        let r = x.shape.count + ax.count
        let ins = Set(ax.map { normAxis($0, r) })
        guard ins.count == ax.count, ins.allSatisfy({ $0 >= 0 && $0 < r }) else { throw ctx.shapeError("bad axes \(ax)") }
        var out: [Int] = []
        var k = 0
        for d in 0..<r {
            if ins.contains(d) { out.append(1) } else { out.append(x.shape[k]); k += 1 }
        }
        return [TensorDesc(out, x.dtype)]
    }
    func forward(_ a: ForwardArgs) { copyAll(a.x, a.y) }
    func backward(_ a: BackwardArgs) { if let g = a.gx(0) { addAll(a.gy, into: g) } }
}

import FoveaTensor

/// TopK along an axis: values and int64 indices, largest or smallest first; ties keep the lower index
/// first (as onnxruntime does). k is an input (opset 10+) or attribute; a computed k makes the shape
/// data-dependent. Backward routes gradients to the chosen positions.
final class TopKOp: Operator {
    let ctx: OpContext
    let axis: Int, largest: Bool, attrK: Int?
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        axis = try ctx.int("axis", -1)
        largest = try ctx.int("largest", 1) != 0
        attrK = ctx.node.attributes["k"] == nil ? nil : try ctx.int("k", 0)
    }
    func k(_ constants: [Tensor?], _ i: [TensorDesc?]) throws -> Int {
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("k") }
            guard c.count == 1 else { throw ctx.shapeError("k must hold one value") }
            return c.ints[0]
        }
        guard let k = attrK else { throw ctx.shapeError("needs k") }
        return k
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let ax = normAxis(axis, x.shape.count)
        guard ax >= 0 && ax < x.shape.count else { throw ctx.shapeError("axis \(axis) out of range for \(x.shape)") }
        let kk = try k(constants, i)
        guard kk >= 0 && kk <= x.shape[ax] else { throw ctx.shapeError("k = \(kk) is outside 0...\(x.shape[ax])") }
        var s = x.shape
        s[ax] = kk
        return [TensorDesc(s, x.dtype), TensorDesc(s, .int64)]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.outputs[0], ind = a.outputs[1]
        let ax = normAxis(axis, x.rank)
        let d = x.shape[ax], kk = y.shape[ax]
        let outer = Array(x.shape[..<ax]).product, inner = Array(x.shape[(ax + 1)...]).product
        var order = [Int](repeating: 0, count: d)
        var vals = [Float](repeating: 0, count: d)
        for o in 0..<outer {
            for i in 0..<inner {
                for j in 0..<d {
                    let src = (o * d + j) * inner + i
                    vals[j] = x.dtype == .int64 ? Float(x.i64[src]) : x.f32[src]
                    order[j] = j
                }
                if x.dtype == .int64 {
                    let xi = x.i64 + o * d * inner + i
                    if largest { order.sort { xi[$0 * inner] != xi[$1 * inner] ? xi[$0 * inner] > xi[$1 * inner] : $0 < $1 } }
                    else { order.sort { xi[$0 * inner] != xi[$1 * inner] ? xi[$0 * inner] < xi[$1 * inner] : $0 < $1 } }
                } else {
                    // NaN sorts as the largest value
                    if largest { order.sort { vals[$0] != vals[$1] ? (vals[$0] > vals[$1] || vals[$0].isNaN) : $0 < $1 } }
                    else { order.sort { vals[$0] != vals[$1] ? (vals[$0] < vals[$1] || vals[$1].isNaN) : $0 < $1 } }
                }
                for j in 0..<kk {
                    let dst = (o * kk + j) * inner + i, src = (o * d + order[j]) * inner + i
                    if x.dtype == .int64 { y.i64[dst] = x.i64[src] } else { y.f32[dst] = x.f32[src] }
                    ind.i64[dst] = Int64(order[j])
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0), let gy = a.gradOutputs[0] else { return }
        let x = a.x, ind = a.outputs[1]
        let ax = normAxis(axis, x.rank)
        let d = x.shape[ax], kk = ind.shape[ax]
        let outer = Array(x.shape[..<ax]).product, inner = Array(x.shape[(ax + 1)...]).product
        for o in 0..<outer { for j in 0..<kk { for i in 0..<inner {
            let dst = (o * kk + j) * inner + i
            g.f32[(o * d + Int(ind.i64[dst])) * inner + i] += gy.f32[dst]
        } } }
    }
}

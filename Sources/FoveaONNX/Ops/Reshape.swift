import FoveaTensor

/// Reshape: the data unchanged under a new shape (0 copies a dimension unless allowzero, -1 infers one).
final class ReshapeOp: Operator {
    let ctx: OpContext
    let allowZero: Bool
    init(_ ctx: OpContext) throws { self.ctx = ctx; allowZero = try ctx.int("allowzero", 0) != 0 }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing data input") }
        var target: [Int]
        if i.count > 1, i[1] != nil {
            guard let s = constants[1] else { throw ctx.needsConstant("the target shape") }
            target = s.ints
        } else if let s = try ctx.ints("shape") {
            target = s
        } else { throw ctx.shapeError("no target shape") }
        for (k, v) in target.enumerated() where v == 0 && !allowZero {
            guard k < x.shape.count else { throw ctx.shapeError("0 at position \(k) but the input has rank \(x.shape.count)") }
            target[k] = x.shape[k]
        }
        let known = target.filter { $0 != -1 }.product
        if let m = target.firstIndex(of: -1) {
            guard target.filter({ $0 == -1 }).count == 1, known > 0, x.count % known == 0 else {
                throw ctx.shapeError("cannot reshape \(x.shape) to \(target)")
            }
            target[m] = x.count / known
        }
        guard target.product == x.count, !target.contains(where: { $0 < 0 }) else {
            throw ctx.shapeError("cannot reshape \(x.shape) (\(x.count) values) to \(target)")
        }
        return [TensorDesc(target, x.dtype)]
    }
    func forward(_ a: ForwardArgs) { copyAll(a.x, a.y) }
    func backward(_ a: BackwardArgs) { if let g = a.gx(0) { addAll(a.gy, into: g) } }
}

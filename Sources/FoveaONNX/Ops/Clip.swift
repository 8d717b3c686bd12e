import FoveaTensor

/// Clip: y = min(max(x, lo), hi) (ReLU6 is Clip(0, 6)); gx += gy where lo < x < hi.
/// Bounds are attributes before opset 11 and optional inputs from 11 on.
final class ClipOp: Operator {
    let ctx: OpContext
    let attrLo: Float, attrHi: Float
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        attrLo = try ctx.float("min", -Float.greatestFiniteMagnitude)
        attrHi = try ctx.float("max", Float.greatestFiniteMagnitude)
    }
    var saves: Saves { .outputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    func bounds(_ a: ForwardArgs) -> (Float, Float) {
        (a.has(1) ? a.input(1).scalarFloat : attrLo, a.has(2) ? a.input(2).scalarFloat : attrHi)
    }
    func forward(_ a: ForwardArgs) {
        let (lo, hi) = bounds(a)
        if a.y.dtype == .int64 {
            for i in 0..<a.y.count { a.y.i64[i] = min(max(a.x.i64[i], Int64(lo)), Int64(hi)) }
            return
        }
        let x = a.x.f32, y = a.y.f32
        for i in 0..<a.y.count { y[i] = min(max(x[i], lo), hi) }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("Clip") { return }
        guard let gx = a.gx(0) else { return }
        let lo = a.inputs.count > 1 && a.inputs[1] != nil ? a.input(1).scalarFloat : attrLo
        let hi = a.inputs.count > 2 && a.inputs[2] != nil ? a.input(2).scalarFloat : attrHi
        ClipOp.standardBackward(y: a.y.f32, gy: a.gy.f32, gx: gx.f32, count: a.y.count, lo: lo, hi: hi)
    }
    static func standardBackward(y: UnsafePointer<Float>, gy: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>,
                                 count: Int, lo: Float, hi: Float) {
        for i in 0..<count { gx[i] += (y[i] > lo && y[i] < hi) ? gy[i] : 0 }  // branchless: vectorises
    }

    /// The same, writing gx instead of adding into it (a fused Conv's own scratch).
    static func standardBackwardSet(y: UnsafePointer<Float>, gy: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>,
                                    count: Int, lo: Float, hi: Float) {
        for i in 0..<count { gx[i] = (y[i] > lo && y[i] < hi) ? gy[i] : 0 }
    }

    /// The bounds of a Clip node when they are constants (for fusing it into a Conv).
    static func constantBounds(_ n: Node, initializers: [String: Tensor], opset: Int) -> (Float, Float)? {
        var lo = -Float.greatestFiniteMagnitude, hi = Float.greatestFiniteMagnitude
        if case .float(let v)? = n.attributes["min"] { lo = v }
        if case .float(let v)? = n.attributes["max"] { hi = v }
        if n.inputs.count > 1 && !n.inputs[1].isEmpty {
            guard let t = initializers[n.inputs[1]], t.dtype == .float32 else { return nil }
            lo = t.scalarFloat
        }
        if n.inputs.count > 2 && !n.inputs[2].isEmpty {
            guard let t = initializers[n.inputs[2]], t.dtype == .float32 else { return nil }
            hi = t.scalarFloat
        }
        return (lo, hi)
    }
}

extension Tensor {
    /// The first element as a Float, whatever the type (for scalar operands).
    var scalarFloat: Float {
        switch dtype {
        case .float32: return f32[0]
        case .int64: return Float(i64[0])
        case .bool: return Float(u8[0])
        }
    }
}

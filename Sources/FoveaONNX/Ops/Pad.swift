import FoveaTensor

/// Pad: constant, reflect or edge padding (pads as input from opset 11, attribute before; optional axes).
/// Negative pads crop. Backward gathers the gradient of the kept region (and of reflected/edge copies).
final class PadOp: Operator {
    let ctx: OpContext
    let mode: String
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        mode = try ctx.string("mode", "constant")
        guard ["constant", "reflect", "edge"].contains(mode) else { throw ctx.unsupported("mode '\(mode)' is not supported") }
    }
    func pads(_ rank: Int, _ constants: [Tensor?], _ i: [TensorDesc?]) throws -> [Int] {
        var p: [Int]
        if i.count > 1, i[1] != nil {
            guard let c = constants[1] else { throw ctx.needsConstant("pads") }
            p = c.ints
        } else if let a = try ctx.ints("pads") { p = a } else { throw ctx.shapeError("no pads") }
        if i.count > 3, i[3] != nil {
            guard let axes = constants[3]?.ints else { throw ctx.needsConstant("axes") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (k, ax) in axes.enumerated() {
                let a = normAxis(ax, rank)
                full[a] = p[k]; full[a + rank] = p[k + axes.count]
            }
            p = full
        }
        guard p.count == 2 * rank else { throw ctx.shapeError("pads \(p) for rank \(rank)") }
        return p
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        let r = x.shape.count
        let p = try pads(r, constants, i)
        let out = (0..<r).map { x.shape[$0] + p[$0] + p[$0 + r] }
        guard out.allSatisfy({ $0 >= 0 }) else { throw ctx.shapeError("pads \(p) crop \(x.shape) below zero") }
        if mode == "reflect" { for d in 0..<r where x.shape[d] < 2 && (p[d] > 0 || p[d + r] > 0) {
            throw ctx.shapeError("reflect padding needs at least 2 values along axis \(d)")
        } }
        return [TensorDesc(out, x.dtype)]
    }
    /// Source index along one axis for output index o (nil = constant fill).
    @inline(__always) func source(_ o: Int, before: Int, n: Int) -> Int? {
        var i = o - before
        if i >= 0 && i < n { return i }
        switch mode {
        case "edge": return min(max(i, 0), n - 1)
        case "reflect":
            let period = 2 * (n - 1)
            i = ((i % period) + period) % period
            return i < n ? i : period - i
        default: return nil
        }
    }
    func walk(_ xShape: [Int], _ yShape: [Int], _ p: [Int], _ body: (Int, Int?) -> Void) {
        let r = xShape.count
        let xs = contiguousStrides(xShape)
        let maps: [[Int?]] = (0..<r).map { d in (0..<yShape[d]).map { source($0, before: p[d], n: xShape[d]) } }
        var idx = [Int](repeating: 0, count: r)
        for o in 0..<yShape.product {
            var src: Int? = 0
            for d in 0..<r { if let s = maps[d][idx[d]], let cur = src { src = cur + s * xs[d] } else { src = nil } }
            body(o, src)
            var d = r - 1
            while d >= 0 { idx[d] += 1; if idx[d] < yShape[d] { break }; idx[d] = 0; d -= 1 }
        }
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, y = a.y
        let p = try! pads(x.rank, a.inputs, a.inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } })
        let fill: Float = a.has(2) ? a.input(2).scalarFloat : 0
        let es = x.dtype.byteSize
        walk(x.shape, y.shape, p) { o, s in
            if let s { (y.raw + o * es).copyMemory(from: x.raw + s * es, byteCount: es) } else {
                switch y.dtype {
                case .float32: y.f32[o] = fill
                case .int64: y.i64[o] = Int64(fill)
                case .bool: y.u8[o] = fill != 0 ? 1 : 0
                }
            }
        }
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let p = try! pads(a.x.rank, a.inputs, a.inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } })
        let gy = a.gy.f32, gp = g.f32
        walk(a.x.shape, a.y.shape, p) { o, s in if let s { gp[s] += gy[o] } }
    }
}

import FoveaTensor

/// Slice with starts/ends/axes/steps (inputs from opset 10, attributes before), negative steps included.
final class SliceOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }

    struct Region { var start: [Int]; var step: [Int]; var shape: [Int] }

    func region(_ x: [Int], _ constants: [Tensor?], _ i: [TensorDesc?]) throws -> Region {
        func arg(_ k: Int, _ attr: String) throws -> [Int]? {
            if k < i.count, i[k] != nil {
                guard let c = constants[k] else { throw ctx.needsConstant(attr) }
                return c.ints
            }
            return try ctx.ints(attr)
        }
        guard let starts = try arg(1, "starts"), let ends = try arg(2, "ends") else { throw ctx.shapeError("needs starts and ends") }
        let axes = try arg(3, "axes") ?? Array(0..<starts.count)
        let steps = try arg(4, "steps") ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ctx.shapeError("starts/ends/axes/steps lengths differ")
        }
        var r = Region(start: [Int](repeating: 0, count: x.count), step: [Int](repeating: 1, count: x.count), shape: x)
        for k in 0..<axes.count {
            let ax = normAxis(axes[k], x.count)
            guard ax >= 0 && ax < x.count else { throw ctx.shapeError("axis \(axes[k]) out of range") }
            let d = x[ax], st = steps[k]
            guard st != 0 else { throw ctx.shapeError("step 0") }
            var s = starts[k], e = ends[k]
            if s < 0 { s += d }
            if e < 0 && e > Int.min / 2 { e += d }
            if st > 0 {
                s = min(max(s, 0), d); e = min(max(e, 0), d)
                r.shape[ax] = max(0, (e - s + st - 1) / st)
            } else {
                s = min(max(s, -1), d - 1); e = min(max(e, -1), d - 1)
                r.shape[ax] = max(0, (s - e + (-st) - 1) / (-st))
            }
            r.start[ax] = s
            r.step[ax] = st
        }
        return r
    }
    func layout(_ x: [Int], _ r: Region) -> (offset: Int, strides: [Int]) {
        let xs = contiguousStrides(x)
        var off = 0
        for k in 0..<x.count where r.shape[k] > 0 { off += r.start[k] * xs[k] }
        return (off, (0..<x.count).map { xs[$0] * r.step[$0] })
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0] else { throw ctx.shapeError("missing input") }
        return [TensorDesc(try region(x.shape, constants, i).shape, x.dtype)]
    }
    func runRegion(_ inputs: [Tensor?]) -> Region {
        let descs = inputs.map { $0.map { TensorDesc($0.shape, $0.dtype) } }
        return try! region(inputs[0]!.shape, inputs, descs)
    }
    func forward(_ a: ForwardArgs) {
        let r = runRegion(a.inputs)
        stridedCopy(from: a.x, layout(a.x.shape, r), to: a.y, dense(a.y.shape), shape: a.y.shape)
    }
    func backward(_ a: BackwardArgs) {
        guard let g = a.gx(0) else { return }
        let r = runRegion(a.inputs)
        stridedAdd(from: a.gy.f32, dense(a.y.shape), to: g.f32, layout(a.x.shape, r), shape: a.y.shape)
    }
}

import FoveaTensor

/// Iterates a broadcast of inputs a and b to `out`, calling `body(o, ia, ib, n, sa, sb)` for each
/// run of `n` output elements starting at o whose inputs start at ia/ib and step by sa/sb (0 or 1).
/// Adjacent dimensions that broadcast the same way are merged so runs are as long as possible.
@inline(__always)
func broadcastRuns(out: [Int], a: [Int], b: [Int], _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    let r = out.count
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    // merge dims
    var dims: [Int] = [], sa: [Int] = [], sb: [Int] = []
    var accA = 1, accB = 1
    var shapeRev: [(n: Int, ba: Bool, bb: Bool)] = []
    for i in stride(from: r - 1, through: 0, by: -1) where out[i] != 1 {
        shapeRev.append((out[i], pa[i] == 1, pb[i] == 1))
    }
    var merged: [(n: Int, ba: Bool, bb: Bool)] = []
    for d in shapeRev {
        if let last = merged.last, last.ba == d.ba, last.bb == d.bb {
            merged[merged.count - 1].n *= d.n
        } else {
            merged.append(d)
        }
    }
    for d in merged {
        dims.append(d.n)
        sa.append(d.ba ? 0 : accA)
        sb.append(d.bb ? 0 : accB)
        if !d.ba { accA *= d.n }
        if !d.bb { accB *= d.n }
    }
    // dims/sa/sb are innermost-first
    if dims.isEmpty {
        body(0, 0, 0, 1, 0, 0)
        return
    }
    let inner = dims[0], isa = sa[0], isb = sb[0]
    let outerDims = Array(dims.dropFirst())
    let outer = outerDims.product
    var idx = [Int](repeating: 0, count: outerDims.count)
    var ia = 0, ib = 0
    for k in 0..<outer {
        body(k * inner, ia, ib, inner, isa, isb)
        // increment the outer counter
        var d = 0
        while d < outerDims.count {
            idx[d] += 1
            ia += sa[d + 1]
            ib += sb[d + 1]
            if idx[d] < outerDims[d] { break }
            ia -= sa[d + 1] * outerDims[d]
            ib -= sb[d + 1] * outerDims[d]
            idx[d] = 0
            d += 1
        }
    }
}

/// Output descriptor of a broadcasting binary op, with a clear error when shapes disagree.
func broadcastDesc(_ ctx: OpContext, _ inputs: [TensorDesc?], dtype: DType? = nil) throws -> TensorDesc {
    guard inputs.count >= 2, let a = inputs[0], let b = inputs[1] else { throw ctx.shapeError("needs two inputs") }
    guard let s = broadcastShapes(a.shape, b.shape) else {
        throw ctx.shapeError("shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    return TensorDesc(s, dtype ?? a.dtype)
}

/// Shared body of the float/int64 binary arithmetic ops (Add, Sub, Mul, Div, Pow).
@inline(__always)
func binaryForward(_ a: ForwardArgs, _ f: (Float, Float) -> Float, _ fi: (Int64, Int64) -> Int64) {
    let x = a.input(0), y = a.input(1), z = a.y
    if z.dtype == .int64 {
        let px = x.i64, py = y.i64, pz = z.i64
        broadcastRuns(out: z.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            for k in 0..<n { pz[o + k] = fi(px[ia + k * sa], py[ib + k * sb]) }
        }
        return
    }
    let px = x.f32, py = y.f32, pz = z.f32
    if x.shape == y.shape {
        for k in 0..<z.count { pz[k] = f(px[k], py[k]) }
        return
    }
    broadcastRuns(out: z.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
        if sa == 1 && sb == 0 {
            let v = py[ib]
            for k in 0..<n { pz[o + k] = f(px[ia + k], v) }
        } else if sa == 0 && sb == 1 {
            let v = px[ia]
            for k in 0..<n { pz[o + k] = f(v, py[ib + k]) }
        } else {
            for k in 0..<n { pz[o + k] = f(px[ia + k * sa], py[ib + k * sb]) }
        }
    }
}

/// Shared backward: ga += g · ∂f/∂a, gb += g · ∂f/∂b, summed over broadcast dimensions.
@inline(__always)
func binaryBackward(_ a: BackwardArgs, da: (Float, Float, Float) -> Float, db: (Float, Float, Float) -> Float) {
    let x = a.input(0), y = a.input(1), z = a.y, g = a.gy
    let px = x.f32, py = y.f32, pz = z.f32, pg = g.f32
    if x.shape == z.shape && y.shape == z.shape {
        // no broadcasting (residual Adds): unit-stride loops the compiler vectorises
        let n = z.count
        if let gx = a.gx(0) { let q = gx.f32; for k in 0..<n { q[k] += pg[k] * da(px[k], py[k], pz[k]) } }
        if let gy = a.gx(1) { let q = gy.f32; for k in 0..<n { q[k] += pg[k] * db(px[k], py[k], pz[k]) } }
        return
    }
    if let gx = a.gx(0) {
        let q = gx.f32
        broadcastRuns(out: z.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            if sa == 0 {
                var s: Float = 0
                for k in 0..<n { s += pg[o + k] * da(px[ia], py[ib + k * sb], pz[o + k]) }
                q[ia] += s
            } else {
                for k in 0..<n { q[ia + k] += pg[o + k] * da(px[ia + k], py[ib + k * sb], pz[o + k]) }
            }
        }
    }
    if let gy = a.gx(1) {
        let q = gy.f32
        broadcastRuns(out: z.shape, a: x.shape, b: y.shape) { o, ia, ib, n, sa, sb in
            if sb == 0 {
                var s: Float = 0
                for k in 0..<n { s += pg[o + k] * db(px[ia + k * sa], py[ib], pz[o + k]) }
                q[ib] += s
            } else {
                for k in 0..<n { q[ib + k] += pg[o + k] * db(px[ia + k * sa], py[ib + k], pz[o + k]) }
            }
        }
    }
}

import FoveaTensor

/// Gemm: Y = alpha · op(A) · op(B) + beta · C (C broadcast to [M, N]).
/// Backward: dA = alpha · dY · op(B)ᵀ, dB = alpha · op(A)ᵀ · dY (each transposed back as stored), dC = beta · Σ dY.
final class GemmOp: Operator {
    let ctx: OpContext
    let alpha: Float, beta: Float
    let transA: Bool, transB: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        alpha = try ctx.float("alpha", 1)
        beta = try ctx.float("beta", 1)
        transA = try ctx.int("transA", 0) != 0
        transB = try ctx.int("transB", 0) != 0
    }
    var saves: Saves { .inputs }
    func dims(_ a: [Int], _ b: [Int]) throws -> (m: Int, n: Int, k: Int) {
        guard a.count == 2, b.count == 2 else { throw ctx.shapeError("A \(a) and B \(b) must be 2-D") }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (k2, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == k2 else { throw ctx.shapeError("inner dimensions differ: A \(a)\(transA ? "ᵀ" : "") · B \(b)\(transB ? "ᵀ" : "")") }
        return (m, n, k)
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let a = i[0], let b = i[1] else { throw ctx.shapeError("needs A and B") }
        let d = try dims(a.shape, b.shape)
        if i.count > 2, let c = i[2], broadcastShapes(c.shape, [d.m, d.n]) != [d.m, d.n] {
            throw ctx.shapeError("C \(c.shape) does not broadcast to \([d.m, d.n])")
        }
        return [TensorDesc([d.m, d.n])]
    }
    func forward(_ a: ForwardArgs) {
        let A = a.input(0), B = a.input(1), Y = a.y
        let (m, n, k) = try! dims(A.shape, B.shape)
        var betaEff: Float = 0
        if a.has(2) && beta != 0 {
            let C = a.input(2)
            stridedCopy(from: C, broadcastLayout(C.shape, [m, n]), to: Y, dense([m, n]), shape: [m, n])
            betaEff = beta
        }
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: A.f32, lda: A.shape[1],
              b: B.f32, ldb: B.shape[1], beta: betaEff, c: Y.f32, ldc: n)
    }
    func backward(_ a: BackwardArgs) {
        let A = a.input(0), B = a.input(1), dY = a.gy.f32
        let (m, n, k) = try! dims(A.shape, B.shape)
        if let dA = a.gx(0) {
            if !transA {   // dA[m,k] = dY[m,n] · op(B)ᵀ
                sgemm(transB: !transB, m: m, n: k, k: n, alpha: alpha, a: dY, lda: n, b: B.f32, ldb: B.shape[1],
                      beta: 1, c: dA.f32, ldc: k)
            } else {       // dA[k,m] = op(B) · dYᵀ
                sgemm(transA: transB, transB: true, m: k, n: m, k: n, alpha: alpha, a: B.f32, lda: B.shape[1],
                      b: dY, ldb: n, beta: 1, c: dA.f32, ldc: m)
            }
        }
        if let dB = a.gx(1) {
            if !transB {   // dB[k,n] = op(A)ᵀ · dY
                sgemm(transA: !transA, m: k, n: n, k: m, alpha: alpha, a: A.f32, lda: A.shape[1], b: dY, ldb: n,
                      beta: 1, c: dB.f32, ldc: n)
            } else {       // dB[n,k] = dYᵀ · op(A)
                sgemm(transA: true, transB: transA, m: n, n: k, k: m, alpha: alpha, a: dY, lda: n, b: A.f32,
                      ldb: A.shape[1], beta: 1, c: dB.f32, ldc: k)
            }
        }
        if let dC = a.gx(2) {
            let C = a.input(2)
            let gy = a.gy
            if beta == 1 {
                stridedAdd(from: gy.f32, dense([m, n]), to: dC.f32, broadcastLayout(C.shape, [m, n]), shape: [m, n])
            } else {
                let s = a.scratch.assumingMemoryBound(to: Float.self)
                for i in 0..<(m * n) { s[i] = beta * gy.f32[i] }
                stridedAdd(from: s, dense([m, n]), to: dC.f32, broadcastLayout(C.shape, [m, n]), shape: [m, n])
            }
        }
    }
    func backwardScratch(_ i: [TensorDesc?]) -> Int {
        guard let a = i[0], let b = i[1], let d = try? dims(a.shape, b.shape) else { return 0 }
        return d.m * d.n * 4
    }
}

/// Strided layout that reads a tensor of shape `x` broadcast to `out`.
func broadcastLayout(_ x: [Int], _ out: [Int]) -> (offset: Int, strides: [Int]) {
    let px = [Int](repeating: 1, count: out.count - x.count) + x
    let st = contiguousStrides(px)
    return (0, (0..<out.count).map { px[$0] == 1 ? 0 : st[$0] })
}

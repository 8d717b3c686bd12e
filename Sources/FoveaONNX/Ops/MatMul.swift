import FoveaTensor

/// MatMul with numpy semantics: batched over broadcast leading dimensions; 1-D operands are
/// promoted (prepend/append a 1) and the added dimension dropped from the result.
/// Backward: dA = dY · Bᵀ and dB = Aᵀ · dY per batch, summed over broadcast batches.
final class MatMulOp: Operator {
    let ctx: OpContext
    init(_ ctx: OpContext) { self.ctx = ctx }
    var saves: Saves { .inputs }

    struct Layout { var batch: [Int]; var m: Int; var n: Int; var k: Int; var aBatch: [Int]; var bBatch: [Int]; var out: [Int] }

    func layout(_ a0: [Int], _ b0: [Int]) throws -> Layout {
        guard !a0.isEmpty, !b0.isEmpty else { throw ctx.shapeError("scalars cannot be multiplied by MatMul") }
        let a = a0.count == 1 ? [1] + a0 : a0
        let b = b0.count == 1 ? b0 + [1] : b0
        let m = a[a.count - 2], k = a[a.count - 1], k2 = b[b.count - 2], n = b[b.count - 1]
        guard k == k2 else { throw ctx.shapeError("inner dimensions differ: \(a0) · \(b0)") }
        let ab = Array(a.dropLast(2)), bb = Array(b.dropLast(2))
        guard let batch = broadcastShapes(ab, bb) else { throw ctx.shapeError("batch dimensions \(ab) and \(bb) do not broadcast") }
        var out = batch
        if a0.count > 1 { out.append(m) }
        if b0.count > 1 { out.append(n) }
        return Layout(batch: batch, m: m, n: n, k: k, aBatch: ab, bBatch: bb, out: out)
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let a = i[0], let b = i[1] else { throw ctx.shapeError("needs two inputs") }
        return [TensorDesc(try layout(a.shape, b.shape).out)]
    }
    /// Calls body(batchIndex, aOffset, bOffset) for each output batch.
    func batches(_ l: Layout, _ body: (Int, Int, Int) -> Void) {
        let nb = l.batch.product
        if nb == 1 { body(0, 0, 0); return }
        let sa = broadcastLayout(l.aBatch, l.batch).strides, sb = broadcastLayout(l.bBatch, l.batch).strides
        var idx = [Int](repeating: 0, count: l.batch.count)
        for t in 0..<nb {
            var oa = 0, ob = 0
            for d in 0..<idx.count { oa += idx[d] * sa[d]; ob += idx[d] * sb[d] }
            body(t, oa * l.m * l.k, ob * l.k * l.n)
            var d = idx.count - 1
            while d >= 0 { idx[d] += 1; if idx[d] < l.batch[d] { break }; idx[d] = 0; d -= 1 }
        }
    }
    func forward(_ a: ForwardArgs) {
        let A = a.input(0), B = a.input(1), Y = a.y
        let l = try! layout(A.shape, B.shape)
        if l.bBatch.product == 1 && l.batch.product > 1 && l.aBatch == l.batch {
            // every batch shares B: one GEMM over all rows of A
            sgemm(m: l.batch.product * l.m, n: l.n, k: l.k, a: A.f32, lda: l.k, b: B.f32, ldb: l.n, c: Y.f32, ldc: l.n)
            return
        }
        batches(l) { t, oa, ob in
            sgemm(m: l.m, n: l.n, k: l.k, a: A.f32 + oa, lda: l.k, b: B.f32 + ob, ldb: l.n,
                  c: Y.f32 + t * l.m * l.n, ldc: l.n)
        }
    }
    func backward(_ a: BackwardArgs) {
        let A = a.input(0), B = a.input(1), dY = a.gy.f32
        let l = try! layout(A.shape, B.shape)
        let dA = a.gx(0), dB = a.gx(1)
        batches(l) { t, oa, ob in
            let g = dY + t * l.m * l.n
            if let dA {   // dA[m,k] += dY[m,n] · B[k,n]ᵀ
                sgemm(transB: true, m: l.m, n: l.k, k: l.n, a: g, lda: l.n, b: B.f32 + ob, ldb: l.n, beta: 1,
                      c: dA.f32 + oa, ldc: l.k)
            }
            if let dB {   // dB[k,n] += A[m,k]ᵀ · dY[m,n]
                sgemm(transA: true, m: l.k, n: l.n, k: l.m, a: A.f32 + oa, lda: l.k, b: g, ldb: l.n, beta: 1,
                      c: dB.f32 + ob, ldc: l.n)
            }
        }
    }
}

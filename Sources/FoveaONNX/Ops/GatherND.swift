import FoveaTensor

/// GatherND (batch_dims from opset 12): slices of data addressed by the last axis of indices. Forward only.
final class GatherNDOp: Operator {
    let ctx: OpContext
    let batchDims: Int
    init(_ ctx: OpContext) throws { self.ctx = ctx; batchDims = try ctx.int("batch_dims", 0) }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] {
        guard let x = i[0], let idx = i[1] else { throw ctx.shapeError("needs data and indices") }
        guard idx.dtype == .int64 else { throw ctx.shapeError("indices must be integers") }
        let b = batchDims, q = idx.shape.count, r = x.shape.count
        guard q >= 1, let m = idx.shape.last, b < min(q, r), m >= 1, m <= r - b,
              Array(x.shape[..<b]) == Array(idx.shape[..<b]) else {
            throw ctx.shapeError("indices \(idx.shape) do not address data \(x.shape) with batch_dims \(b)")
        }
        return [TensorDesc(Array(idx.shape.dropLast()) + Array(x.shape[(b + m)...]), x.dtype)]
    }
    func forward(_ a: ForwardArgs) {
        let x = a.x, idx = a.input(1), y = a.y
        let b = batchDims, m = idx.shape.last!, es = x.dtype.byteSize
        let batch = Array(x.shape[..<b]).product
        let slice = Array(x.shape[(b + m)...]).product
        let perBatchIdx = Array(idx.shape[b..<(idx.rank - 1)]).product
        let xStrides = contiguousStrides(x.shape)
        let batchStride = b == 0 ? 0 : xStrides[b - 1]
        for bi in 0..<batch {
            for t in 0..<perBatchIdx {
                let row = idx.i64 + (bi * perBatchIdx + t) * m
                var off = bi * batchStride
                for j in 0..<m {
                    let d = x.shape[b + j]
                    var v = Int(row[j])
                    if v < 0 { v += d }
                    v = min(max(v, 0), max(d - 1, 0))
                    off += v * xStrides[b + j]
                }
                (y.raw + (bi * perBatchIdx + t) * slice * es).copyMemory(from: x.raw + off * es, byteCount: slice * es)
            }
        }
    }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
}

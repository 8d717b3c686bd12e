import FoveaTensor

/// Walks an index space `shape`, calling body(srcIndex, dstIndex, n, srcStep, dstStep) for each run
/// along the innermost dimension. Indices are element offsets computed from the given strides.
@inline(__always)
func stridedRuns(_ shape: [Int], src: (offset: Int, strides: [Int]), dst: (offset: Int, strides: [Int]),
                 _ body: (Int, Int, Int, Int, Int) -> Void) {
    let r = shape.count
    if r == 0 { body(src.offset, dst.offset, 1, 0, 0); return }
    if shape.contains(0) { return }
    let inner = shape[r - 1], ss = src.strides[r - 1], ds = dst.strides[r - 1]
    var idx = [Int](repeating: 0, count: r - 1)
    var si = src.offset, di = dst.offset
    let outer = Array(shape.dropLast()).product
    for _ in 0..<outer {
        body(si, di, inner, ss, ds)
        var d = r - 2
        while d >= 0 {
            idx[d] += 1
            si += src.strides[d]
            di += dst.strides[d]
            if idx[d] < shape[d] { break }
            si -= src.strides[d] * shape[d]
            di -= dst.strides[d] * shape[d]
            idx[d] = 0
            d -= 1
        }
    }
}

/// Copies elements of any dtype between two strided layouts over `shape`.
func stridedCopy(from s: Tensor, _ src: (offset: Int, strides: [Int]), to d: Tensor,
                 _ dst: (offset: Int, strides: [Int]), shape: [Int]) {
    switch s.dtype.byteSize {
    case 4: copyTyped(s.f32, d.f32, shape, src, dst)
    case 8: copyTyped(s.i64, d.i64, shape, src, dst)
    default: copyTyped(s.u8, d.u8, shape, src, dst)
    }
}

@inline(__always)
private func copyTyped<T>(_ s: UnsafeMutablePointer<T>, _ d: UnsafeMutablePointer<T>, _ shape: [Int],
                          _ src: (offset: Int, strides: [Int]), _ dst: (offset: Int, strides: [Int])) {
    stridedRuns(shape, src: src, dst: dst) { si, di, n, ss, ds in
        if ss == 1 && ds == 1 {
            (d + di).update(from: s + si, count: n)
        } else {
            for k in 0..<n { d[di + k * ds] = s[si + k * ss] }
        }
    }
}

/// Adds float elements between two strided layouts over `shape` (backward of copies).
func stridedAdd(from s: UnsafePointer<Float>, _ src: (offset: Int, strides: [Int]), to d: UnsafeMutablePointer<Float>,
                _ dst: (offset: Int, strides: [Int]), shape: [Int]) {
    stridedRuns(shape, src: src, dst: dst) { si, di, n, ss, ds in
        for k in 0..<n { d[di + k * ds] += s[si + k * ss] }
    }
}

/// Contiguous layout of a shape at an offset.
@inline(__always) func dense(_ shape: [Int], _ offset: Int = 0) -> (offset: Int, strides: [Int]) {
    (offset, contiguousStrides(shape))
}

/// Whole-tensor copy for the ops whose output is the input with another shape.
@inline(__always) func copyAll(_ x: Tensor, _ y: Tensor) {
    y.raw.copyMemory(from: x.raw, byteCount: y.byteCount)
}

/// gx += gy for same-sized tensors (backward of the reshaping ops).
@inline(__always) func addAll(_ gy: Tensor, into gx: Tensor) {
    let s = gy.f32, d = gx.f32
    for i in 0..<gx.count { d[i] += s[i] }
}

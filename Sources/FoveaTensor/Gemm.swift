import CBLAS
import Foundation

/// Engine-wide thread count. OpenBLAS itself always runs one thread (its own threading gains ~1.0x
/// on this machine kind); we split large GEMMs and batch loops ourselves (~1.6x on 2 cores).
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = {
        openblas_set_num_threads(1)
        let n: Int
        if let s = ProcessInfo.processInfo.environment["FOVEA_NUM_THREADS"], let v = Int(s), v > 0 { n = v }
        else { n = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) }
        if ProcessInfo.processInfo.environment["FOVEA_NO_BLAS_PRIME"] == nil {
            DispatchQueue.concurrentPerform(iterations: n) { _ in primeBLAS() }
        }
        return n
    }()
    public static var count: Int {
        get { _count }
        set { openblas_set_num_threads(1); _count = max(1, newValue) }
    }

    /// Runs `body(i)` for i in 0..<n on up to `count` threads (inline when one thread or n == 1).
    @inlinable public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 || count <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { b in
            DispatchQueue.concurrentPerform(iterations: n) { i in b(i) }
        }
    }
}

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, with op = transpose when asked.
/// Splits the work over `Threads.count` threads when it is large enough to pay.
@inlinable
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    if m == 1 && !transA {
        // a row vector times a matrix (a classifier head): GEMV, which OpenBLAS does far faster than GEMM
        cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? n : k), Int32(transB ? k : n),
                    alpha, b, Int32(ldb), a, 1, beta, c, 1)
        return
    }
    let ta = transA ? CblasTrans : CblasNoTrans
    let tb = transB ? CblasTrans : CblasNoTrans
    let threads = Threads.count
    let flops = m * n * k
    if threads <= 1 || flops < 2_000_000 {
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
        return
    }
    if n >= 64 * threads {
        // split columns: B's columns (or rows when transposed) and C's columns
        let chunk = ((n + threads - 1) / threads + 15) / 16 * 16
        let parts = (n + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let j0 = p * chunk
            let nn = min(chunk, n - j0)
            let bp = transB ? b + j0 * ldb : b + j0
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(nn), Int32(k), alpha, a, Int32(lda), bp, Int32(ldb),
                        beta, c + j0, Int32(ldc))
        }
    } else {
        let chunk = (m + threads - 1) / threads
        let parts = (m + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let i0 = p * chunk
            let mm = min(chunk, m - i0)
            let ap = transA ? a + i0 : a + i0 * lda
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(mm), Int32(n), Int32(k), alpha, ap, Int32(lda), b, Int32(ldb),
                        beta, c + i0 * ldc, Int32(ldc))
        }
    }
}

/// Description of the BLAS in use (for `fovea onnx bench` and the benchmark report).
public func blasDescription() -> String {
    guard let c = openblas_get_config() else { return "OpenBLAS" }
    return String(cString: c)
}

/// C = clamp(A·B + bias[row], lo, hi) for row-major A [m×k] and B [k×n] (a convolution's GEMM with its
/// epilogue). The columns go in chunks whose C and B panels stay in L2: each chunk's C is first filled
/// with the bias and the GEMM accumulates onto it (beta = 1 spares OpenBLAS its separate pass that
/// zeroes C), then the clamp runs while the chunk is still cached. Chunks are shared among threads.
public func sgemmBiasClamp(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, bias: UnsafePointer<Float>?,
                           lo: Float, hi: Float, clamp: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    @inline(__always) func fill(_ j0: Int, _ nn: Int) {
        for i in 0..<m { (c + i * ldc + j0).initialize(repeating: bias?[i] ?? 0, count: nn) }
    }
    @inline(__always) func clampCols(_ j0: Int, _ nn: Int) {
        guard clamp else { return }
        for i in 0..<m {
            let r = c + i * ldc + j0
            for t in 0..<nn { r[t] = min(max(r[t], lo), hi) }
        }
    }
    let threads = Threads.count
    // columns per chunk: C and B panels of ~256 KB together (multiples of 16). Only thin GEMMs
    // (m + k <= 512: memory-bound, where the epilogue's extra pass costs) are chunked: narrow chunks
    // of a large GEMM make OpenBLAS repack A per chunk (ResNet's 3x3 layers ran 1.8x slower).
    let nc = m + k <= 512 ? max(128, (65_536 / (m + k)) / 16 * 16) : n
    let chunks = (n + nc - 1) / nc
    let parallel = threads > 1 && m * n * k >= 2_000_000
    if !parallel || chunks >= 2 * threads {
        // chunks one after another, or one chunk per parallel task
        Threads.parallelFor(parallel ? chunks : 1) { part in
            for ch in parallel ? part..<part + 1 : 0..<chunks {
                let j0 = ch * nc, nn = min(nc, n - j0)
                fill(j0, nn)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(nn), Int32(k), 1, a, Int32(lda),
                            b + j0, Int32(ldb), 1, c + j0, Int32(ldc))
                clampCols(j0, nn)
            }
        }
        return
    }
    // few columns (late layers): one threaded GEMM onto the bias, then the clamp
    fill(0, n)
    sgemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
    clampCols(0, n)
}

/// Faults in OpenBLAS's packing buffer in one ascending sweep. OpenBLAS packs A and B panels into a
/// 32 MB buffer that it maps lazily; when a thin GEMM is the first to touch a region, that region's
/// pages are faulted in scattered order and later GEMMs using it run up to 3x slower (measured on
/// this machine: 96x576x196 took 1.6 ms instead of 0.52 ms, 1280x320x49 2.5 instead of 1.2, for the
/// whole life of the process; MobileNetV2's 14x14 projections paid 1.3 ms per image). One GEMM that
/// packs a full P x Q panel of A (768 x 384) and a wide panel of B first avoids it. Costs ~15 ms
/// once per thread; `FOVEA_NO_BLAS_PRIME=1` skips it (to measure the effect).
func primeBLAS() {
    let m = 1024, k = 384, n = 768
    let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k); a.initialize(repeating: 0.5, count: m * k)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n); b.initialize(repeating: 0.5, count: k * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
    a.deallocate(); b.deallocate(); c.deallocate()
}

import CBLAS
import Foundation

/// Engine-wide thread count. OpenBLAS itself always runs one thread (its own threading gains ~1.0x
/// on this machine kind); we split large GEMMs and batch loops ourselves (~1.6x on 2 cores).
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = {
        openblas_set_num_threads(1)
        if let s = ProcessInfo.processInfo.environment["FOVEA_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
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

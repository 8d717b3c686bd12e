import Foundation
import FoveaTensor
import XCTest

final class TensorTests: XCTestCase {
    /// Our sgemm wrapper (with its thread split) against a naive triple loop, all transpose cases.
    func testSgemmMatchesNaive() {
        for threads in [1, 2] {
            Threads.count = threads
            for (m, n, k) in [(3, 5, 7), (64, 300, 70), (130, 20, 900)] {
                for ta in [false, true] {
                    for tb in [false, true] {
                        let a = (0..<(m * k)).map { Float(($0 * 37) % 11) / 11 - 0.5 }
                        let b = (0..<(k * n)).map { Float(($0 * 53) % 13) / 13 - 0.5 }
                        var c = [Float](repeating: 0.25, count: m * n)
                        let lda = ta ? m : k, ldb = tb ? k : n
                        sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b, ldb: ldb,
                              beta: 0.5, c: &c, ldc: n)
                        var worst: Float = 0
                        for i in 0..<m { for j in 0..<n {
                            var s: Float = 0
                            for p in 0..<k { s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]) }
                            worst = max(worst, abs(c[i * n + j] - (1.5 * s + 0.5 * 0.25)))
                        } }
                        XCTAssertLessThan(worst, 1e-3, "m\(m) n\(n) k\(k) ta\(ta) tb\(tb) threads \(threads)")
                    }
                }
            }
        }
        Threads.count = 1
    }

    func testNpyRoundTripAndErrors() throws {
        let t = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let u = try Npy.decode(Npy.encode(t))
        XCTAssertEqual(u.shape, [2, 3])
        XCTAssertEqual(u.floats, t.floats)
        let i = Tensor(shape: [3], int64s: [-1, 0, 7])
        XCTAssertEqual(try Npy.decode(Npy.encode(i)).int64s, [-1, 0, 7])
        let s = Tensor(shape: [], floats: [2.5])
        XCTAssertEqual(try Npy.decode(Npy.encode(s)).shape, [])
        XCTAssertThrowsError(try Npy.decode(Data("not numpy".utf8)))
        var truncated = Npy.encode(t)
        truncated.removeLast(5)
        XCTAssertThrowsError(try Npy.decode(truncated)) { e in
            XCTAssertTrue("\(e)".contains("needs"), "\(e)")
        }
    }

    func testBroadcastShapes() {
        XCTAssertEqual(broadcastShapes([2, 3, 4], [3, 1]), [2, 3, 4])
        XCTAssertEqual(broadcastShapes([1], [5, 2]), [5, 2])
        XCTAssertNil(broadcastShapes([2, 3], [4, 3, 2]))
    }
}

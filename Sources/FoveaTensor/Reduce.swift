/// Vectorised float reductions. A plain `for k in 0..<n { s += p[k] }` is one serial chain of adds
/// (the compiler may not reassociate floats): ~4 cycles per element. These keep 16 partial sums.

/// Σ p[0..<n].
@inline(__always)
public func vsum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a = SIMD8<Float>(), b = SIMD8<Float>()
    var k = 0
    let raw = UnsafeRawPointer(p)
    while k + 16 <= n {
        a += raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
        b += raw.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self)
        k += 16
    }
    if k + 8 <= n {
        a += raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
        k += 8
    }
    var s = (a + b).sum()
    while k < n { s += p[k]; k += 1 }
    return s
}

/// Σ p[k]·q[k] over k in 0..<n.
@inline(__always)
public func vdot(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Float {
    var a = SIMD8<Float>(), b = SIMD8<Float>()
    var k = 0
    let rp = UnsafeRawPointer(p), rq = UnsafeRawPointer(q)
    while k + 16 <= n {
        a = a.addingProduct(rp.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self),
                            rq.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self))
        b = b.addingProduct(rp.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self),
                            rq.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self))
        k += 16
    }
    if k + 8 <= n {
        a = a.addingProduct(rp.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self),
                            rq.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self))
        k += 8
    }
    var s = (a + b).sum()
    while k < n { s += p[k] * q[k]; k += 1 }
    return s
}

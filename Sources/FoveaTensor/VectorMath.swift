/// Vectorised exp (Cephes' expf: range reduction by ln 2 in two parts, a degree-6 polynomial, the exponent
/// put back through the float's bits); relative error ~2e-7 over [-87, 88], 0 below, +inf above.
@inlinable @inline(__always)
public func vexp(_ x0: SIMD8<Float>) -> SIMD8<Float> {
    let x1 = x0.replacing(with: 88.3762626647949, where: x0 .> 88.3762626647949)
    let x = x1.replacing(with: -87.3365478515625, where: x1 .< -87.3365478515625)
    let fx = (x * 1.44269504088896341 + 0.5).rounded(.down)
    var r = x - fx * 0.693359375
    r = r + fx * 2.12194440e-4
    var y: SIMD8<Float> = SIMD8(repeating: 1.9875691500e-4)
    y = y * r + 1.3981999507e-3
    y = y * r + 8.3334519073e-3
    y = y * r + 4.1665795894e-2
    y = y * r + 1.6666665459e-1
    y = y * r + 5.0000001201e-1
    y = y * r * r + r + 1
    let n = SIMD8<Int32>(fx, rounding: .towardZero)
    let scale = unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: (n &+ 127) &<< 23), to: SIMD8<Float>.self)
    var out = y * scale
    out.replace(with: Float.infinity, where: x0 .> 88.3762626647949)
    out.replace(with: 0, where: x0 .< -87.3365478515625)
    out.replace(with: x0, where: x0 .!= x0)   // NaN stays NaN
    return out
}

/// y[i] = exp(x[i]) for n floats (x and y may be the same buffer).
@inlinable
public func vexp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: vexp(v), as: SIMD8<Float>.self)
        i += 8
    }
    if i < n {
        var v = SIMD8<Float>(repeating: 0)
        for k in 0..<(n - i) { v[k] = x[i + k] }
        let r = vexp(v)
        for k in 0..<(n - i) { y[i + k] = r[k] }
    }
}

/// y[i] = 1 / (1 + exp(-x[i])) for n floats.
@inlinable
public func vsigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: 1 / (1 + vexp(-v)), as: SIMD8<Float>.self)
        i += 8
    }
    if i < n {
        var v = SIMD8<Float>(repeating: 0)
        for k in 0..<(n - i) { v[k] = x[i + k] }
        let r = 1 / (1 + vexp(-v))
        for k in 0..<(n - i) { y[i + k] = r[k] }
    }
}

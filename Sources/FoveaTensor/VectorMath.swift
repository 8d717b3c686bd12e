/// exp(x) as Cephes' expf computes it (range reduction by ln 2 in two parts, a degree-6 polynomial, the exponent
/// put back through the float's bits): relative error ~2e-7, 0 below -87.3, +inf above 88.4, NaN kept. Written
/// with wrapping integer steps only, so loops over it vectorise.
@inlinable @inline(__always)
public func fastExp(_ x0: Float) -> Float {
    let x = min(max(x0, -87.3365478515625), 88.3762626647949)
    let fx = (x * 1.44269504088896341 + 0.5).rounded(.down)
    let r = x - fx * 0.693359375 + fx * 2.12194440e-4
    var y: Float = 1.9875691500e-4
    y = y * r + 1.3981999507e-3
    y = y * r + 8.3334519073e-3
    y = y * r + 4.1665795894e-2
    y = y * r + 1.6666665459e-1
    y = y * r + 5.0000001201e-1
    y = y * r * r + r + 1
    // 2^fx through the bits: fx + 1.5 * 2^23 holds fx in its low mantissa bits
    let n = (fx + 12582912).bitPattern &- 0x4B40_0000
    let out = y * Float(bitPattern: (n &+ 127) &<< 23)
    return x0 > 88.3762626647949 ? .infinity : (x0 < -87.3365478515625 ? 0 : (x0 != x0 ? x0 : out))
}

/// y[i] = exp(x[i]) for n floats.
@inlinable
public func vexp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = fastExp(x[i]) }
}

/// y[i] = 1 / (1 + exp(-x[i])) for n floats.
@inlinable
public func vsigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = 1 / (1 + fastExp(-x[i])) }
}

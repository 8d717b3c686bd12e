import Foundation
import FoveaTensor

/// Gelu (opset 20): exact y = x·Φ(x), or the tanh approximation when approximate = "tanh".
final class GeluOp: Operator {
    let ctx: OpContext
    let tanhApprox: Bool
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        let s = try ctx.string("approximate", "none")
        guard s == "none" || s == "tanh" else { throw ctx.unsupported("approximate must be 'none' or 'tanh', got '\(s)'") }
        tanhApprox = s == "tanh"
    }
    var saves: Saves { .inputs }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { try sameDesc(ctx, i) }
    static let k = Float((2 / Double.pi).squareRoot())
    func forward(_ a: ForwardArgs) {
        let x = a.x.f32, y = a.y.f32
        if tanhApprox {
            for i in 0..<a.y.count {
                let v = x[i]
                y[i] = 0.5 * v * (1 + tanhf(GeluOp.k * (v + 0.044715 * v * v * v)))
            }
        } else {
            for i in 0..<a.y.count { y[i] = 0.5 * x[i] * (1 + erff(x[i] * Float(0.5.squareRoot()))) }
        }
    }
    func backward(_ a: BackwardArgs) {
        if a.applyRule("Gelu") { return }
        guard let gx = a.gx(0) else { return }
        let x = a.x.f32, gy = a.gy.f32, g = gx.f32
        let invSqrt2Pi = Float(1 / (2 * Double.pi).squareRoot())
        for i in 0..<a.y.count {
            let v = x[i]
            if tanhApprox {
                let u = GeluOp.k * (v + 0.044715 * v * v * v)
                let t = tanhf(u)
                let du = GeluOp.k * (1 + 3 * 0.044715 * v * v)
                g[i] += gy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
            } else {
                let cdf = 0.5 * (1 + erff(v * Float(0.5.squareRoot())))
                g[i] += gy[i] * (cdf + v * invSqrt2Pi * expf(-0.5 * v * v))
            }
        }
    }
}

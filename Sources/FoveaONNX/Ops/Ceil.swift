import Foundation
import FoveaTensor

/// Ceil: y = ⌈x⌉ (its gradient is zero almost everywhere; none passes).
final class CeilOp: FloatUnaryOp {
    override func apply(_ x: Float) -> Float { x.rounded(.up) }
}

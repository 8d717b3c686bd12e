import Foundation
import FoveaTensor

/// Floor: y = ⌊x⌋ (its gradient is zero almost everywhere; none passes).
final class FloorOp: FloatUnaryOp {
    override func apply(_ x: Float) -> Float { x.rounded(.down) }
}

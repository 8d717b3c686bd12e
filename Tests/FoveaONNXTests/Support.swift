import Foundation
import FoveaONNX
import FoveaTensor
import XCTest

/// Project-relative paths for test fixtures (never ../shared).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let onnxCases = root.appendingPathComponent("Tests/Fixtures/onnx")
    static let mobilenet = root.appendingPathComponent("models/mobilenetv2-imagenet/1/model.onnx")
    static let mobilenetRef = root.appendingPathComponent("Tests/Fixtures/mobilenetv2")
}

struct Manifest: Decodable {
    struct Case: Decodable {
        let name: String
        let inputs: [String]
        let outputs: [String]
        let grad: [String]
        let tol: Double
        let opset: Int
        let fd_eps: Double
    }
    let cases: [Case]
    static func load() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Fixtures.onnxCases.appendingPathComponent("manifest.json")))
    }
}

/// Deterministic pseudo-random numbers for the gradient checks.
struct TestRNG {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    mutating func uniform(_ n: Int, _ lo: Double = -1, _ hi: Double = 1) -> [Float] {
        (0..<n).map { _ in Float(lo + (hi - lo) * next()) }
    }
}

func maxAbs(_ t: Tensor) -> Float {
    switch t.dtype {
    case .float32: return t.floats.map(abs).max() ?? 0
    case .int64: return Float(t.int64s.map { abs($0) }.max() ?? 0)
    case .bool: return 1
    }
}

func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
    switch a.dtype {
    case .float32: return zip(a.floats, b.floats).map { abs($0 - $1) }.max() ?? 0
    case .int64: return Float(zip(a.int64s, b.int64s).map { abs($0 - $1) }.max() ?? 0)
    case .bool: return zip(a.bools, b.bools).contains { $0 != $1 } ? 1 : 0
    }
}

import Foundation
import FoveaONNX
import FoveaTensor
import XCTest

/// Every fixture (one per op plus block patterns, made by scripts/gen_fixtures.py) against
/// onnxruntime's outputs, and every differentiable case's backward against finite differences.
final class OpFixtureTests: XCTestCase {
    func load(_ c: Manifest.Case) throws -> (Model, [String: Tensor], [Tensor]) {
        let dir = Fixtures.onnxCases.appendingPathComponent(c.name)
        let model = try Model(path: dir.appendingPathComponent("model.onnx").path)
        var feeds: [String: Tensor] = [:]
        for (i, n) in c.inputs.enumerated() { feeds[n] = try Npy.read(dir.appendingPathComponent("in_\(i).npy")) }
        let outs = try c.outputs.indices.map { try Npy.read(dir.appendingPathComponent("out_\($0).npy")) }
        return (model, feeds, outs)
    }

    func testForwardMatchesOnnxruntime() throws {
        let m = try Manifest.load()
        XCTAssertGreaterThan(m.cases.count, 60)
        for c in m.cases {
            let (model, feeds, refs) = try load(c)
            let got = try model.run(feeds)
            for (k, name) in c.outputs.enumerated() {
                let g = try XCTUnwrap(got[name], "\(c.name): no output \(name)")
                XCTAssertEqual(g.shape, refs[k].shape, "\(c.name)/\(name) shape")
                XCTAssertEqual(g.dtype, refs[k].dtype, "\(c.name)/\(name) dtype")
                guard g.shape == refs[k].shape else { continue }
                let tol = Float(c.tol) * max(maxAbs(refs[k]), 1)
                XCTAssertLessThanOrEqual(maxDiff(g, refs[k]), tol, "\(c.name)/\(name): max |Δ| over tolerance")
            }
        }
    }

    /// L = Σ_k w_k · y_k over the float outputs; checks dL/dx against central differences along a
    /// random direction and at a few single coordinates, for each input the case differentiates.
    func testBackwardMatchesFiniteDifferences() throws {
        let m = try Manifest.load()
        var checked = 0
        for c in m.cases where !c.grad.isEmpty {
            let (model, feeds, refs) = try load(c)
            let floatOuts = c.outputs.enumerated().filter { refs[$0.offset].dtype == .float32 }
            guard let first = floatOuts.first else { continue }
            var rng = TestRNG(state: UInt64(c.name.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
            // one output per gradient call: sum the contributions of each float output
            var weights: [String: Tensor] = [:]
            for (k, name) in floatOuts { weights[name] = Tensor(shape: refs[k].shape, floats: rng.uniform(refs[k].count)) }
            func loss(_ f: [String: Tensor]) throws -> Double {
                let out = try model.run(f)
                var s = 0.0
                for (_, name) in floatOuts {
                    let y = out[name]!, w = weights[name]!
                    for i in 0..<y.count { s += Double(y.f32[i]) * Double(w.f32[i]) }
                }
                return s
            }
            var grads: [String: [Float]] = [:]
            for (_, name) in floatOuts {
                let r = try model.gradient(feeds, output: name, target: .seed(weights[name]!), wrt: c.grad)
                for w in c.grad {
                    let g = r.gradients[w]!.floats
                    grads[w] = grads[w].map { zip($0, g).map(+) } ?? g
                }
            }
            _ = first
            for w in c.grad {
                let x = feeds[w]!
                let g = grads[w]!
                let eps = Float(c.fd_eps)
                // directional derivative
                let v = rng.uniform(x.count)
                func shifted(_ s: Float, _ dir: [Float]) -> [String: Tensor] {
                    var f = feeds
                    let t = x.copy()
                    for i in 0..<t.count { t.f32[i] += s * dir[i] }
                    f[w] = t
                    return f
                }
                let fd = (try loss(shifted(eps, v)) - loss(shifted(-eps, v))) / Double(2 * eps)
                let an = zip(g, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let scale = max(abs(fd), abs(an), 1e-2)
                XCTAssertLessThanOrEqual(abs(fd - an) / scale, 3e-2, "\(c.name) d/d\(w): directional fd \(fd) vs \(an)")
                // three single coordinates (the largest-gradient one among them)
                var coords = (0..<2).map { _ in Int(rng.next() * Double(x.count)) }
                coords.append(g.indices.max { abs(g[$0]) < abs(g[$1]) }!)
                for i in coords {
                    var e = [Float](repeating: 0, count: x.count)
                    e[i] = 1
                    let fdi = (try loss(shifted(eps, e)) - loss(shifted(-eps, e))) / Double(2 * eps)
                    let sc = max(abs(fdi), Double(abs(g[i])), 1e-2)
                    XCTAssertLessThanOrEqual(abs(fdi - Double(g[i])) / sc, 3e-2, "\(c.name) d/d\(w)[\(i)]: fd \(fdi) vs \(g[i])")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }
}

import Foundation
import FoveaONNX
import FoveaTensor
import XCTest

/// Bad models and bad inputs give one clear error each, never a crash.
final class ErrorTests: XCTestCase {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-errors-\(getpid())")
    override func setUp() { try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true) }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testTruncatedAndForeignFiles() throws {
        let data = try Data(contentsOf: Fixtures.mobilenet)
        let cut = tmp.appendingPathComponent("cut.onnx")
        try data.prefix(100_000).write(to: cut)
        XCTAssertTrue(message { _ = try Model(path: cut.path) }.contains("not an ONNX protobuf"), message { _ = try Model(path: cut.path) })
        let text = tmp.appendingPathComponent("text.onnx")
        try Data("hello, I am not a model".utf8).write(to: text)
        XCTAssertTrue(message { _ = try Model(path: text.path) }.contains("invalid ONNX model"))
        let empty = tmp.appendingPathComponent("empty.onnx")
        try Data().write(to: empty)
        XCTAssertTrue(message { _ = try Model(path: empty.path) }.contains("is empty"))
        XCTAssertTrue(message { _ = try Model(path: tmp.appendingPathComponent("missing.onnx").path) }.contains("cannot read"))
    }

    func testUnsupportedOpNamesOpNodeOpset() throws {
        let g = Graph(nodes: [Node(name: "my_node", opType: "GridSample", inputs: ["x"], outputs: ["y"])],
                      initializers: [:], inputs: [ValueInfo(name: "x", dtype: .float32, dims: [.fixed(1)])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], opset: 17)
        let m = message { _ = try Model(graph: g) }
        XCTAssertTrue(m.contains("'GridSample'") && m.contains("'my_node'") && m.contains("opset 17") && m.contains("Conv"), m)
        XCTAssertEqual(Model.unsupportedOps(g), ["GridSample"])
    }

    func testWrongInputShapeAndType() throws {
        let model = try Model(path: Fixtures.mobilenet.path)
        let m1 = message { _ = try model.run(["input": Tensor(zeros: [1, 3, 100, 100])]) }
        XCTAssertTrue(m1.contains("must have shape [1, 3, 224, 224]"), m1)
        let m2 = message { _ = try model.run(["input": Tensor(zeros: [1, 3, 224, 224], dtype: .int64)]) }
        XCTAssertTrue(m2.contains("must be float32"), m2)
        let m3 = message { _ = try model.run(["image": Tensor(zeros: [1, 3, 224, 224])]) }
        XCTAssertTrue(m3.contains("no input 'image'; its inputs: input"), m3)
        let m5 = message { _ = try model.run([:]) }
        XCTAssertTrue(m5.contains("missing input 'input'"), m5)
        let m4 = message { _ = try model.gradient(["input": Tensor(zeros: [1, 3, 224, 224])], target: .logits([5000])) }
        XCTAssertTrue(m4.contains("outside"), m4)
    }
}

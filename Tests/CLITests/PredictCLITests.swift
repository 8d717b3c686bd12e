import Foundation
import XCTest

/// `fovea predict` and `fovea model ...` as a user runs them.
final class PredictCLITests: XCTestCase {
    var root: URL { ONNXCLITests.root }
    func sample(_ n: String) -> String { root.appendingPathComponent("Tests/Fixtures/images/samples/\(n)").path }
    func run(_ args: [String]) throws -> ONNXCLITests.Result {
        // run from the repository root so the default registry ./models is found
        FileManager.default.changeCurrentDirectoryPath(root.path)
        return try ONNXCLITests.fovea(args)
    }

    func testPredictPrintsAutoMLLinesAndSaysEgyptianCat() throws {
        let r = try run(["predict", "--model", "mobilenetv2-imagenet:1", sample("chelsea.png"), sample("rocket.jpg")])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let obj = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(obj["filename"] as? String, sample("chelsea.png"))
        let probs = obj["probs"] as! [Double], labels = obj["labels"] as! [String]
        XCTAssertEqual(probs.count, 1000)
        XCTAssertEqual(labels[probs.indices.max { probs[$0] < probs[$1] }!], "Egyptian cat")
        let t = try run(["predict", sample("chelsea.png"), "--top", "3"])
        XCTAssertTrue(t.out.contains("1. Egyptian cat"), t.out)
    }

    func testBadFilesAreReportedAndGoodOnesStillAnswered() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-pred-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = dir.appendingPathComponent("notes.jpg")
        try Data("not an image".utf8).write(to: text)
        let r = try run(["predict", text.path, sample("coffee.png"), dir.appendingPathComponent("missing.png").path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("notes.jpg: not a JPEG, PNG or BMP image"), r.err)
        XCTAssertTrue(r.err.contains("missing.png: cannot read"), r.err)
        XCTAssertEqual(r.out.split(separator: "\n").count, 1)
        XCTAssertTrue(r.out.contains("coffee.png"))
        let unknown = try run(["predict", "--model", "nope:3", sample("coffee.png")])
        XCTAssertNotEqual(unknown.code, 0)
        XCTAssertTrue(unknown.err.contains("not registered"), unknown.err)
    }

    func testModelCreateListShowDelete() throws {
        let reg = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-reg-\(getpid())").path
        let src = root.appendingPathComponent("Tests/Fixtures/mlflow_classifier").path
        let c = try run(["model", "create", "--name", "tiny", "--version", "1", "--path", src, "--registry", reg])
        XCTAssertEqual(c.code, 0, c.err)
        XCTAssertTrue(c.out.contains("registered tiny:1 (image-classification, 4 labels)"), c.out)
        let again = try run(["model", "create", "--name", "tiny", "--version", "1", "--path", src, "--registry", reg])
        XCTAssertNotEqual(again.code, 0)
        XCTAssertTrue(again.err.contains("already exists"), again.err)
        XCTAssertTrue(try run(["model", "list", "--registry", reg]).out.contains("tiny:1"))
        let show = try run(["model", "show", "tiny:1", "--registry", reg])
        let obj = try JSONSerialization.jsonObject(with: Data(show.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["task"] as? String, "image-classification")
        XCTAssertEqual(obj["labels"] as? Int, 4)
        let p = try run(["predict", "--model", "tiny:1", "--registry", reg, sample("coffee.png")])
        XCTAssertEqual(p.code, 0, p.err)
        XCTAssertTrue(p.out.contains("milk_bottle"))
        XCTAssertEqual(try run(["model", "delete", "tiny:1", "--registry", reg]).code, 0)
        XCTAssertTrue(try run(["model", "list", "--registry", reg]).out.contains("no models"))
        let bad = try run(["model", "create", "--name", "../x", "--version", "1", "--path", src, "--registry", reg])
        XCTAssertTrue(bad.err.contains("invalid model name"), bad.err)
    }
}

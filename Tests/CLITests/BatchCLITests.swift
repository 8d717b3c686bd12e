import Foundation
import XCTest

/// `fovea batch` as a user runs it: real worker processes, real files, datasets written by
/// scripts/batch/gen_batch_fixtures.py (every input format, broken files included).
final class BatchCLITests: XCTestCase {
    var root: URL { ONNXCLITests.root }
    static let data: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-batch-data-\(getpid())")
        try? FileManager.default.removeItem(at: d)
        let r = BatchCLITests.python(["scripts/batch/gen_batch_fixtures.py", "Tests/Fixtures/images/samples",
                                      "models/mobilenetv2-imagenet/1/labels.json", d.path])
        precondition(r.code == 0, "fixture generation failed: \(r.err)")
        return d
    }()

    static func python(_ args: [String]) -> ONNXCLITests.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"] + args
        p.currentDirectoryURL = ONNXCLITests.root
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        try! p.run()
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return ONNXCLITests.Result(code: p.terminationStatus, out: String(decoding: od, as: UTF8.self), err: String(decoding: ed, as: UTF8.self))
    }

    func out(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-batch-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: u)
        return u
    }
    func input(_ n: String) -> String { Self.data.appendingPathComponent(n).path }
    func batch(_ args: [String]) throws -> ONNXCLITests.Result {
        FileManager.default.changeCurrentDirectoryPath(root.path)
        return try ONNXCLITests.fovea(["batch"] + args)
    }
    func json(_ u: URL) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(contentsOf: u)) as! [String: Any] }
    func lines(_ u: URL) throws -> [[String: Any]] {
        try String(contentsOf: u, encoding: .utf8).split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }
    func top(_ line: [String: Any]) -> String {
        let p = line["probs"] as! [Double], l = line["labels"] as! [String]
        return l[p.indices.max { p[$0] < p[$1] }!]
    }

    func testFolderInputSkipsNonImagesReportsBrokenOnesAndKeepsInputOrder() throws {
        let o = out("folder")
        let r = try batch(["score", "--input", input("images"), "--output", o.path, "--mini-batch-size", "3"])
        XCTAssertEqual(r.code, 0, r.err)
        let ls = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(ls.count, 16)
        // input order: sorted relative paths, subfolders included
        XCTAssertEqual(ls.map { $0["filename"] as! String }, ls.map { $0["filename"] as! String }.sorted())
        XCTAssertEqual(ls[0]["filename"] as? String, input("images") + "/cats/chelsea.png")
        XCTAssertEqual(top(ls[0]), "Egyptian cat")
        XCTAssertEqual(Set(ls[0].keys), ["filename", "labels", "probs"])
        let job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual(job["status"] as? String, "completed")
        XCTAssertEqual(job["counts"] as? [String: Int], ["total": 17, "done": 16, "failed": 1, "skipped": 2, "pending": 0])
        let failures = job["failures"] as! [[String: String]]
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures[0]["file"]!.hasSuffix("things/broken.jpg"))
        XCTAssertTrue(failures[0]["reason"]!.contains("corrupt JPEG"), failures[0]["reason"]!)
        XCTAssertEqual(Set((job["skipped"] as! [[String: String]]).map { ($0["file"]! as NSString).lastPathComponent }), ["README", "notes.txt"])
        XCTAssertNotNil((job["timings"] as? [String: Double])?["throughput_images_per_s"])
        // the same lines as `fovea predict` (one image per engine run in both)
        let p = try ONNXCLITests.fovea(["predict", "--threads", "1", input("images") + "/cats/chelsea.png"])
        XCTAssertEqual(p.out.split(separator: "\n").first.map(String.init),
                       try String(contentsOf: o.appendingPathComponent("predictions.jsonl"), encoding: .utf8).split(separator: "\n").first.map(String.init))
        // a finished job run again does nothing new and says so
        let again = try batch(["score", "--input", input("images"), "--output", o.path, "--mini-batch-size", "3"])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertTrue(again.err.contains("already done") || again.err.contains("done: 16 scored"), again.err)
    }

    func testListJSONLTFRecordGoogleCOCOAndVOCInputs() throws {
        // a list of paths: one missing file is a failure naming it
        var o = out("list")
        var r = try batch(["score", "--input", input("list.txt"), "--output", o.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try lines(o.appendingPathComponent("predictions.jsonl")).count, 6)
        var job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual(job["input_format"] as? String, "list")
        XCTAssertTrue((job["failures"] as! [[String: String]])[0]["reason"]!.contains("No such file"), "\(job["failures"]!)")

        // AutoML JSONL: the line that does not parse is named; a label the model lacks is a warning
        o = out("jsonl")
        r = try batch(["score", "--input", input("automl.jsonl"), "--output", o.path])
        XCTAssertEqual(r.code, 0, r.err)
        job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual(job["input_format"] as? String, "jsonl")
        XCTAssertEqual((job["failures"] as! [[String: String]]).map { $0["file"]! }, [input("automl.jsonl") + ":5"])
        XCTAssertTrue((job["warnings"] as! [[String: String]])[0]["reason"]!.contains("'not-a-class' is not one of the model's 1000 labels"))
        XCTAssertEqual(try lines(o.appendingPathComponent("predictions.jsonl")).first?["filename"] as? String, "images/cats/chelsea.png")
        XCTAssertTrue(r.out.contains("accuracy"), r.out)

        // TFRecord: the corrupt record and the corrupt length are reported, the other records are scored
        o = out("tfrecord")
        r = try batch(["score", "--input", input("data.tfrecord"), "--output", o.path])
        XCTAssertEqual(r.code, 0, r.err)
        job = try json(o.appendingPathComponent("job.json"))
        let reasons = (job["failures"] as! [[String: String]]).map { $0["reason"]! }
        XCTAssertEqual(reasons.count, 2, "\(reasons)")
        XCTAssertTrue(reasons[0].contains("record 2") && reasons[0].contains("data CRC32C mismatch"), reasons[0])
        XCTAssertTrue(reasons[1].contains("record 5") && reasons[1].contains("length CRC32C mismatch"), reasons[1])
        let tl = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(tl.map { ($0["filename"] as! String).components(separatedBy: "#").last! },
                       ["0:cats/chelsea.png", "1:cats/chelsea_flip.jpg", "3:cats/deep/chelsea_small.jpg", "4:things/coffee.png",
                        "6:things/coffee_crop.bmp", "7:things/deep/coffee_small.jpg"])
        // labels count from 1 in TFRecords: metrics see the true classes (every cat is an Egyptian cat)
        let tm = try json(o.appendingPathComponent("metrics.json"))
        let perClass = tm["per_class"] as! [[String: Any]]
        XCTAssertEqual(perClass.first { $0["label"] as? String == "Egyptian cat" }?["recall"] as? Double, 1.0)

        // Google's batch prediction lines: answered in Google's format, keys kept as given
        o = out("google")
        r = try batch(["score", "--input", input("google.jsonl"), "--output", o.path])
        XCTAssertEqual(r.code, 0, r.err)
        let gl = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(gl.count, 5)
        XCTAssertEqual(Set(gl[0].keys), ["classes", "probabilities", "key"])
        XCTAssertEqual(gl[0]["key"] as? String, "img-0")
        XCTAssertEqual(gl[3]["key"] as? Int, 3)
        XCTAssertEqual(gl[0]["classes"] as? Int, 285)  // Egyptian cat
        job = try json(o.appendingPathComponent("job.json"))
        XCTAssertTrue((job["failures"] as! [[String: String]])[0]["reason"]!.contains("not valid base64"))

        // COCO and VOC: read (their boxes are kept for detection metrics), images scored
        for (name, n) in [("coco/instances.json", 3), ("voc", 2)] {
            o = out(name.replacingOccurrences(of: "/", with: "-"))
            r = try batch(["score", "--input", input(name), "--output", o.path])
            XCTAssertEqual(r.code, 0, r.err)
            XCTAssertEqual(try lines(o.appendingPathComponent("predictions.jsonl")).count, n)
            let m = try json(o.appendingPathComponent("manifest.json"))
            let boxes = (m["items"] as! [[String: Any]])[0]["boxes"] as! [[String: Any]]
            XCTAssertEqual(boxes.count, 1)
            XCTAssertEqual(boxes[0]["label"] as? String, name == "voc" ? "cup" : "cat")
            XCTAssertEqual(boxes[0]["x1"] as! Double, name == "voc" ? 10 / 600.0 : 0.1, accuracy: 1e-6)  // VOC counts pixels from 1; coffee is 600 wide
        }
    }

    func testMetricsMatchScikitLearnMulticlassAndMultilabel() throws {
        let o = out("metrics")
        let r = try batch(["score", "--input", input("automl.jsonl"), "--output", o.path])
        XCTAssertEqual(r.code, 0, r.err)
        let c = Self.python(["scripts/batch/check_metrics.py", o.path, input("automl.jsonl")])
        XCTAssertEqual(c.code, 0, c.out + c.err)
        // multilabel: the tiny classifier registered as multilabel, label lists over its 4 classes
        let reg = out("ml-registry")
        XCTAssertEqual(try ONNXCLITests.fovea(["model", "create", "--name", "tinyml", "--version", "1", "--task", "multilabel",
                                               "--path", root.appendingPathComponent("Tests/Fixtures/mlflow_classifier").path, "--registry", reg.path]).code, 0)
        let names = ["can", "carton", "milk_bottle", "water_bottle"]
        let truth = try json(Self.data.appendingPathComponent("truth.json"))["variants"] as! [[String: String]]
        var text = ""
        for (k, v) in truth.enumerated() {
            let ls = [names[k % 4]] + (k % 3 == 0 ? [names[(k + 1) % 4]] : [])
            text += String(decoding: try JSONSerialization.data(withJSONObject: ["image_url": v["path"]!, "label": ls]), as: UTF8.self) + "\n"
        }
        let ml = Self.data.appendingPathComponent("tiny-multilabel.jsonl")
        try text.write(to: ml, atomically: true, encoding: .utf8)
        let o2 = out("metrics-ml")
        let r2 = try batch(["score", "--model", "tinyml:1", "--registry", reg.path, "--input", ml.path, "--output", o2.path, "--threshold", "0.4"])
        XCTAssertEqual(r2.code, 0, r2.err)
        XCTAssertTrue(r2.out.contains("micro P"), r2.out)
        let c2 = Self.python(["scripts/batch/check_metrics.py", o2.path, ml.path, "--multilabel", "0.4"])
        XCTAssertEqual(c2.code, 0, c2.out + c2.err)
    }

    func testPreLabelsCSVAndSummaryOnly() throws {
        // pre-labels: AutoML's JSONL label schema; images below --min-score get no line
        var o = out("prelabel")
        var r = try batch(["score", "--input", input("automl.jsonl"), "--output", o.path, "--output-format", "automl-jsonl", "--min-score", "0.5"])
        XCTAssertEqual(r.code, 0, r.err)
        let full = out("prelabel-ref")
        XCTAssertEqual(try batch(["score", "--input", input("automl.jsonl"), "--output", full.path]).code, 0)
        let scored = try lines(full.appendingPathComponent("predictions.jsonl"))
        let expected = scored.filter { ($0["probs"] as! [Double]).max()! >= 0.5 }
        let pre = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(pre.count, expected.count)
        XCTAssertGreaterThan(pre.count, 0)
        XCTAssertLessThan(pre.count, scored.count)
        XCTAssertEqual(pre.map { $0["label"] as! String }, expected.map(top))
        XCTAssertEqual(pre.map { $0["image_url"] as! String }, expected.map { $0["filename"] as! String })
        XCTAssertEqual((pre[0]["image_details"] as? [String: String])?["format"], "png")

        // a .csv output file name writes CSV
        o = out("csv")
        r = try batch(["score", "--input", input("list.txt"), "--output", o.path, "--output-file-name", "predictions.csv"])
        XCTAssertEqual(r.code, 0, r.err)
        let csv = try String(contentsOf: o.appendingPathComponent("predictions.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv[0], "filename,key,predicted_label,score,probs")
        XCTAssertEqual(csv.count, 7)
        XCTAssertTrue(csv[1].hasPrefix("images/cats/chelsea.png,,Egyptian cat,0."), String(csv[1]))

        // summary_only: counts and metrics, no lines
        o = out("summary")
        r = try batch(["score", "--input", input("automl.jsonl"), "--output", o.path, "--output-action", "summary_only"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.appendingPathComponent("predictions.jsonl").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: o.appendingPathComponent("metrics.json").path))
    }

    func testBadSettingsAndAnotherJobsFolderAreRefusedBeforeAnyWork() throws {
        var o = out("refuse")
        var r = try batch(["score", "--input", input("images"), "--output", o.path, "--mini-batch-size", "0"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("mini-batch-size must be >= 1"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.appendingPathComponent("manifest.json").path))
        let yml = Self.data.appendingPathComponent("bad.yml")
        try "name: b\nsettings:\n  mini_batch_size: 2\n  retries: 4\n".write(to: yml, atomically: true, encoding: .utf8)
        r = try batch(["score", "--input", input("images"), "--output", o.path, "-f", yml.path])
        XCTAssertTrue(r.err.contains("unknown key 'settings.retries'"), r.err)
        r = try batch(["score", "--input", input("nothing-here"), "--output", o.path])
        XCTAssertTrue(r.err.contains("no such file or folder"), r.err)
        // the folder of one job refuses another command
        o = out("two-jobs")
        XCTAssertEqual(try batch(["score", "--input", input("list.txt"), "--output", o.path]).code, 0)
        r = try batch(["score", "--input", input("list.txt"), "--output", o.path, "--mini-batch-size", "2"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.err.contains("holds another job (mini_batch_size: 10 before, 2 now)"), r.err)
        r = try batch(["explain", "--input", input("list.txt"), "--output", o.path])
        XCTAssertTrue(r.err.contains("holds another job (command: \"score\" before, \"explain\" now)"), r.err)
        // a folder with other files is not taken over
        let other = out("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: other.appendingPathComponent("thesis.tex"))
        r = try batch(["score", "--input", input("list.txt"), "--output", other.path])
        XCTAssertTrue(r.err.contains("is not empty and holds no Fovea job"), r.err)
        // a YAML's settings are used, flags win
        let good = Self.data.appendingPathComponent("good.yml")
        try "name: b\nendpoint_name: e\ntype: model\nmodel: azureml:mobilenetv2-imagenet:1\nresources: {instance_count: 1}\nsettings:\n  mini_batch_size: 2\n  output_file_name: out.jsonl\n  retry_settings: {max_retries: 1, timeout: 40}\n"
            .write(to: good, atomically: true, encoding: .utf8)
        o = out("yaml")
        r = try batch(["score", "--input", input("list.txt"), "--output", o.path, "-f", good.path, "--max-concurrency-per-instance", "1"])
        XCTAssertEqual(r.code, 0, r.err)
        let job = try json(o.appendingPathComponent("job.json"))
        let s = job["settings"] as! [String: Any]
        XCTAssertEqual(s["mini_batch_size"] as? Int, 2)
        XCTAssertEqual(s["max_retries"] as? Int, 1)
        XCTAssertEqual(s["timeout"] as? Double, 40)
        XCTAssertEqual(job["workers"] as? Int, 1)
        XCTAssertEqual(try lines(o.appendingPathComponent("out.jsonl")).count, 6)
    }

    func testErrorThresholdStopsTheJobAndTimeoutsFailImagesAlone() throws {
        var o = out("threshold")
        var r = try batch(["score", "--input", input("images"), "--output", o.path, "--error-threshold", "0", "--mini-batch-size", "2"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("more images failed than --error-threshold 0"), r.err)
        var job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual(job["status"] as? String, "failed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.appendingPathComponent("predictions.jsonl").path))
        // every mini-batch times out: retried, then run image by image, then each image fails with the reason
        o = out("timeout")
        r = try batch(["score", "--input", input("list.txt"), "--output", o.path, "--timeout", "0.05", "--max-retries", "1",
                       "--mini-batch-size", "3", "--max-concurrency-per-instance", "1"])
        XCTAssertEqual(r.code, 0, r.err)
        job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual((job["counts"] as! [String: Int])["failed"], 7)
        let reasons = (job["failures"] as! [[String: String]]).map { $0["reason"]! }
        XCTAssertEqual(reasons.filter { $0.contains("timed out after 0.05 s") }.count, 7, "\(reasons)")
        XCTAssertTrue(r.err.contains("retry 1 of 1") && r.err.contains("one at a time"), r.err)
    }

    /// kill -9 of the job mid-way, then the same command: one line per image, byte-identical to an uninterrupted run.
    func testKillNineThenResumeIsByteIdentical() throws {
        let ref = out("resume-ref")
        XCTAssertEqual(try batch(["score", "--input", input("images"), "--output", ref.path, "--mini-batch-size", "1"]).code, 0)
        let o = out("resume")
        for round in 0..<2 {
            let p = Process()
            p.executableURL = ONNXCLITests.binary
            p.arguments = ["batch", "score", "--input", input("images"), "--output", o.path, "--mini-batch-size", "1"]
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // wait until some (but not all) mini-batches are on disk, then kill -9 the job
            let want = round == 0 ? 3 : 8
            let deadline = Date().addingTimeInterval(60)
            var n = 0
            while Date() < deadline && p.isRunning {
                n = ((try? FileManager.default.contentsOfDirectory(atPath: o.appendingPathComponent("parts").path)) ?? []).filter { $0.hasPrefix("mb-") }.count
                if n >= want { break }
                usleep(5_000)
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertLessThan(n, 17, "the job finished before it could be killed")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.appendingPathComponent("predictions.jsonl").path))
        let r = try batch(["score", "--input", input("images"), "--output", o.path, "--mini-batch-size", "1"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains("resuming:"), r.err)
        let a = try Data(contentsOf: ref.appendingPathComponent("predictions.jsonl"))
        let b = try Data(contentsOf: o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(a, b)
        XCTAssertEqual(try lines(o.appendingPathComponent("predictions.jsonl")).count, 16)
        // workers never outlive a killed job
        usleep(600_000)
        let workers = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) }.filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains(o.path)
        } ?? []
        XCTAssertEqual(workers, [], "worker processes left behind")
    }

    /// Shards of one job run at the same time into one folder; merged, they equal the unsharded run.
    func testShardsRunTogetherAndMergeToTheUnshardedResult() throws {
        let ref = out("shard-ref")
        XCTAssertEqual(try batch(["score", "--input", input("automl.jsonl"), "--output", ref.path, "--mini-batch-size", "2"]).code, 0)
        let o = out("shards")
        let procs = try (0..<3).map { i -> Process in
            let p = Process()
            p.executableURL = ONNXCLITests.binary
            p.arguments = ["batch", "score", "--input", input("automl.jsonl"), "--output", o.path, "--mini-batch-size", "2",
                           "--shards", "3", "--max-concurrency-per-instance", "1"]
            p.environment = ProcessInfo.processInfo.environment.merging(["JOB_COMPLETION_INDEX": String(i)]) { _, b in b }
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        for p in procs { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: o.appendingPathComponent("job-shard-2-of-3.json").path))
        let m = try batch(["merge", o.path])
        XCTAssertEqual(m.code, 0, m.err)
        XCTAssertEqual(try Data(contentsOf: ref.appendingPathComponent("predictions.jsonl")), try Data(contentsOf: o.appendingPathComponent("predictions.jsonl")))
        let a = try json(ref.appendingPathComponent("metrics.json")), b = try json(o.appendingPathComponent("metrics.json"))
        XCTAssertEqual(a as NSDictionary, b as NSDictionary)
        let job = try json(o.appendingPathComponent("job.json"))
        XCTAssertEqual((job["counts"] as! [String: Int])["done"], 17)
        // merging an unfinished job says what is missing
        let half = out("half")
        XCTAssertEqual(try batch(["score", "--input", input("automl.jsonl"), "--output", half.path, "--mini-batch-size", "2", "--shard", "0/2"]).code, 0)
        let bad = try batch(["merge", half.path])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.err.contains("mini-batches are not done yet"), bad.err)
    }

    func testExplainJobWritesFiguresAndAttributionsThatMatchFoveaExplain() throws {
        let o = out("explain")
        let r = try batch(["explain", "--input", input("list.txt"), "--output", o.path, "--algorithm", "integrated_gradients",
                           "--n-steps", "4", "--nt-samples", "2", "--seed", "7", "--mini-batch-size", "3"])
        XCTAssertEqual(r.code, 0, r.err)
        let ls = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(ls.count, 6)
        XCTAssertEqual(ls[0]["visualizations"] as? String, "explanations/images/cats/chelsea.png")
        XCTAssertEqual(ls[0]["attributions"] as? String, "explanations/images/cats/chelsea.npy")
        // the same explanation as `fovea explain` with the same parameters
        let fig = out("explain-fig.png"), attr = out("explain-attr.npy")
        let e = try ONNXCLITests.fovea(["explain", input("images/cats/chelsea.png"), "--algorithm", "integrated_gradients", "--n-steps", "4",
                                        "--nt-samples", "2", "--seed", "7", "--threads", "1", "--out", fig.path, "--attributions", attr.path])
        XCTAssertEqual(e.code, 0, e.err)
        XCTAssertEqual(try Data(contentsOf: fig), try Data(contentsOf: o.appendingPathComponent("explanations/images/cats/chelsea.png")))
        XCTAssertEqual(try Data(contentsOf: attr), try Data(contentsOf: o.appendingPathComponent("explanations/images/cats/chelsea.npy")))
    }

    /// Multilabel explain jobs write one figure and one attribution file per class above the threshold, listed in the line.
    func testMultilabelExplainWritesOneFilePerClassAboveTheThreshold() throws {
        let reg = out("ml-explain-registry")
        XCTAssertEqual(try ONNXCLITests.fovea(["model", "create", "--name", "tinyml", "--version", "1", "--task", "multilabel",
                                               "--path", root.appendingPathComponent("Tests/Fixtures/mlflow_classifier").path, "--registry", reg.path]).code, 0)
        let o = out("ml-explain")
        let r = try batch(["explain", "--model", "tinyml:1", "--registry", reg.path, "--input", input("list.txt"), "--output", o.path,
                           "--algorithm", "integrated_gradients", "--n-steps", "4", "--nt-samples", "0",
                           "--confidence-score-threshold-multilabel", "0.3"])
        XCTAssertEqual(r.code, 0, r.err)
        let ls = try lines(o.appendingPathComponent("predictions.jsonl"))
        XCTAssertEqual(ls.count, 6)
        var files = 0
        for l in ls {
            let probs = l["probs"] as! [Double]
            let above = probs.indices.filter { probs[$0] > 0.3 }
            if above.isEmpty {
                XCTAssertTrue(l["visualizations"] is NSNull, "\(l)")
                continue
            }
            XCTAssertEqual(l["explained_classes"] as? [Int], above)
            let vis = l["visualizations"] as! [String], attr = l["attributions"] as! [String]
            XCTAssertEqual(vis.count, above.count)
            for (k, c) in above.enumerated() {
                XCTAssertTrue(vis[k].hasSuffix(".class-\(c).png"), vis[k])
                XCTAssertTrue(FileManager.default.fileExists(atPath: o.appendingPathComponent(vis[k]).path))
                XCTAssertTrue(FileManager.default.fileExists(atPath: o.appendingPathComponent(attr[k]).path))
                files += 1
            }
        }
        XCTAssertGreaterThan(files, 0, "no class was above the threshold on any image")
    }

    /// The exported Indexed Job passes Kubernetes' schema (strict) and, run here pod by pod as a cluster runs it
    /// (JOB_COMPLETION_INDEX, volumes mapped to folders, the merge Job beside the shards), gives the unsharded result.
    func testKubernetesJobManifestValidatesAndRunsAsShards() throws {
        let run = "k8s-\(getpid())"
        try? FileManager.default.removeItem(at: Self.data.appendingPathComponent(run))
        let manifest = out("job.yaml")
        let e = try ONNXCLITests.fovea(["export", "kubernetes-job", "--name", "val-run", "--image", "registry.example/fovea:1", "--input", "automl.jsonl",
                                        "--output", run, "--shards", "3", "--mini-batch-size", "4", "-o", manifest.path])
        XCTAssertEqual(e.code, 0, e.err)
        let text = try String(contentsOf: manifest, encoding: .utf8)
        XCTAssertTrue(text.contains("completionMode: Indexed") && text.contains("completions: 3"), text)
        let r = Self.python(["scripts/batch/run_k8s_job_locally.py", manifest.path, "--fovea", ONNXCLITests.binary.path,
                             "--models", root.appendingPathComponent("models").path, "--data", Self.data.path])
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let ref = out("k8s-ref")
        XCTAssertEqual(try batch(["score", "--input", input("automl.jsonl"), "--output", ref.path, "--mini-batch-size", "4"]).code, 0)
        XCTAssertEqual(try Data(contentsOf: ref.appendingPathComponent("predictions.jsonl")),
                       try Data(contentsOf: Self.data.appendingPathComponent("\(run)/predictions.jsonl")))
        let bad = try ONNXCLITests.fovea(["export", "kubernetes-job", "--name", "Bad_Name", "--image", "x", "--input", "a", "--output", "b", "--shards", "2"])
        XCTAssertNotEqual(bad.code, 0)
        XCTAssertTrue(bad.err.contains("DNS-1123"), bad.err)
    }
}

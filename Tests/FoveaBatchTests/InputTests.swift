import Foundation
import XCTest
import FoveaBatch

/// The input readers and settings on their own: CRC32C, TFRecord framing and tf.Example parsing, stems, YAML.
final class InputTests: XCTestCase {
    func testCRC32CKnownValues() {
        // RFC 3720 test vectors
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func frame(_ data: [UInt8], corruptLength: Bool = false, corruptData: Bool = false) -> [UInt8] {
        var len = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        var lcrc = CRC32C.masked(len)
        if corruptLength { lcrc ^= 1 }
        let dcrc = CRC32C.masked(data)
        var d = data
        if corruptData { d[0] ^= 0xFF }
        len += withUnsafeBytes(of: lcrc.littleEndian) { Array($0) }
        return len + d + withUnsafeBytes(of: dcrc.littleEndian) { Array($0) }
    }

    func testTFRecordSkipsABadRecordAndResynchronisesAfterABadLength() {
        let recs: [[UInt8]] = (0..<5).map { k in Array("record \(k) payload".utf8) }
        var file: [UInt8] = []
        for (k, r) in recs.enumerated() { file += frame(r, corruptLength: k == 3, corruptData: k == 1) }
        let (ok, problems) = TFRecordReader.read(Data(file))
        XCTAssertEqual(ok.map { String(decoding: $0.data, as: UTF8.self) }, ["record 0 payload", "record 2 payload", "record 4 payload"])
        XCTAssertEqual(problems.count, 2)
        XCTAssertTrue(problems[0].reason.contains("data CRC32C mismatch"), problems[0].reason)
        XCTAssertTrue(problems[1].reason.contains("length CRC32C mismatch; skipped"), problems[1].reason)
        // a file cut short: the whole records before the cut are read, the cut one reported
        let clean = recs.prefix(3).flatMap { frame($0) }
        let (cut, cutProblems) = TFRecordReader.read(Data(clean.prefix(clean.count - 5)))
        XCTAssertEqual(cut.count, 2)
        XCTAssertTrue(cutProblems.last!.reason.contains("truncated"), cutProblems.last!.reason)
    }

    func testStemsAreSafeAndUnique() {
        XCTAssertEqual(InputReader.stemOf("../a b/c:d.jpg"), "a_b/c_d")
        XCTAssertEqual(InputReader.stemOf("/abs/x.y.png"), "abs/x.y")
        let a = BatchItem(name: "a.jpg", path: "/a.jpg", stem: "a")
        var b = a
        b.name = "a.png"
        let u = InputReader.uniqueStems([a, b])
        XCTAssertEqual(u.map(\.stem), ["a", "a~1"])
    }

    func testBatchDeploymentYAMLBothLayoutsAndUnknownKeys() throws {
        let y = """
        $schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
        name: automl-images
        endpoint_name: my-batch-ep
        type: model
        model: azureml:mobilenetv2-imagenet:1
        compute: azureml:cpu-cluster
        resources: {instance_count: 2}
        settings:
          mini_batch_size: 4
          max_concurrency_per_instance: 1
          output_action: append_row
          output_file_name: predictions.csv
          error_threshold: 5
          retry_settings: {max_retries: 1, timeout: 12}
          logging_level: warning
        """
        let s = try BatchSettings.parse(yaml: y, file: "b.yml")
        XCTAssertEqual(s.miniBatchSize, 4)
        XCTAssertEqual(s.instanceCount, 2)
        XCTAssertEqual(s.maxConcurrencyPerInstance, 1)
        XCTAssertEqual(s.outputFileName, "predictions.csv")
        XCTAssertEqual(s.errorThreshold, 5)
        XCTAssertEqual(s.maxRetries, 1)
        XCTAssertEqual(s.timeout, 12)
        XCTAssertEqual(s.model, "mobilenetv2-imagenet:1")
        let flat = try BatchSettings.parse(yaml: "name: x\nmini_batch_size: 3\nretry_settings: {max_retries: 0}\n", file: "f.yml")
        XCTAssertEqual(flat.miniBatchSize, 3)
        XCTAssertEqual(flat.maxRetries, 0)
        XCTAssertThrowsError(try BatchSettings.parse(yaml: "settings: {mini_batch_sise: 3}\n", file: "t.yml")) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'settings.mini_batch_sise'"), "\(e)")
        }
        XCTAssertThrowsError(try BatchSettings.parse(yaml: "settings: {mini_batch_size: 0}\n", file: "z.yml")) { e in
            XCTAssertTrue("\(e)".contains("mini_batch_size must be >= 1"), "\(e)")
        }
        XCTAssertThrowsError(try BatchSettings.parse(yaml: "settings: {output_action: everything}\n", file: "o.yml"))
    }

    func testShards() throws {
        let s = try Shard.parse("1/3")
        XCTAssertEqual((0..<7).filter(s.owns), [1, 4])
        XCTAssertThrowsError(try Shard.parse("3/3"))
        XCTAssertThrowsError(try Shard.parse("x"))
    }
}

/// The batch lines' fast JSON writer against JSONSerialization, byte for byte.
final class FastJSONTests: XCTestCase {
    func testMatchesJSONSerialization() throws {
        var rng = SystemRandomNumberGenerator()
        var numbers: [Double] = [0, -0.0, 1, 2, 0.5, 1e-45, Double(Float.leastNonzeroMagnitude), Double(Float.greatestFiniteMagnitude), 1e16, 1e15, 123456789,
                                 -3, 1e21, 1e-7, 0.1]
        for _ in 0..<5000 {
            let f = Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng))
            numbers.append(Double(f))
            numbers.append(Double(Float.random(in: 0...1, using: &rng)))
        }
        let strings = ["tench", "a\"b\\c/d\u{1}\u{7f}é\n\t\r😀\u{8}\u{c}\u{1b}\u{1f}", "", "carpenter's kit", "images/cats/chelsea.png"]
        let fast = FastJSON.object([("probs", .numbers(numbers)), ("labels", .strings(strings)), ("filename", .string(strings[1])),
                                    ("visualizations", .null), ("classes", .int(285)), ("attributions", .list([.string("x"), .null]))])
        let ref = try JSONSerialization.data(withJSONObject: ["probs": numbers, "labels": strings, "filename": strings[1], "visualizations": NSNull(),
                                                              "classes": 285, "attributions": ["x", NSNull()]],
                                             options: [.sortedKeys, .withoutEscapingSlashes])
        XCTAssertEqual(fast, String(decoding: ref, as: UTF8.self))
    }
}

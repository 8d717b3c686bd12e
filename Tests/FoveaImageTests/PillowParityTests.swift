import Foundation
import FoveaImage
import FoveaTensor
import XCTest

/// Decoding and AutoML preprocessing against Pillow 13 + numpy on a generated corpus
/// (scripts/pillow_reference.py): every PNG/JPEG/BMP mode, odd sizes and the sample photos.
final class PillowParityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let corpus: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-image-corpus-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
                       root.appendingPathComponent("scripts/pillow_reference.py").path, "corpus", dir.path,
                       root.appendingPathComponent("Tests/Fixtures/images/samples").path]
        try! p.run()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "pillow_reference.py failed (is Pillow installed? make bootstrap)")
        return dir
    }()

    struct Manifest: Decodable { let good: [String]; let bad: [String] }
    var manifest: Manifest {
        try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.corpus.appendingPathComponent("manifest.json")))
    }

    func npyBytes(_ name: String) throws -> [UInt8] {
        try Npy.read(Self.corpus.appendingPathComponent(name)).int64s.map { UInt8($0) }
    }

    func testDecodeMatchesPillowConvertRGB() throws {
        var checked = 0
        for name in manifest.good {
            let img = try ImageDecoder.decode(contentsOf: Self.corpus.appendingPathComponent(name))
            let ref = try Npy.read(Self.corpus.appendingPathComponent(name + ".rgb.npy"))
            XCTAssertEqual([img.height, img.width, 3], ref.shape, name)
            guard [img.height, img.width, 3] == ref.shape else { continue }
            let r = ref.int64s
            var worst = 0
            for i in 0..<r.count { worst = max(worst, abs(Int(img.pixels[i]) - Int(r[i]))) }
            // libjpeg-turbo 2.1 (Debian) vs the 3.2 bundled in Pillow's wheel: IDCT/upsampling may differ by a level or two
            let tol = name.hasSuffix(".jpg") ? 3 : 0
            XCTAssertLessThanOrEqual(worst, tol, "\(name): max |Δ| \(worst)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 28)
    }

    /// Resize(256) + CenterCrop(224) on the same RGB pixels as Pillow: bit-identical; the normalised
    /// tensor within float rounding.
    func testPreprocessingMatchesPillowAndTorchvision() throws {
        for name in manifest.good {
            let ref = try Npy.read(Self.corpus.appendingPathComponent(name + ".rgb.npy"))
            let img = RGBImage(width: ref.shape[1], height: ref.shape[0], pixels: ref.int64s.map { UInt8($0) })
            let (w, h) = Preprocess.resizedSize(width: img.width, height: img.height, shorter: 256)
            let crop = Preprocess.centerCrop(PillowResize.resize(img, width: w, height: h), size: 224)
            let refCrop = try npyBytes(name + ".crop.npy")
            var worst = 0
            for i in 0..<refCrop.count { worst = max(worst, abs(Int(crop.pixels[i]) - Int(refCrop[i]))) }
            XCTAssertEqual(worst, 0, "\(name) (\(img.width)x\(img.height) -> \(w)x\(h)): resize+crop max |Δ| \(worst)")
            let t = Preprocess.classification(img)
            let rt = try Npy.read(Self.corpus.appendingPathComponent(name + ".tensor.npy"))
            XCTAssertEqual(t.shape, rt.shape)
            let d = zip(t.floats, rt.floats).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThanOrEqual(d, 1e-6, name)
        }
    }

    func testBadFilesGiveClearErrors() throws {
        let expect: [String: String] = [
            "truncated.jpg": "truncated", "truncated.png": "truncated", "empty.jpg": "empty",
            "text.jpg": "not a JPEG, PNG or BMP", "header_only.jpg": "corrupt JPEG",
            "huge.png": "60000x60000 = 3600000000 pixels, over the limit of 89478485",
        ]
        for name in manifest.bad {
            let url = Self.corpus.appendingPathComponent("bad/\(name)")
            XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: url), name) { e in
                XCTAssertTrue("\(e)".contains(expect[name]!), "\(name): \(e)")
            }
        }
        // the limit is configurable and checked from the header
        let big = Self.corpus.appendingPathComponent("size_4000x3000.png")
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: big, maxPixels: 1_000_000)) { e in
            XCTAssertEqual(e as? ImageError, .tooLarge(width: 4000, height: 3000, limit: 1_000_000))
        }
    }

    func testPNGEncodeRoundTrip() throws {
        let img = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        let back = try ImageDecoder.decode(PNGEncoder.encode(img))
        XCTAssertEqual(back, img)
    }
}

import Foundation
import FoveaExplain
import FoveaImage
import FoveaModel
import FoveaTensor
import XCTest

final class FelzenszwalbTests: XCTestCase {
    /// Adjusted Rand index of two labelings.
    func ari(_ a: [Int], _ b: [Int]) -> Double {
        var table: [Int: [Int: Int]] = [:], ra: [Int: Int] = [:], rb: [Int: Int] = [:]
        for (x, y) in zip(a, b) { table[x, default: [:]][y, default: 0] += 1; ra[x, default: 0] += 1; rb[y, default: 0] += 1 }
        func c2(_ n: Int) -> Double { Double(n) * Double(n - 1) / 2 }
        let sumIJ = table.values.flatMap(\.values).reduce(0.0) { $0 + c2($1) }
        let sumA = ra.values.reduce(0.0) { $0 + c2($1) }, sumB = rb.values.reduce(0.0) { $0 + c2($1) }
        let expected = sumA * sumB / c2(a.count)
        let maxIdx = (sumA + sumB) / 2
        return maxIdx == expected ? 1 : (sumIJ - expected) / (maxIdx - expected)
    }

    /// Our segmentation against scikit-image's on XRAI's input for each sample image, at the six scales.
    func testAgreesWithScikitImage() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovea-fz-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        for name in ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"] {
            let img = try ImageDecoder.decode(contentsOf: root.appendingPathComponent("Tests/Fixtures/images/samples/\(name)"))
            let x = Preprocess.classification(img, resize: 256, crop: 224, mean: [0, 0, 0], std: [1, 1, 1])  // the [0, 1] crop
            let plane = 224 * 224
            let xs = Array(UnsafeBufferPointer(start: x.f32, count: 3 * plane))
            let lo = xs.min()!, hi = xs.max()!
            var hwc = [Float](repeating: 0, count: 3 * plane)
            for c in 0..<3 { for i in 0..<plane { hwc[i * 3 + c] = (xs[c * plane + i] - lo) / (hi - lo) * 2 - 1 } }
            let inFile = tmp.appendingPathComponent("\(name).npy"), outDir = tmp.appendingPathComponent(name)
            try Npy.write(Tensor(shape: [224, 224, 3], floats: hwc), to: inFile)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", root.appendingPathComponent("scripts/skimage_felzenszwalb.py").path, inFile.path, outDir.path]
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "scikit-image reference failed (is it installed? make bootstrap)")
            let fz = Felzenszwalb(image: hwc, height: 224, width: 224, channels: 3)
            for s in XRAI.scales {
                let ref = try Npy.read(outDir.appendingPathComponent("labels_\(Int(s)).npy")).ints
                let ours = fz.segment(scale: s, minSize: XRAI.minSegmentSize).labels.map(Int.init)
                let score = ari(ours, ref)
                XCTAssertGreaterThanOrEqual(score, 0.99, "\(name) scale \(s): ARI \(score)")
            }
        }
    }
}

final class XRAIAndFigureTests: XCTestCase {
    func testFastRankingByHand() {
        // 10x10 image, two masks: left half (attr 1) and right half (attr 3); right ranks first.
        var attr = [Float](repeating: 1, count: 100)
        for y in 0..<10 { for x in 5..<10 { attr[y * 10 + x] = 3 } }
        let left = (0..<100).filter { $0 % 10 < 5 }.map(Int32.init), right = (0..<100).filter { $0 % 10 >= 5 }.map(Int32.init)
        let out = XRAI.rankFast(attr, [left, right])
        XCTAssertEqual(out, attr)
        // a mask that adds fewer than 50 new pixels is skipped; uncovered pixels get their own mean
        let small = Array(left.prefix(10))
        let out2 = XRAI.rankFast(attr, [right, small])
        XCTAssertEqual(out2[0], 1)
        XCTAssertEqual(XRAI.rankFull(attr, [left, right]), attr)
    }

    /// The real model end to end: the figure's layout, colours and title; written to disk to look at.
    func testFigureOfTheCat() throws {
        let m = try ModelFolder.load(root.appendingPathComponent("models/mobilenetv2-imagenet/1"))
        let h = ClassificationHandler(m)
        let x = h.preprocess(try ImageDecoder.decode(contentsOf: root.appendingPathComponent("Tests/Fixtures/images/chelsea.jpg")))
        let e = try Explainer(model: m)
        var p = XAIParameters()
        p.nSteps = 10  // enough for the figure's checks; the default 50 is exercised by the CLI and the benchmark
        let out = try e.explain(input: x, target: 285, score: 0.69255, p: p)
        XCTAssertEqual(out.label, "Egyptian cat")
        // XRAI's map is one value per pixel, copied to 3 channels, constant over regions
        let plane = 224 * 224
        XCTAssertEqual(Array(out.attributions[0..<plane]), Array(out.attributions[plane..<(2 * plane)]))
        XCTAssertLessThan(Set(out.attributions[0..<plane]).count, 400)
        let fig = try XCTUnwrap(out.figure)
        let png = try PNGEncoder.encode(fig)
        let dir = root.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try png.write(to: dir.appendingPathComponent("chelsea_xrai.png"))
        let back = try ImageDecoder.decode(png)
        XCTAssertEqual(back.width, fig.width)
        // 2x2: panel 0 (top left) shows the input crop at scale 2
        let s = Visualization.scale, pad = 24
        let titleH = Canvas.lineHeight(.small) + 8, supH = Canvas.lineHeight(.large) + 16
        let row1 = pad + supH + titleH
        XCTAssertEqual(back.width, 3 * pad + 2 * 224 * s)
        func px(_ img: RGBImage, _ x: Int, _ y: Int) -> [UInt8] { Array(img.pixels[((y * img.width + x) * 3)..<((y * img.width + x) * 3 + 3)]) }
        var crop = [UInt8](repeating: 0, count: 3)
        for (cy, cx) in [(10, 10), (100, 150), (200, 30)] {
            for c in 0..<3 { crop[c] = UInt8(max(0, min(1, x.f32[c * plane + cy * 224 + cx] * h.std[c] + h.mean[c])) * 255) }
            XCTAssertEqual(px(back, pad + cx * s, row1 + cy * s), crop)
        }
        // panel 1 (top right): every pixel is a bgyw colour
        let lut = Set((0..<256).map { i -> [UInt8] in let c = Colormap.color(Float(i) / 256); return [c.0, c.1, c.2] })
        for y in stride(from: 0, to: 224 * s, by: 7) {
            for xx in stride(from: 0, to: 224 * s, by: 7) { XCTAssertTrue(lut.contains(px(back, 2 * pad + 224 * s + xx, row1 + y))) }
        }
        // the suptitle row has dark text pixels; the margin above it is white
        let titleRow = (pad..<(pad + Canvas.lineHeight(.large))).flatMap { y in (0..<back.width).map { px(back, $0, y) } }
        XCTAssertGreaterThan(titleRow.filter { $0[0] < 80 }.count, 300)
        XCTAssertTrue((0..<back.width).allSatisfy { px(back, $0, 2) == [255, 255, 255] })
        XCTAssertEqual(Visualization.pythonRound4(0.69255), "0.6926")
        XCTAssertEqual(Visualization.pythonRound4(1), "1.0")
        XCTAssertEqual(Visualization.pythonRound4(0.5), "0.5")
    }

    func testHeatNormalisationAndPercentile() {
        // |channel sum| = [1, 2, 3, 4]; cumulative 1,3,6,10; 98% of 10 = 9.8 → threshold 4
        let attr: [Float] = [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]
        XCTAssertEqual(Visualization.heatNormalised(attr, plane: 4), [0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Visualization.percentile([1, 2, 3, 4, 5], 70), 3.8, accuracy: 1e-6)
        XCTAssertEqual(Visualization.heatNormalised([Float](repeating: 0, count: 12), plane: 4), [0, 0, 0, 0])
    }
}

import ArgumentParser
import Foundation
import FoveaImage
import FoveaModel
import FoveaTensor

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Decode images and apply AutoML's preprocessing; write the tensors or time it.",
        discussion: "Classification preprocessing with --resize/--crop, or with --model the preprocessing of that registered model's task (YOLO letterbox, R-CNN resize + normalisation). With --output-dir each image becomes DIR/<file name>.npy, float32 [1,3,H,W]. With --iterations the decode + preprocess of every file is timed and one JSON object printed.")
    @Argument(help: "Image files.") var images: [String]
    @Option(help: "Shorter side after resizing (valid_resize_size).") var resize = 256
    @Option(help: "Center crop (valid_crop_size).") var crop = 224
    @Option(help: "Write each tensor as DIR/<file>.npy.") var outputDir: String?
    @Option(help: "Time this many runs over all files (decode + resize + crop + normalise).") var iterations: Int?
    @Option(help: "name:version of a registered model whose task's preprocessing to apply.") var model: String?
    @OptionGroup var registry: RegistryOption

    func run() throws {
        let datas = try images.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        if let dir = outputDir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let handler = try model.map { m in try cli { try TaskHandlers.make(ModelFolder.load(try registry.value.resolve(m).directory)) } }
            for (path, d) in zip(images, datas) {
                let img = try ImageDecoder.decode(d)
                var t = try handler?.prepare(img).tensor ?? Preprocess.classification(img, resize: resize, crop: crop)
                if t.rank == 3 { t = t.reshaped([1] + t.shape) }
                try Npy.write(t, to: URL(fileURLWithPath: dir).appendingPathComponent((path as NSString).lastPathComponent + ".npy"))
            }
        }
        guard let n = iterations else { return }
        var perImage: [Double] = []
        for _ in 0..<max(1, n) {
            for d in datas {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = Preprocess.classification(try ImageDecoder.decode(d), resize: resize, crop: crop)
                perImage.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
        }
        perImage.sort()
        let obj: [String: Any] = ["images": images.count, "iterations": n, "median_ms_per_image": round3(perImage[perImage.count / 2]),
                                  "mean_ms_per_image": round3(perImage.reduce(0, +) / Double(perImage.count))]
        print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
    }
}

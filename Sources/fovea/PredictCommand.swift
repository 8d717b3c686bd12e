import ArgumentParser
import Foundation
import FoveaImage
import FoveaModel
import FoveaTensor

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify image files with a registered model; prints one AutoML JSON line per image.",
        discussion: """
        Each line is {"filename": ..., "probs": [...], "labels": [...]} as AutoML's batch scoring writes it.
        A file that cannot be read or decoded gets a message on stderr; the others are still answered, and the
        exit code is 1.
        """)
    @Option(help: "name:version of a registered model (or name for its latest version).")
    var model = "mobilenetv2-imagenet:1"
    @Argument(help: "Image files (JPEG, PNG, BMP).") var images: [String]
    @Option(help: "Print the K most likely labels as a table instead of JSON.") var top: Int?
    @Option(help: "Largest image accepted, in pixels (Pillow's limit by default).") var maxPixels = ImageDecoder.defaultMaxPixels
    @Option(help: "Engine threads.") var threads: Int?
    @OptionGroup var registry: RegistryOption

    func run() throws {
        if let t = threads { Threads.count = t }
        let loaded = try cli { try ModelFolder.load(try registry.value.resolve(model).directory) }
        guard loaded.task.isClassification else {
            throw CLIError("model \(model) is \(loaded.task.rawValue); predict handles classification models for now")
        }
        let handler = ClassificationHandler(loaded)
        var decoded: [(String, Tensor)] = []
        var failed = false
        for path in images {
            do {
                let img = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path), maxPixels: maxPixels)
                decoded.append((path, handler.preprocess(img)))
            } catch let e as ImageError {
                FileHandle.standardError.write(Data("\(path): \(e.description)\n".utf8)); failed = true
            } catch {
                FileHandle.standardError.write(Data("\(path): cannot read: \(error.localizedDescription)\n".utf8)); failed = true
            }
        }
        if !decoded.isEmpty {
            let results = handler.postprocess(try handler.run(decoded.map(\.1)))
            for ((path, _), r) in zip(decoded, results) {
                if let k = top {
                    print(path)
                    for (i, t) in r.top(k).enumerated() {
                        let label = t.label.count < 32 ? t.label + String(repeating: " ", count: 32 - t.label.count) : t.label
                        print(String(format: "  %2d. ", i + 1) + label + String(format: " %8.5f  (class %d)", t.prob, t.index))
                    }
                } else {
                    let d = try JSONSerialization.data(withJSONObject: r.json(filename: path), options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: d, as: UTF8.self))
                }
            }
        }
        if failed { throw ExitCode(1) }
    }
}

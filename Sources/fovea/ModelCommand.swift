import ArgumentParser
import Foundation
import FoveaModel

/// Where the registry lives: --registry, else $FOVEA_REGISTRY, else ./models.
struct RegistryOption: ParsableArguments {
    @Option(name: .long, help: "The model registry folder (default: $FOVEA_REGISTRY or ./models).")
    var registry: String?
    var value: Registry {
        Registry(root: URL(fileURLWithPath: registry ?? ProcessInfo.processInfo.environment["FOVEA_REGISTRY"] ?? "models"))
    }
}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Register, list, show and delete models in the registry (models/<name>/<version>/).",
        subcommands: [Create.self, List.self, Show.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a model folder (MLflow-style, or AutoML's model.onnx + labels.json) and copy it in as a new version.")
        @Option(help: "Model name (letters, digits, '.', '_', '-').") var name: String
        @Option(help: "Version; an existing version is never overwritten.") var version: String
        @Option(help: "The folder to register.") var path: String
        @Option(help: "Task, when the folder does not say: image-classification, image-classification-multilabel, image-object-detection, image-instance-segmentation.")
        var task: String?
        @Option(help: "A settings.json to use instead of the folder's (copied to artifacts/settings.json).") var settings: String?
        @OptionGroup var registry: RegistryOption

        func run() throws {
            let t = try task.map { try TaskKind.parse($0) }
            let m = try cli { try registry.value.create(name: name, version: version, from: URL(fileURLWithPath: path), task: t,
                                                        settings: settings.map { URL(fileURLWithPath: $0) }) }
            for w in m.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            print("registered \(name):\(version) (\(m.task.rawValue), \(m.labels.count) labels) at \(m.directory.path)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered models and versions.")
        @OptionGroup var registry: RegistryOption
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let entries = registry.value.list()
            if json {
                let arr = entries.map { ["name": $0.name, "version": $0.version, "path": $0.directory.path] }
                print(String(decoding: try JSONSerialization.data(withJSONObject: arr, options: [.sortedKeys]), as: UTF8.self))
                return
            }
            if entries.isEmpty { print("no models in \(registry.value.root.path)"); return }
            for e in entries { print("\(e.name):\(e.version)\t\(e.directory.path)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a model version: task, labels, settings, inputs/outputs.")
        @Argument(help: "name:version (or name for the latest version).") var model: String
        @OptionGroup var registry: RegistryOption
        func run() throws {
            let m = try cli { try ModelFolder.load(try registry.value.resolve(model).directory) }
            let g = m.engine.graph
            let obj: [String: Any] = [
                "path": m.directory.path, "task": m.task.rawValue, "base_model_name": m.baseModelName ?? NSNull(),
                "labels": m.labels.count, "first_labels": Array(m.labels.prefix(5)), "settings": m.settings.jsonObject,
                "onnx": m.onnxPath.lastPathComponent, "opset": g.opset,
                "inputs": g.inputs.map { "\($0.name) [\($0.dims?.map(\.description).joined(separator: ", ") ?? "?")]" },
                "outputs": g.outputs.map { "\($0.name) [\($0.dims?.map(\.description).joined(separator: ", ") ?? "?")]" },
                "warnings": m.warnings,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one model version.")
        @Argument(help: "name:version") var model: String
        @OptionGroup var registry: RegistryOption
        func run() throws {
            let parts = model.split(separator: ":").map(String.init)
            guard parts.count == 2 else { throw CLIError("give name:version to delete") }
            try cli { try registry.value.delete(name: parts[0], version: parts[1]) }
            print("deleted \(model)")
        }
    }
}

/// Runs a body, turning model/engine errors into one-line CLI errors.
func cli<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ModelError { throw CLIError(e.description) }
}

import Foundation
import FoveaImage
import FoveaONNX
import FoveaTensor
import Yams

/// A model ready to serve: an MLflow-style folder (MLmodel + ONNX + labels + artifacts/settings.json)
/// or AutoML's plain ONNX export (model.onnx + labels.json, task given by the caller), validated.
public final class LoadedModel: @unchecked Sendable {
    public let directory: URL
    public let task: TaskKind
    public let baseModelName: String?
    public let labels: [String]
    public let settings: Settings
    public let onnxPath: URL
    public let engine: Model
    public var warnings: [String]

    init(directory: URL, task: TaskKind, baseModelName: String?, labels: [String], settings: Settings, onnxPath: URL,
         engine: Model, warnings: [String]) {
        self.directory = directory
        self.task = task
        self.baseModelName = baseModelName
        self.labels = labels
        self.settings = settings
        self.onnxPath = onnxPath
        self.engine = engine
        self.warnings = warnings
    }
}

public enum ModelFolder {
    /// What an MLmodel file says (the parts Fovea uses).
    public struct MLmodel {
        public var onnxFile: String?
        public var settingsFile: String?
        public var task: String?
        public var baseModelName: String?
        public var labels: [String]?
    }

    public static func parseMLmodel(_ text: String) throws -> MLmodel {
        let yaml: Any?
        do { yaml = try Yams.load(yaml: text) } catch { throw ModelError.invalid("MLmodel is not valid YAML: \(error)") }
        guard let root = yaml as? [String: Any] else { throw ModelError.invalid("MLmodel must be a YAML mapping") }
        var m = MLmodel()
        let flavors = root["flavors"] as? [String: Any] ?? [:]
        if let onnx = flavors["onnx"] as? [String: Any], let data = onnx["data"] as? String { m.onnxFile = data }
        if let pf = flavors["python_function"] as? [String: Any] {
            if m.onnxFile == nil, let data = pf["data"] as? String, data.hasSuffix(".onnx") { m.onnxFile = data }
            if let arts = pf["artifacts"] as? [String: Any] {
                for (_, v) in arts {
                    guard let path = (v as? [String: Any])?["path"] as? String else { continue }
                    if path.hasSuffix(".onnx") && m.onnxFile == nil { m.onnxFile = path }
                    if path.hasSuffix("settings.json") { m.settingsFile = path }
                }
            }
        }
        if let meta = root["metadata"] as? [String: Any] {
            m.task = meta["finetuning_task"] as? String
            m.baseModelName = meta["base_model_name"] as? String
            m.labels = meta["labels"] as? [String]
        }
        return m
    }

    /// Resolves a path inside the folder, refusing absolute paths and `..`.
    static func inside(_ dir: URL, _ rel: String) throws -> URL {
        guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else {
            throw ModelError.invalid("path '\(rel)' in the model folder must be relative and stay inside it")
        }
        return dir.appendingPathComponent(rel)
    }

    /// Loads and validates a model folder. `task` and `settingsFile` override what the folder says.
    public static func load(_ dir: URL, task taskOverride: TaskKind? = nil, settingsFile: URL? = nil) throws -> LoadedModel {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw ModelError.notFound("model folder '\(dir.path)' does not exist")
        }
        var ml = MLmodel()
        let mlPath = dir.appendingPathComponent("MLmodel")
        if fm.fileExists(atPath: mlPath.path) {
            ml = try parseMLmodel(String(contentsOf: mlPath, encoding: .utf8))
        }
        // the ONNX file
        var onnx: URL
        if let f = ml.onnxFile {
            onnx = try inside(dir, f)
        } else {
            let candidates = ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
            guard !candidates.isEmpty else { throw ModelError.invalid("no .onnx file in '\(dir.path)' (and no MLmodel naming one)") }
            onnx = dir.appendingPathComponent(candidates.contains("model.onnx") ? "model.onnx" : candidates[0])
        }
        guard fm.fileExists(atPath: onnx.path) else { throw ModelError.invalid("the ONNX file '\(onnx.lastPathComponent)' named by MLmodel is missing") }
        // the task
        let task: TaskKind
        if let t = taskOverride { task = t } else if let t = ml.task {
            task = try TaskKind.parse(t)
        } else {
            throw ModelError.invalid("the task is unknown: MLmodel has no metadata.finetuning_task; give --task (one of \(TaskKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        // labels
        var labels: [String]
        let labelFiles = ["labels.json", "artifacts/labels.json"].map { dir.appendingPathComponent($0) }
        if let lf = labelFiles.first(where: { fm.fileExists(atPath: $0.path) }) {
            guard case .array(let a)? = try? JSONValue.parse(Data(contentsOf: lf)) else {
                throw ModelError.invalid("\(lf.lastPathComponent) must be a JSON list of class names")
            }
            labels = try a.map { v -> String in
                guard case .string(let s) = v else { throw ModelError.invalid("labels.json must hold strings, found \(v)") }
                return s
            }
        } else if let l = ml.labels {
            labels = l
        } else {
            throw ModelError.invalid("no labels: add labels.json (a JSON list of class names) or metadata.labels to MLmodel")
        }
        // settings
        var settingsURL: URL? = settingsFile
        if settingsURL == nil {
            let cands = [ml.settingsFile, "artifacts/settings.json", "settings.json"].compactMap { $0 }
            for c in cands { let u = try inside(dir, c); if fm.fileExists(atPath: u.path) { settingsURL = u; break } }
        }
        // the graph
        let engine: Model
        do { engine = try Model(path: onnx.path) } catch let e as EngineError {
            throw ModelError.invalid("\(onnx.lastPathComponent): \(e.description)")
        }
        var isYolo = (ml.baseModelName ?? "").lowercased().hasPrefix("yolo")
        if !task.isClassification, (try? DetectionArchitecture.of(engine)) == .yolo { isYolo = true }
        let settings = try Settings(task: task, json: settingsURL.map { try Data(contentsOf: $0) }, yolo: isYolo)
        var warnings = settings.warnings
        if task.isClassification {
            try validateClassifier(engine, labels: labels, settings: settings, warnings: &warnings)
        }
        let loaded = LoadedModel(directory: dir, task: task, baseModelName: ml.baseModelName, labels: labels, settings: settings,
                                 onnxPath: onnx, engine: engine, warnings: warnings)
        if !task.isClassification { try validateDetector(loaded) }
        return loaded
    }

    /// A detector: AutoML's YOLO or R-CNN export whose classes match the labels (checked from the declared
    /// shapes, or a probe run on a blank image when they are open).
    static func validateDetector(_ m: LoadedModel) throws {
        let handler = try TaskHandlers.make(m)
        guard m.engine.graph.inputs.count == 1 else {
            throw ModelError.invalid("a detector must take one input image tensor; this model takes \(m.engine.inputNames.joined(separator: ", "))")
        }
        if handler is YOLOHandler {
            var width: Int? = nil
            if let d = m.engine.graph.outputs.first?.dims, d.count == 3, case .fixed(let c) = d[2] { width = c }
            if let width, width != 5 + m.labels.count {
                throw ModelError.invalid("the YOLO model outputs \(width - 5) classes per box but there are \(m.labels.count) labels")
            }
        }
        if m.task == .instanceSegmentation, !m.engine.outputNames.contains("masks") {
            throw ModelError.invalid("an instance segmentation model must output 'masks'")
        }
    }

    /// One input, one [N, C] output with C = number of labels (from the declared shape, or a probe run).
    static func validateClassifier(_ m: Model, labels: [String], settings: Settings, warnings: inout [String]) throws {
        guard m.graph.inputs.count == 1 else {
            throw ModelError.invalid("a classifier must take one input image tensor; this model takes \(m.inputNames.joined(separator: ", "))")
        }
        if let dims = m.graph.inputs[0].dims, dims.count == 4, case .fixed(let h) = dims[2], let crop = settings.int("valid_crop_size"), h != crop {
            throw ModelError.invalid("the model's input is \(h)x\(h) but settings.json valid_crop_size is \(crop)")
        }
        var width: Int? = nil
        if let dims = m.graph.outputs.first?.dims, dims.count == 2, case .fixed(let c) = dims[1] { width = c }
        if width == nil {
            let crop = settings.int("valid_crop_size") ?? 224
            let out = try m.run([m.inputNames[0]: Tensor(zeros: [1, 3, crop, crop])])
            width = out[m.outputNames[0]]!.shape.last
        }
        guard width == labels.count else {
            throw ModelError.invalid("the model outputs \(width ?? -1) classes but there are \(labels.count) labels")
        }
    }
}

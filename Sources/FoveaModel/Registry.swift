import Foundation

/// The model registry: `<root>/<name>/<version>/`, each version an immutable model folder.
public struct Registry: Sendable {
    public let root: URL
    public init(root: URL) { self.root = root }

    public struct Entry: Sendable {
        public let name: String
        public let version: String
        public let directory: URL
    }

    /// Names and versions: letters, digits, '.', '_', '-'; not starting with '.'; no path separators.
    public static func checkName(_ s: String, _ what: String) throws {
        let ok = !s.isEmpty && s.count <= 128 && !s.hasPrefix(".") && s != ".."
            && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
        guard ok else {
            throw ModelError.invalid("invalid model \(what) '\(s)': use letters, digits, '.', '_' and '-' (no path separators, not starting with '.')")
        }
    }

    /// "name:version" or "name" (the highest version).
    public func resolve(_ ref: String) throws -> Entry {
        let parts = ref.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        try Registry.checkName(name, "name")
        if parts.count == 2 {
            try Registry.checkName(parts[1], "version")
            let d = root.appendingPathComponent(name).appendingPathComponent(parts[1])
            guard FileManager.default.fileExists(atPath: d.path) else {
                let known = versions(of: name)
                throw ModelError.notFound("model \(name):\(parts[1]) is not registered"
                    + (known.isEmpty ? " (no versions of '\(name)' in \(root.path))" : " (versions: \(known.joined(separator: ", ")))"))
            }
            return Entry(name: name, version: parts[1], directory: d)
        }
        guard let v = versions(of: name).last else { throw ModelError.notFound("model '\(name)' is not registered in \(root.path)") }
        return Entry(name: name, version: v, directory: root.appendingPathComponent(name).appendingPathComponent(v))
    }

    /// Versions of a model, numeric ones in numeric order.
    public func versions(of name: String) -> [String] {
        let d = root.appendingPathComponent(name)
        let items = ((try? FileManager.default.contentsOfDirectory(atPath: d.path)) ?? []).filter { !$0.hasPrefix(".") }
        return items.sorted { a, b in
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a < b
            }
        }
    }

    public func list() -> [Entry] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.flatMap { n in versions(of: n).map { Entry(name: n, version: $0, directory: root.appendingPathComponent(n).appendingPathComponent($0)) } }
    }

    /// Validates the folder (loads the graph once), then copies it in atomically: into a temporary
    /// folder beside the target, then one rename. An existing version is never overwritten.
    @discardableResult
    public func create(name: String, version: String, from source: URL, task: TaskKind? = nil, settings: URL? = nil) throws -> LoadedModel {
        try Registry.checkName(name, "name")
        try Registry.checkName(version, "version")
        let fm = FileManager.default
        let parent = root.appendingPathComponent(name)
        let target = parent.appendingPathComponent(version)
        if fm.fileExists(atPath: target.path) { throw ModelError.exists("model \(name):\(version) already exists; versions are never overwritten") }
        let loaded = try ModelFolder.load(source, task: task, settingsFile: settings)
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".tmp-\(version)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? fm.removeItem(at: tmp) }
        try fm.copyItem(at: source, to: tmp)
        // make the copy self-describing: task in MLmodel, settings in artifacts/
        if let settings {
            try fm.createDirectory(at: tmp.appendingPathComponent("artifacts"), withIntermediateDirectories: true)
            let dst = tmp.appendingPathComponent("artifacts/settings.json")
            try? fm.removeItem(at: dst)
            try fm.copyItem(at: settings, to: dst)
        }
        let ml = tmp.appendingPathComponent("MLmodel")
        if !fm.fileExists(atPath: ml.path) || task != nil {
            try writeMLmodel(ml, onnx: loaded.onnxPath.path.replacingOccurrences(of: source.path + "/", with: ""),
                             task: loaded.task, base: loaded.baseModelName, existing: fm.fileExists(atPath: ml.path) ? ml : nil)
        }
        try fsyncTree(tmp)
        guard rename(tmp.path, target.path) == 0 else {
            if errno == EEXIST || errno == ENOTEMPTY { throw ModelError.exists("model \(name):\(version) already exists; versions are never overwritten") }
            throw ModelError.invalid("could not move the model into place: \(String(cString: strerror(errno)))")
        }
        return try ModelFolder.load(target)
    }

    func writeMLmodel(_ url: URL, onnx: String, task: TaskKind, base: String?, existing: URL?) throws {
        var text: String
        if let existing, var t = try? String(contentsOf: existing, encoding: .utf8) {
            // replace or add metadata.finetuning_task, keeping everything else
            if let r = t.range(of: #"finetuning_task:[^\n]*"#, options: .regularExpression) {
                t.replaceSubrange(r, with: "finetuning_task: \(task.rawValue)")
            } else if t.contains("\nmetadata:\n") {
                t = t.replacingOccurrences(of: "\nmetadata:\n", with: "\nmetadata:\n  finetuning_task: \(task.rawValue)\n")
            } else {
                t += "metadata:\n  finetuning_task: \(task.rawValue)\n"
            }
            text = t
        } else {
            text = "flavors:\n  onnx:\n    data: \(onnx)\n  python_function:\n    data: \(onnx)\n    loader_module: mlflow.onnx\n"
                + "metadata:\n  finetuning_task: \(task.rawValue)\n" + (base.map { "  base_model_name: \($0)\n" } ?? "")
        }
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// fsync every file and folder of a tree so a crash right after the rename leaves a whole version.
    func fsyncTree(_ dir: URL) throws {
        let fm = FileManager.default
        if let e = fm.enumerator(atPath: dir.path) {
            for case let rel as String in e {
                let fd = open(dir.appendingPathComponent(rel).path, O_RDONLY)
                if fd >= 0 { fsync(fd); close(fd) }
            }
        }
        let fd = open(dir.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    public func delete(name: String, version: String) throws {
        try Registry.checkName(name, "name")
        try Registry.checkName(version, "version")
        let d = root.appendingPathComponent(name).appendingPathComponent(version)
        guard FileManager.default.fileExists(atPath: d.path) else { throw ModelError.notFound("model \(name):\(version) is not registered") }
        // rename away first so readers never see a half-deleted version
        let trash = root.appendingPathComponent(name).appendingPathComponent(".deleting-\(version)-\(getpid())")
        guard rename(d.path, trash.path) == 0 else { throw ModelError.invalid("could not delete \(name):\(version): \(String(cString: strerror(errno)))") }
        try FileManager.default.removeItem(at: trash)
        let parent = root.appendingPathComponent(name)
        if versions(of: name).isEmpty { try? FileManager.default.removeItem(at: parent) }
    }
}

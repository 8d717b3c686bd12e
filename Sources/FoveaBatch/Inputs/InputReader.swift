import Foundation
import FoveaModel

/// Lists a job's inputs. Formats: a folder of images (recursive, images recognised by content), a text file of
/// paths, AutoML JSONL (MLTable lines), TFRecord files of tf.Example, Google batch-prediction JSON lines, COCO JSON
/// and Pascal VOC folders. Nothing here decodes an image: workers do.
public enum InputFormat: String, CaseIterable, Codable, Sendable {
    case folder, list, jsonl, tfrecord, google, coco, voc
}

public enum InputReader {
    /// Lists `path`; `format` nil = detect it (see `detect`).
    public static func read(_ path: String, format: InputFormat? = nil, imagesDir: String? = nil) throws -> Manifest {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw BatchError("--input \(path): no such file or folder")
        }
        let f = try format ?? detect(url, isDirectory: isDir.boolValue)
        var m: Manifest
        switch f {
        case .folder:
            guard isDir.boolValue else { throw BatchError("--input \(path): the folder format needs a folder") }
            m = folder(url, shownAs: path)
        case .list: m = try list(url, shownAs: path)
        case .jsonl: m = try automlJSONL(url, shownAs: path)
        case .tfrecord: m = try tfrecords(url, isDirectory: isDir.boolValue, shownAs: path)
        case .google: m = try googleLines(url, shownAs: path)
        case .coco: m = try COCOReader.read(url, shownAs: path, imagesDir: imagesDir)
        case .voc: m = try VOCReader.read(url, shownAs: path)
        }
        m.items = uniqueStems(m.items)
        return m
    }

    /// A folder with `Annotations/` and `JPEGImages/` is VOC, any other folder a folder of images; a `.tfrecord`
    /// file (or one whose first frame's CRC holds) is TFRecord; a JSON file with `images` and `annotations` is COCO;
    /// JSON lines with `image_bytes` are Google's, with `image_url` AutoML's; anything else is a list of paths.
    public static func detect(_ url: URL, isDirectory: Bool) throws -> InputFormat {
        let fm = FileManager.default
        if isDirectory {
            if fm.fileExists(atPath: url.appendingPathComponent("Annotations").path),
               fm.fileExists(atPath: url.appendingPathComponent("JPEGImages").path) { return .voc }
            return .folder
        }
        let ext = url.pathExtension.lowercased()
        if ["tfrecord", "tfrecords", "tfrec"].contains(ext) { return .tfrecord }
        guard let h = FileHandle(forReadingAtPath: url.path) else { throw BatchError("--input \(url.path): cannot read") }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 1 << 16)) ?? Data()
        if head.count >= 12 {
            let b = [UInt8](head.prefix(12))
            var crc: UInt32 = 0
            for i in 0..<4 { crc |= UInt32(b[8 + i]) << (8 * UInt32(i)) }
            if CRC32C.masked(b[0..<8]) == crc { return .tfrecord }
        }
        let text = String(decoding: head, as: UTF8.self)
        if ext == "json" || text.drop(while: { $0.isWhitespace }).first == "{" && !text.contains("\n{") {
            if text.contains("\"annotations\"") && text.contains("\"images\"") { return .coco }
        }
        if let first = text.split(separator: "\n").first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            if first.contains("\"image_bytes\"") { return .google }
            if first.contains("\"image_url\"") { return .jsonl }
        }
        return .list
    }

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "jpe", "jfif"]

    /// JPEG, PNG, BMP, GIF, TIFF or WebP by its first bytes.
    public static func looksLikeImage(_ h: [UInt8]) -> Bool {
        func starts(_ p: [UInt8]) -> Bool { h.count >= p.count && Array(h.prefix(p.count)) == p }
        return starts([0xFF, 0xD8, 0xFF]) || starts([0x89, 0x50, 0x4E, 0x47]) || starts([0x42, 0x4D]) || starts(Array("GIF8".utf8))
            || starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A])
            || (h.count >= 12 && starts(Array("RIFF".utf8)) && Array(h[8..<12]) == Array("WEBP".utf8))
    }

    static func head(_ path: String) -> [UInt8]? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        return (try? h.read(upToCount: 16)).map { [UInt8]($0) }
    }

    static func folder(_ root: URL, shownAs: String) -> Manifest {
        var items: [BatchItem] = [], problems: [InputProblem] = []
        let base = shownAs.hasSuffix("/") ? String(shownAs.dropLast()) : shownAs
        var rels: [String] = []
        func walk(_ dir: URL, _ rel: String) {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
                problems.append(InputProblem(kind: "failed", source: base + "/" + rel, reason: "cannot list the folder")); return
            }
            for n in names.sorted() {
                let r = rel.isEmpty ? n : rel + "/" + n
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(n).path, isDirectory: &isDir) else {
                    problems.append(InputProblem(kind: "skipped", source: base + "/" + r, reason: "a broken link")); continue
                }
                if isDir.boolValue { walk(dir.appendingPathComponent(n), r) } else { rels.append(r) }
            }
        }
        walk(root, "")
        for r in rels.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let p = root.appendingPathComponent(r).path
            let h = head(p) ?? []
            let ext = (r as NSString).pathExtension.lowercased()
            if looksLikeImage(h) || imageExtensions.contains(ext) {
                var it = BatchItem(name: base + "/" + r, path: p, stem: stemOf(r))
                it.origin = base + "/" + r
                items.append(it)
            } else {
                problems.append(InputProblem(kind: "skipped", source: base + "/" + r, reason: "not an image (by its content)"))
            }
        }
        return Manifest(format: InputFormat.folder.rawValue, items: items, problems: problems)
    }

    /// Reads a text file's lines with their 1-based numbers and byte ranges.
    static func lines(_ url: URL) throws -> [(number: Int, offset: Int, text: Substring)] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw BatchError("cannot read \(url.path): \(error.localizedDescription)") }
        let s = String(decoding: data, as: UTF8.self)
        var out: [(Int, Int, Substring)] = []
        var offset = 0, n = 0
        for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            let t = line.hasSuffix("\r") ? line.dropLast() : line
            out.append((n, offset, t))
            offset += line.utf8.count + 1
        }
        return out
    }

    /// Resolves a path or `file://` URL given in an input file against that file's folder.
    static func resolve(_ s: String, against base: URL) -> String? {
        var p = s
        if p.hasPrefix("file://") { p = String(p.dropFirst("file://".count)) }
        if p.contains("://") {
            // a datastore URI: use its path part if it exists beside the input file
            if let r = p.range(of: "/paths/") {
                let tail = String(p[r.upperBound...])
                let local = base.appendingPathComponent(tail).path
                return FileManager.default.fileExists(atPath: local) ? local : nil
            }
            return nil
        }
        if p.hasPrefix("/") { return p }
        return base.appendingPathComponent(p).standardizedFileURL.path
    }

    static func list(_ url: URL, shownAs: String) throws -> Manifest {
        var items: [BatchItem] = [], problems: [InputProblem] = []
        let base = url.deletingLastPathComponent()
        for (n, _, raw) in try lines(url) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let p = resolve(line, against: base) else {
                problems.append(InputProblem(kind: "failed", source: "\(shownAs):\(n)", reason: "'\(line)' is not a local path")); continue
            }
            var it = BatchItem(name: line, path: p, stem: stemOf(line))
            it.origin = "\(shownAs):\(n)"
            items.append(it)
        }
        return Manifest(format: InputFormat.list.rawValue, items: items, problems: problems)
    }

    static func rawJSON(_ v: Any) -> String? {
        guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    /// AutoML's MLTable JSONL: `{"image_url": ..., "image_details": {...}, "label": "cat" | ["a", "b"] | [{box}...]}`.
    static func automlJSONL(_ url: URL, shownAs: String) throws -> Manifest {
        var items: [BatchItem] = [], problems: [InputProblem] = []
        let base = url.deletingLastPathComponent()
        for (n, _, line) in try lines(url) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let src = "\(shownAs):\(n)"
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                problems.append(InputProblem(kind: "failed", source: src, reason: "not a JSON object")); continue
            }
            guard let u = o["image_url"] as? String, !u.isEmpty else {
                problems.append(InputProblem(kind: "failed", source: src, reason: "no 'image_url' string")); continue
            }
            guard let p = resolve(u, against: base) else {
                problems.append(InputProblem(kind: "failed", source: src, reason: "image_url '\(u)' is not a local path (download the data and give paths relative to the JSONL file)"))
                continue
            }
            var it = BatchItem(name: u, path: p, stem: stemOf(u.contains("://") ? String(u.split(separator: "/").last ?? "") : u))
            it.origin = src
            it.imageURL = u
            if let d = o["image_details"] { it.imageDetails = rawJSON(d) }
            switch o["label"] {
            case nil, is NSNull: break
            case let s as String: it.labels = [s]
            case let a as [String]: it.labels = a
            case let boxes as [[String: Any]]:
                it.boxes = boxes.compactMap { b in
                    guard let l = b["label"] as? String, let x1 = b["topX"] as? Double, let y1 = b["topY"] as? Double,
                          let x2 = b["bottomX"] as? Double, let y2 = b["bottomY"] as? Double else { return nil }
                    let crowd = (b["isCrowd"] as? Int).map { $0 != 0 } ?? (b["isCrowd"] as? Bool)
                    return GroundTruthBox(label: l, x1: x1, y1: y1, x2: x2, y2: y2, difficult: nil, crowd: crowd)
                }
                if it.boxes!.count != boxes.count {
                    problems.append(InputProblem(kind: "warning", source: src, reason: "some boxes lack label/topX/topY/bottomX/bottomY and were left out"))
                }
            case let v?:
                problems.append(InputProblem(kind: "warning", source: src, reason: "label \(v) is not a string, a list of strings or a list of boxes; ignored"))
            }
            items.append(it)
        }
        return Manifest(format: InputFormat.jsonl.rawValue, items: items, problems: problems)
    }

    /// One TFRecord file, or every file of a folder (sorted), of tf.Example with `image/encoded` (bytes) and
    /// `image/class/label` (int64, counted from 1 as Google's built-in classifier counts).
    static func tfrecords(_ url: URL, isDirectory: Bool, shownAs: String) throws -> Manifest {
        var files: [(URL, String)] = [(url, shownAs)]
        if isDirectory {
            let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted()
            files = names.map { (url.appendingPathComponent($0), (shownAs.hasSuffix("/") ? shownAs : shownAs + "/") + $0) }
        }
        var items: [BatchItem] = [], problems: [InputProblem] = []
        for (f, shown) in files {
            let data: Data
            do { data = try Data(contentsOf: f) } catch { throw BatchError("cannot read \(f.path): \(error.localizedDescription)") }
            let (records, bad) = TFRecordReader.read(data)
            for b in bad { problems.append(InputProblem(kind: "failed", source: shown, reason: b.reason)) }
            for r in records {
                let src = "\(shown) record \(r.index)"
                let ex: TFExample
                do { ex = try TFExample(parsing: r.data) } catch {
                    problems.append(InputProblem(kind: "failed", source: src, reason: "\(error)")); continue
                }
                guard let enc = ex.bytes["image/encoded"]?.first else {
                    problems.append(InputProblem(kind: "failed", source: src, reason: "no image/encoded bytes feature")); continue
                }
                let fname = ex.bytes["image/filename"]?.first.map { String(decoding: $0.value, as: UTF8.self) }
                let name = fname.map { "\(shown)#\(r.index):\($0)" } ?? "\(shown)#\(r.index)"
                var it = BatchItem(name: name, path: f.path, stem: stemOf((shown as NSString).lastPathComponent + "-\(r.index)"))
                it.offset = r.offset + enc.offset
                it.length = enc.value.count
                it.origin = src
                if let k = ex.int64s["image/class/label"]?.first {
                    if k >= 1 { it.labelIndex = Int(k - 1) } else {
                        problems.append(InputProblem(kind: "warning", source: src, reason: "image/class/label \(k): labels count from 1; not used for metrics"))
                    }
                }
                items.append(it)
            }
        }
        return Manifest(format: InputFormat.tfrecord.rawValue, items: items, problems: problems)
    }

    /// Google's batch prediction input: one `{"image_bytes": {"b64": ...}, "key": ...}` per line.
    static func googleLines(_ url: URL, shownAs: String) throws -> Manifest {
        var items: [BatchItem] = [], problems: [InputProblem] = []
        for (n, offset, line) in try lines(url) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let src = "\(shownAs):\(n)"
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                problems.append(InputProblem(kind: "failed", source: src, reason: "not a JSON object")); continue
            }
            guard let ib = o["image_bytes"] as? [String: Any], ib["b64"] is String else {
                problems.append(InputProblem(kind: "failed", source: src, reason: "no {\"image_bytes\": {\"b64\": ...}}")); continue
            }
            let key = o["key"].flatMap { rawJSON($0) }
            let keyText = (o["key"] as? String) ?? key
            var it = BatchItem(name: keyText ?? src, path: url.path, stem: stemOf(keyText ?? "line-\(n)"))
            it.offset = offset
            it.length = line.utf8.count
            it.encoding = "google-json"
            it.key = key
            it.origin = src
            items.append(it)
        }
        return Manifest(format: InputFormat.google.rawValue, items: items, problems: problems)
    }

    /// A file-name-safe stem: the path without its extension, odd characters replaced, no `..` or leading `/`.
    public static func stemOf(_ s: String) -> String {
        var p = s
        if let dot = p.lastIndex(of: "."), !p[dot...].contains("/") { p = String(p[..<dot]) }
        let parts = p.split(separator: "/").filter { $0 != "." && $0 != ".." && !$0.isEmpty }.map { part in
            String(part.map { c -> Character in c.isASCII && (c.isLetter || c.isNumber || "._-".contains(c)) ? c : "_" })
        }
        let j = parts.joined(separator: "/")
        return j.isEmpty ? "image" : j
    }

    /// Two items never share an output stem: later duplicates get `~<index>`.
    public static func uniqueStems(_ items: [BatchItem]) -> [BatchItem] {
        var seen = Set<String>()
        var out = items
        for i in out.indices {
            var s = out[i].stem
            if seen.contains(s.lowercased()) { s += "~\(i)" }
            seen.insert(s.lowercased())
            out[i].stem = s
        }
        return out
    }
}

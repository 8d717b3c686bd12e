import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// COCO detection JSON: `images` (id, file_name, width, height), `annotations` (image_id, bbox [x, y, w, h] in
/// pixels, category_id, iscrowd), `categories` (id, name). Image files resolve against `imagesDir`, else the JSON's
/// folder, else an `images/` folder beside it.
enum COCOReader {
    static func read(_ url: URL, shownAs: String, imagesDir: String?) throws -> Manifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw BatchError("cannot read \(url.path): \(error.localizedDescription)") }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let images = root["images"] as? [[String: Any]] else {
            throw BatchError("\(shownAs): not COCO JSON (no 'images' list)")
        }
        var names: [Int: String] = [:]
        for c in root["categories"] as? [[String: Any]] ?? [] {
            if let id = c["id"] as? Int, let n = c["name"] as? String { names[id] = n }
        }
        var boxes: [Int: [GroundTruthBox]] = [:]
        var problems: [InputProblem] = []
        let sizes = Dictionary(images.compactMap { i -> (Int, (Double, Double))? in
            guard let id = i["id"] as? Int else { return nil }
            return (id, ((i["width"] as? Double) ?? 0, (i["height"] as? Double) ?? 0))
        }, uniquingKeysWith: { a, _ in a })
        for (k, a) in (root["annotations"] as? [[String: Any]] ?? []).enumerated() {
            guard let img = a["image_id"] as? Int, let bb = a["bbox"] as? [Double], bb.count == 4, let cat = a["category_id"] as? Int else {
                problems.append(InputProblem(kind: "warning", source: "\(shownAs) annotation \(k)", reason: "no image_id, bbox [x, y, w, h] or category_id; ignored"))
                continue
            }
            guard let (w, h) = sizes[img], w > 0, h > 0 else {
                problems.append(InputProblem(kind: "warning", source: "\(shownAs) annotation \(k)", reason: "image \(img) has no width/height; ignored"))
                continue
            }
            boxes[img, default: []].append(GroundTruthBox(label: names[cat] ?? String(cat), x1: bb[0] / w, y1: bb[1] / h,
                                                          x2: (bb[0] + bb[2]) / w, y2: (bb[1] + bb[3]) / h,
                                                          difficult: nil, crowd: (a["iscrowd"] as? Int).map { $0 != 0 }))
        }
        let jsonDir = url.deletingLastPathComponent()
        let bases = imagesDir.map { [URL(fileURLWithPath: $0)] } ?? [jsonDir, jsonDir.appendingPathComponent("images")]
        var items: [BatchItem] = []
        for (k, i) in images.enumerated() {
            guard let id = i["id"] as? Int, let f = i["file_name"] as? String else {
                problems.append(InputProblem(kind: "failed", source: "\(shownAs) image \(k)", reason: "no id or file_name")); continue
            }
            let path = bases.map { $0.appendingPathComponent(f).path }.first { FileManager.default.fileExists(atPath: $0) }
                ?? bases[0].appendingPathComponent(f).path
            var it = BatchItem(name: f, path: path, stem: InputReader.stemOf(f))
            it.boxes = boxes[id] ?? []
            it.origin = "\(shownAs) image id \(id)"
            items.append(it)
        }
        return Manifest(format: InputFormat.coco.rawValue, items: items, problems: problems)
    }
}

/// Pascal VOC: `Annotations/*.xml` (filename, size, objects with name, difficult, bndbox in 1-based pixels) and
/// `JPEGImages/`; with `ImageSets/Main/test.txt` (or val.txt) only the images it lists.
enum VOCReader {
    static func read(_ root: URL, shownAs: String) throws -> Manifest {
        let ann = root.appendingPathComponent("Annotations")
        var ids = (try FileManager.default.contentsOfDirectory(atPath: ann.path)).filter { $0.hasSuffix(".xml") }
            .map { String($0.dropLast(4)) }.sorted()
        for set in ["test.txt", "val.txt"] {
            let f = root.appendingPathComponent("ImageSets/Main/\(set)")
            if let text = try? String(contentsOf: f, encoding: .utf8) {
                ids = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                break
            }
        }
        var items: [BatchItem] = [], problems: [InputProblem] = []
        let base = shownAs.hasSuffix("/") ? String(shownAs.dropLast()) : shownAs
        for id in ids {
            let xml = ann.appendingPathComponent(id + ".xml")
            guard let data = try? Data(contentsOf: xml) else {
                problems.append(InputProblem(kind: "failed", source: "\(base)/Annotations/\(id).xml", reason: "cannot read")); continue
            }
            let p = VOCAnnotation()
            let parser = XMLParser(data: data)
            parser.delegate = p
            guard parser.parse(), p.width > 0, p.height > 0 else {
                problems.append(InputProblem(kind: "failed", source: "\(base)/Annotations/\(id).xml", reason: "not a VOC annotation (no size)")); continue
            }
            let file = p.filename.isEmpty ? id + ".jpg" : p.filename
            var it = BatchItem(name: "\(base)/JPEGImages/\(file)", path: root.appendingPathComponent("JPEGImages/\(file)").path,
                               stem: InputReader.stemOf(file))
            it.boxes = p.objects.map { o in
                GroundTruthBox(label: o.name, x1: (o.box[0] - 1) / p.width, y1: (o.box[1] - 1) / p.height,
                               x2: (o.box[2] - 1) / p.width, y2: (o.box[3] - 1) / p.height, difficult: o.difficult, crowd: nil)
            }
            it.origin = "\(base)/Annotations/\(id).xml"
            items.append(it)
        }
        return Manifest(format: InputFormat.voc.rawValue, items: items, problems: problems)
    }
}

final class VOCAnnotation: NSObject, XMLParserDelegate {
    var filename = "", width = 0.0, height = 0.0
    var objects: [(name: String, difficult: Bool, box: [Double])] = []
    private var path: [String] = []
    private var text = ""
    private var cur: (name: String, difficult: Bool, box: [Double])?

    func parser(_ parser: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        path.append(e)
        text = ""
        if e == "object" { cur = ("", false, [0, 0, 0, 0]) }
    }
    func parser(_ parser: XMLParser, foundCharacters s: String) { text += s }
    func parser(_ parser: XMLParser, didEndElement e: String, namespaceURI: String?, qualifiedName: String?) {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parent = path.dropLast().last ?? ""
        switch (parent, e) {
        case ("annotation", "filename"): filename = t
        case ("size", "width"): width = Double(t) ?? 0
        case ("size", "height"): height = Double(t) ?? 0
        case ("object", "name"): cur?.name = t
        case ("object", "difficult"): cur?.difficult = t == "1"
        case ("bndbox", "xmin"): cur?.box[0] = Double(t) ?? 0
        case ("bndbox", "ymin"): cur?.box[1] = Double(t) ?? 0
        case ("bndbox", "xmax"): cur?.box[2] = Double(t) ?? 0
        case ("bndbox", "ymax"): cur?.box[3] = Double(t) ?? 0
        default: break
        }
        if e == "object", let c = cur { objects.append(c); cur = nil }
        path.removeLast()
        text = ""
    }
}

import Foundation
import FoveaServer
import FoveaModel

/// Turns a job's parts into its outputs: the lines (AutoML's batch format, Google's, AutoML JSONL pre-labels, or
/// CSV), metrics.json when the inputs carry labels, in input order. Used at the end of a job and by `batch merge`.
public enum BatchOutput {
    public struct Result {
        public var done = 0, failed = 0, skipped = 0
        public var outputFile: String?
        public var metricsTable: String?
        /// Every mini-batch's records, in input order (job.json is built from them without reading the parts again).
        public var records: [ItemRecord] = []
    }

    public static func allRecords(folder: JobFolder, manifest: Manifest, spec: JobSpec) throws -> [ItemRecord] {
        let total = manifest.miniBatches(size: spec.miniBatchSize)
        let done = folder.doneMiniBatches()
        let missing = (0..<total).filter { !done.contains($0) }
        if !missing.isEmpty {
            let show = missing.prefix(10).map(String.init).joined(separator: ", ")
            throw BatchError("\(missing.count) of \(total) mini-batches are not done yet (\(show)\(missing.count > 10 ? ", …" : "")); run the job (or its missing shards) again to finish them")
        }
        var all: [ItemRecord] = []
        for m in 0..<total {
            let recs = try folder.readPart(m)
            let want = Array(manifest.range(m, size: spec.miniBatchSize))
            guard recs.map(\.i) == want else { throw BatchError("\(folder.part(m).path) does not hold images \(want.first ?? 0)…\(want.last ?? 0); the folder is damaged") }
            all += recs
        }
        return all
    }

    public static func finalize(folder: JobFolder, manifest: Manifest, spec: JobSpec, info: JobModelInfo) throws -> Result {
        let records = try allRecords(folder: folder, manifest: manifest, spec: spec)
        var r = Result()
        r.records = records
        r.done = records.filter(\.ok).count
        r.failed = records.count - r.done + manifest.problems.filter { $0.kind == "failed" }.count
        r.skipped = manifest.problems.filter { $0.kind == "skipped" }.count
        if spec.outputAction == "append_row" {
            let data = try render(records: records, manifest: manifest, spec: spec, info: info)
            try AtomicFile.write(data, to: folder.url.appendingPathComponent(spec.outputFileName), mode: 0o644)
            r.outputFile = folder.url.appendingPathComponent(spec.outputFileName).path
        }
        if let m = metrics(records: records, manifest: manifest, spec: spec, info: info) {
            let d = try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys, .prettyPrinted])
            try AtomicFile.write(d, to: folder.metrics, mode: 0o644)
            r.metricsTable = Metrics.table(m)
        }
        return r
    }

    static func json(_ o: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
    }
    static func parse(_ raw: String?) -> Any? { raw.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) } }

    /// The explanation keys of a line, as AutoML's batch lines hold them: a path (multiclass) or a list of paths
    /// (multilabel, one per class above the threshold; null when none is).
    static func explanationFields(_ rec: ItemRecord, multilabel: Bool) -> [String: Any] {
        guard let vis = rec.visualizations, let attr = rec.attributions else { return [:] }
        func v(_ s: String?) -> Any { s.map { $0 as Any } ?? NSNull() }
        if multilabel {
            return ["visualizations": vis.isEmpty ? NSNull() : vis.map(v), "attributions": attr.isEmpty ? NSNull() : attr.map(v),
                    "explained_classes": rec.targets ?? []]
        }
        return ["visualizations": vis.first.map(v) ?? NSNull(), "attributions": attr.first.map(v) ?? NSNull()]
    }

    /// `explanationFields` for the fast writer.
    static func fastExplanationFields(_ rec: ItemRecord, multilabel: Bool) -> [(String, FastJSON.Value)] {
        guard let vis = rec.visualizations, let attr = rec.attributions else { return [] }
        func v(_ s: String?) -> FastJSON.Value { s.map { .string($0) } ?? .null }
        if multilabel {
            return [("visualizations", vis.isEmpty ? .null : .list(vis.map(v))), ("attributions", attr.isEmpty ? .null : .list(attr.map(v))),
                    ("explained_classes", .ints(rec.targets ?? []))]
        }
        return [("visualizations", vis.first.map(v) ?? .null), ("attributions", attr.first.map(v) ?? .null)]
    }

    /// Detection jobs' lines: AutoML's {"filename", "boxes"}; CSV (filename, key, boxes as JSON); pre-labels in
    /// AutoML's object detection / instance segmentation JSONL schema (boxes under --min-score left out).
    static func renderDetection(records: [ItemRecord], manifest: Manifest, spec: JobSpec, info: JobModelInfo) throws -> Data {
        let csv = spec.outputFileName.lowercased().hasSuffix(".csv")
        var out = Data()
        if csv { out.append(Data("filename,key,boxes\n".utf8)) }
        for rec in records where rec.ok {
            let item = manifest.items[rec.i]
            let boxes = rec.boxes ?? []
            let list: [Any] = boxes.map { b -> [String: Any] in
                var d: [String: Any] = ["box": ["topX": b.b[0], "topY": b.b[1], "bottomX": b.b[2], "bottomY": b.b[3]],
                                        "label": b.c < info.labels.count ? info.labels[b.c] : String(b.c), "score": b.s]
                if let p = b.p { d["polygon"] = p }
                return d
            }
            if csv {
                let cells = [item.name, item.key.map { (parse($0) as? String) ?? $0 } ?? "", String(decoding: try json(list), as: UTF8.self)]
                out.append(Data((cells.map(csvCell).joined(separator: ",") + "\n").utf8))
                continue
            }
            var line: [String: Any]
            if spec.outputFormat == "automl-jsonl" {
                let minScore = spec.minScore ?? 0
                let keep = boxes.filter { $0.s >= minScore }
                if keep.isEmpty { continue }  // nothing sure enough: left for a human
                line = ["image_url": item.imageURL ?? item.name]
                if let d = parse(item.imageDetails) { line["image_details"] = d } else if let w = rec.width, let h = rec.height {
                    let ext = (item.name as NSString).pathExtension.lowercased()
                    line["image_details"] = ["format": ext.isEmpty ? "jpg" : ext, "width": "\(w)px", "height": "\(h)px"]
                }
                line["label"] = keep.map { b -> [String: Any] in
                    var l: [String: Any] = ["label": b.c < info.labels.count ? info.labels[b.c] : String(b.c), "isCrowd": 0]
                    if let p = b.p { l["polygon"] = p } else {
                        l["topX"] = b.b[0]; l["topY"] = b.b[1]; l["bottomX"] = b.b[2]; l["bottomY"] = b.b[3]
                    }
                    return l
                }
            } else {
                line = ["filename": item.name, "boxes": list]
            }
            out.append(try json(line))
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    public static func render(records: [ItemRecord], manifest: Manifest, spec: JobSpec, info: JobModelInfo) throws -> Data {
        if info.task == TaskKind.objectDetection.rawValue || info.task == TaskKind.instanceSegmentation.rawValue {
            return try renderDetection(records: records, manifest: manifest, spec: spec, info: info)
        }
        let multilabel = info.task == TaskKind.multilabel.rawValue
        let csv = spec.outputFileName.lowercased().hasSuffix(".csv")
        var out = Data()
        if csv {
            var header = ["filename", "key", "predicted_label", "score", "probs"]
            if spec.command == "explain" { header += ["visualizations", "attributions"] }
            out.append(Data((header.joined(separator: ",") + "\n").utf8))
        }
        for rec in records where rec.ok {
            let item = manifest.items[rec.i]
            let probs = rec.probs ?? []
            let best = Metrics.argmax(probs)
            if csv {
                let expl = explanationFields(rec, multilabel: multilabel)
                var cells: [String] = [item.name, item.key.map { (parse($0) as? String) ?? $0 } ?? "",
                                       best < info.labels.count ? info.labels[best] : String(best),
                                       probs.isEmpty ? "" : String(probs[best]),
                                       String(decoding: try json(probs), as: UTF8.self)]
                if spec.command == "explain" {
                    for k in ["visualizations", "attributions"] {
                        if let v = expl[k], !(v is NSNull) {
                            if let str = v as? String { cells.append(str) } else { cells.append(String(decoding: try json(v), as: UTF8.self)) }
                        } else { cells.append("") }
                    }
                }
                out.append(Data((cells.map(csvCell).joined(separator: ",") + "\n").utf8))
                continue
            }
            var line: [String: Any]
            switch spec.outputFormat {
            case "google":
                var f: [(String, FastJSON.Value)] = [("classes", .int(best)), ("probabilities", .numbers(probs))]
                if let k = item.key { f.append(("key", .raw(k))) }
                out.append(Data((FastJSON.object(f + fastExplanationFields(rec, multilabel: multilabel)) + "\n").utf8))
                continue
            case "automl-jsonl":
                let minScore = spec.minScore ?? (multilabel ? spec.threshold : 0)
                var l: [String: Any] = ["image_url": item.imageURL ?? item.name]
                if let d = parse(item.imageDetails) { l["image_details"] = d } else if let w = rec.width, let h = rec.height {
                    let ext = (item.name as NSString).pathExtension.lowercased()
                    l["image_details"] = ["format": ext.isEmpty ? "jpg" : ext, "width": "\(w)px", "height": "\(h)px"]
                }
                if multilabel {
                    let keep = probs.indices.filter { probs[$0] >= minScore }
                    if keep.isEmpty { continue }  // nothing sure enough: left for a human
                    l["label"] = keep.map { info.labels[$0] }
                } else {
                    if probs.isEmpty || probs[best] < minScore { continue }
                    l["label"] = info.labels[best]
                }
                line = l
            default:
                let f: [(String, FastJSON.Value)] = [("filename", .string(item.name)), ("probs", .numbers(probs)), ("labels", .strings(info.labels))]
                out.append(Data((FastJSON.object(f + fastExplanationFields(rec, multilabel: multilabel)) + "\n").utf8))
                continue
            }
            out.append(try json(line))
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func csvCell(_ s: String) -> String {
        s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// Metrics over the scored images whose labels the model knows; nil when no image carries a label.
    static func metrics(records: [ItemRecord], manifest: Manifest, spec: JobSpec, info: JobModelInfo) -> [String: Any]? {
        let index = Dictionary(info.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        if info.task == TaskKind.objectDetection.rawValue || info.task == TaskKind.instanceSegmentation.rawValue {
            var images: [DetectionMetrics.Image] = []
            var unknown = 0
            for rec in records where rec.ok {
                guard let truth = manifest.items[rec.i].boxes else { continue }
                let t = truth.compactMap { g -> DetectionMetrics.Truth? in
                    guard let c = index[g.label] else { unknown += 1; return nil }
                    return .init(box: .init(x1: g.x1, y1: g.y1, x2: g.x2, y2: g.y2), cls: c,
                                 ignore: g.difficult == true || g.crowd == true, crowd: g.crowd == true)
                }
                let d = (rec.boxes ?? []).map { b in DetectionMetrics.Detection(box: .init(x1: b.b[0], y1: b.b[1], x2: b.b[2], y2: b.b[3]), cls: b.c, score: b.s) }
                images.append(.init(truth: t, detections: d))
            }
            guard !images.isEmpty else { return nil }
            var m = DetectionMetrics.evaluate(images, labels: info.labels)
            m["ground_truth_boxes_with_unknown_labels"] = unknown
            return m
        }
        var truthOne: [Int] = [], truthMany: [Set<Int>] = [], probs: [[Double]] = []
        let multilabel = info.task == TaskKind.multilabel.rawValue
        var labelled = 0
        for rec in records where rec.ok {
            let item = manifest.items[rec.i]
            var t: [Int]?
            if let k = item.labelIndex { t = k < info.labels.count ? [k] : nil }
            else if let ls = item.labels {
                let ids = ls.compactMap { index[$0] }
                t = ids.count == ls.count ? ids : nil
            }
            if item.labels != nil || item.labelIndex != nil { labelled += 1 }
            guard let truth = t, let p = rec.probs, p.count == info.labels.count else { continue }
            if multilabel { truthMany.append(Set(truth)) } else {
                guard truth.count == 1 else { continue }
                truthOne.append(truth[0])
            }
            probs.append(p)
        }
        guard labelled > 0 else { return nil }
        var m = multilabel ? Metrics.multilabel(truth: truthMany, probs: probs, labels: info.labels, threshold: spec.threshold)
                           : Metrics.multiclass(truth: truthOne, probs: probs, labels: info.labels)
        m["labelled_images_left_out"] = labelled - probs.count
        return m
    }
}

/// job.json: settings, counts, every failure and skip with its reason, throughput and timings.
enum BatchSummary {
    struct Summary: Encodable {
        var status: String
        var reason: String?
        var command: String
        var model: String?
        var endpoint: String?
        var deployment: String?
        var input: String
        var inputFormat: String
        var output: String?
        var shard: Shard?
        var settings: BatchSettings
        var spec: JobSpec
        var workers: Int
        var counts: [String: Int]
        var failures: [Failure]
        var skipped: [Failure]
        var warnings: [Failure]
        var timings: [String: Double]
        var started: String
        var updated: String
        enum CodingKeys: String, CodingKey {
            case status, reason, command, model, endpoint, deployment, input, inputFormat = "input_format", output, shard, settings, spec,
                 workers, counts, failures, skipped, warnings, timings, started, updated
        }
    }
    struct Failure: Encodable { var file: String; var reason: String }

    static func build(folder: JobFolder, manifest: Manifest, spec: JobSpec, info: JobModelInfo, shard: Shard?, status: String,
                      settings: BatchSettings, workers: Int, started: Date, progress: Progress?, reason: String?,
                      records known: [ItemRecord]? = nil) -> Summary {
        let B = spec.miniBatchSize
        let total = manifest.miniBatches(size: B)
        let done = folder.doneMiniBatches()
        var ok = 0, failed = 0, images = 0
        var failures = manifest.problems.filter { $0.kind == "failed" && (shard == nil || shard!.index == 0) }.map { Failure(file: $0.source, reason: $0.reason) }
        var ms: [Double] = []
        for m in 0..<total where shard?.owns(m) ?? true {
            images += manifest.range(m, size: B).count
            let range = manifest.range(m, size: B)
            let recs: [ItemRecord]
            if let known, range.upperBound <= known.count { recs = Array(known[range]) } else {
                guard done.contains(m), let r = try? folder.readPart(m) else { continue }
                recs = r
            }
            for r in recs {
                if r.ok { ok += 1; if let t = r.ms { ms.append(t) } } else {
                    failed += 1
                    failures.append(Failure(file: manifest.items[r.i].name, reason: r.error ?? "failed"))
                }
            }
        }
        let listingFailed = shard == nil || shard!.index == 0 ? manifest.problems.filter { $0.kind == "failed" }.count : 0
        failed += listingFailed
        let elapsed = Date().timeIntervalSince(started)
        var timings: [String: Double] = ["elapsed_s": (elapsed * 1000).rounded() / 1000]
        if let p = progress {
            timings["images_this_run"] = Double(p.done - p.already)
            timings["throughput_images_per_s"] = (p.rate * 1000).rounded() / 1000
        }
        if !ms.isEmpty {
            let s = ms.sorted()
            timings["image_ms_mean"] = (s.reduce(0, +) / Double(s.count) * 100).rounded() / 100
            timings["image_ms_p50"] = (s[s.count / 2] * 100).rounded() / 100
            timings["image_ms_p99"] = (s[min(s.count - 1, Int(Double(s.count) * 0.99))] * 100).rounded() / 100
        }
        let iso = ISO8601DateFormatter()
        return Summary(status: status, reason: reason, command: spec.command, model: spec.model, endpoint: spec.endpoint,
                       deployment: spec.deployment, input: spec.input, inputFormat: spec.inputFormat,
                       output: spec.outputAction == "append_row" && shard == nil ? spec.outputFileName : nil, shard: shard,
                       settings: settings, spec: spec, workers: workers,
                       counts: ["total": images + listingFailed, "done": ok, "failed": failed, "skipped": manifest.problems.filter { $0.kind == "skipped" }.count,
                                "pending": images - ok - failed + listingFailed],
                       failures: failures, skipped: manifest.problems.filter { $0.kind == "skipped" }.map { Failure(file: $0.source, reason: $0.reason) },
                       warnings: manifest.problems.filter { $0.kind == "warning" }.map { Failure(file: $0.source, reason: $0.reason) },
                       timings: timings, started: iso.string(from: started), updated: iso.string(from: Date()))
    }
}

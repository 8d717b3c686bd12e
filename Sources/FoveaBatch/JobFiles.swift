import Foundation
import FoveaServer
import FoveaModel

/// What makes a job the job it is: re-running with the same spec on the same output folder resumes it; a different
/// spec is refused, naming what differs. Concurrency, retries, timeouts, the error threshold and the shard are not
/// part of it (a resumed job may use other values).
public struct JobSpec: Codable, Equatable, Sendable {
    public var command: String  // "score" | "explain"
    public var model: String?
    public var endpoint: String?
    public var deployment: String?
    public var input: String
    public var inputFormat: String
    public var miniBatchSize: Int
    public var outputAction: String
    public var outputFileName: String
    public var outputFormat: String
    public var minScore: Double?
    public var threshold: Double
    /// The explanation parameters, normalised (explain jobs).
    public var xaiParameters: [String: String]?
    public var maxPixels: Int
    enum CodingKeys: String, CodingKey {
        case command, model, endpoint, deployment, input, inputFormat = "input_format", miniBatchSize = "mini_batch_size",
             outputAction = "output_action", outputFileName = "output_file_name", outputFormat = "output_format", minScore = "min_score",
             threshold, xaiParameters = "xai_parameters", maxPixels = "max_pixels"
    }

    /// The first setting that differs, as "name: old before, new now" (nil when none does).
    public func difference(from o: JobSpec) -> String? {
        guard self != o else { return nil }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func fields(_ s: JobSpec) -> [String: String] {
            guard let d = try? enc.encode(s), let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return [:] }
            return obj.mapValues { v in
                (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]))
                    .map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
            }
        }
        let now = fields(self), before = fields(o)
        for k in Set(now.keys).union(before.keys).sorted() where now[k] != before[k] {
            return "\(k): \(before[k] ?? "none") before, \(now[k] ?? "none") now"
        }
        return "settings differ"
    }
}

/// The model a job's lines describe: its task and labels (read from the registry, or the endpoint's deployment).
public struct JobModelInfo: Codable, Equatable, Sendable {
    public var task: String
    public var labels: [String]
    public init(task: String, labels: [String]) { self.task = task; self.labels = labels }
}

/// One image's outcome, as a worker reports it and a part file keeps it.
/// One detected box of a detection job's record: class index, score, normalised corners, polygons (segmentation).
public struct RecordBox: Codable, Equatable, Sendable {
    public var c: Int
    public var s: Double
    public var b: [Double]
    public var p: [[Double]]?
    public init(c: Int, s: Double, b: [Double], p: [[Double]]?) { self.c = c; self.s = s; self.b = b; self.p = p }
}

public struct ItemRecord: Codable, Equatable, Sendable {
    public var i: Int
    public var ok: Bool
    public var error: String?
    public var probs: [Double]?
    /// Detection jobs: the image's boxes as the model answered them.
    public var boxes: [RecordBox]?
    public var width: Int?
    public var height: Int?
    /// Explain jobs: the classes explained and their files (relative to the output folder; null = not requested).
    public var targets: [Int]?
    public var visualizations: [String?]?
    public var attributions: [String?]?
    public var attempts: Int?
    public var ms: Double?
    public init(i: Int, ok: Bool) { self.i = i; self.ok = ok }

    // The probabilities are float32 model outputs: they travel and rest as base64 of their little-endian bytes
    // ("probs_f32"), exact and ~5x cheaper to encode and decode than 1000 decimal numbers.
    enum CodingKeys: String, CodingKey { case i, ok, error, probs = "probs_f32", boxes, width, height, targets, visualizations, attributions, attempts, ms }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        i = try c.decode(Int.self, forKey: .i)
        ok = try c.decode(Bool.self, forKey: .ok)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        if let b64 = try c.decodeIfPresent(String.self, forKey: .probs) {
            guard let data = Data(base64Encoded: b64), data.count % 4 == 0 else {
                throw DecodingError.dataCorruptedError(forKey: .probs, in: c, debugDescription: "probs_f32 is not base64 float32 data")
            }
            probs = data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))) } }
        }
        boxes = try c.decodeIfPresent([RecordBox].self, forKey: .boxes)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        targets = try c.decodeIfPresent([Int].self, forKey: .targets)
        visualizations = try c.decodeIfPresent([String?].self, forKey: .visualizations)
        attributions = try c.decodeIfPresent([String?].self, forKey: .attributions)
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts)
        ms = try c.decodeIfPresent(Double.self, forKey: .ms)
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(i, forKey: .i)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(error, forKey: .error)
        if let probs {
            var bytes = Data(capacity: probs.count * 4)
            for p in probs { withUnsafeBytes(of: Float(p).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            try c.encode(bytes.base64EncodedString(), forKey: .probs)
        }
        try c.encodeIfPresent(boxes, forKey: .boxes)
        try c.encodeIfPresent(width, forKey: .width)
        try c.encodeIfPresent(height, forKey: .height)
        try c.encodeIfPresent(targets, forKey: .targets)
        try c.encodeIfPresent(visualizations, forKey: .visualizations)
        try c.encodeIfPresent(attributions, forKey: .attributions)
        try c.encodeIfPresent(attempts, forKey: .attempts)
        try c.encodeIfPresent(ms, forKey: .ms)
    }
}

/// The output folder's layout.
public struct JobFolder: Sendable {
    public let url: URL
    public init(_ url: URL) { self.url = url }
    public var spec: URL { url.appendingPathComponent("job-spec.json") }
    public var manifest: URL { url.appendingPathComponent("manifest.json") }
    public var model: URL { url.appendingPathComponent("model.json") }
    public var parts: URL { url.appendingPathComponent("parts") }
    public var explanations: URL { url.appendingPathComponent("explanations") }
    public var logs: URL { url.appendingPathComponent("logs") }
    public var metrics: URL { url.appendingPathComponent("metrics.json") }
    public func job(shard: Shard?) -> URL {
        url.appendingPathComponent(shard.map { "job-shard-\($0.index)-of-\($0.count).json" } ?? "job.json")
    }
    public func part(_ m: Int) -> URL { parts.appendingPathComponent(String(format: "mb-%06d.jsonl", m)) }

    /// Mini-batches whose part file is on disk (durable: written atomically).
    public func doneMiniBatches() -> Set<Int> {
        AtomicFile.removeLeftovers(in: parts)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parts.path) else { return [] }
        return Set(names.compactMap { n in
            guard n.hasPrefix("mb-"), n.hasSuffix(".jsonl") else { return nil }
            return Int(n.dropFirst(3).dropLast(6))
        })
    }

    public func readPart(_ m: Int) throws -> [ItemRecord] {
        let d = try Data(contentsOf: part(m))
        let dec = JSONDecoder()
        return try d.split(separator: UInt8(ascii: "\n")).map { try dec.decode(ItemRecord.self, from: Data($0)) }
    }

    public func writePart(_ m: Int, _ records: [ItemRecord]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        for r in records.sorted(by: { $0.i < $1.i }) { out.append(try enc.encode(r)); out.append(UInt8(ascii: "\n")) }
        try AtomicFile.write(out, to: part(m), mode: 0o644)
    }

    public static func readJSON<T: Decodable>(_ t: T.Type, _ url: URL) -> T? {
        guard let d = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(T.self, from: d)
    }
    public static func writeJSON<T: Encodable>(_ v: T, _ url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try enc.encode(v), to: url, mode: 0o644)
    }
}

/// `--shard I/N`: mini-batch m belongs to shard m % N.
public struct Shard: Codable, Equatable, Sendable {
    public var index: Int
    public var count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public static func parse(_ s: String) throws -> Shard {
        let p = s.split(separator: "/")
        guard p.count == 2, let i = Int(p[0]), let n = Int(p[1]), n >= 1, i >= 0, i < n else {
            throw BatchError("--shard must be I/N with 0 <= I < N, got '\(s)'")
        }
        return Shard(index: i, count: n)
    }
    public func owns(_ m: Int) -> Bool { m % count == index }
}

extension Manifest {
    public func miniBatches(size: Int) -> Int { (items.count + size - 1) / size }
    public func range(_ m: Int, size: Int) -> Range<Int> { (m * size)..<min(items.count, (m + 1) * size) }
}

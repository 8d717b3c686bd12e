import Foundation
import FoveaServer
import FoveaExplain
import FoveaImage
import FoveaModel
import FoveaTensor

/// Why one image failed: permanent failures (not an image, a missing file, a 400) are not retried — the same
/// bytes fail the same way; transient ones (I/O errors, an endpoint that is busy or down) are retried per
/// `max_retries`; fatal ones (a wrong key) stop the job.
public enum ItemFailure: Error, CustomStringConvertible {
    case permanent(String), transient(String), fatal(String)
    public var description: String {
        switch self { case .permanent(let s), .transient(let s), .fatal(let s): return s }
    }
}

/// What scores (and explains) one image for a worker: the model in process, or a running `fovea serve`.
public protocol BatchBackend {
    var info: JobModelInfo { get }
    /// Scores (and, when `explain` is set, explains) one image; writes explanation files under `folder`.
    func process(_ bytes: Data, item: BatchItem, folder: JobFolder, explain: XAIParameters?) throws -> ItemRecord
}

/// A worker process: reads `{"mb": m, "items": [i, ...]}` lines on stdin, answers `{"mb": m, "records": [...]}`
/// on stdout once every image of the request is done (explanation files written atomically first). It exits at
/// the end of stdin — so it never outlives the job that started it.
public enum BatchWorker {
    public struct Request: Codable { public var mb: Int; public var items: [Int]; public var seq: Int? }
    public struct Reply: Codable {
        public var mb: Int
        public var seq: Int?
        public var records: [ItemRecord]?
        public var fatal: String?
    }

    public static func run(folder: JobFolder, backend: BatchBackend, maxRetries: Int) throws {
        guard let spec = JobFolder.readJSON(JobSpec.self, folder.spec), let manifest = JobFolder.readJSON(Manifest.self, folder.manifest) else {
            throw BatchError("\(folder.url.path) holds no job (job-spec.json, manifest.json)")
        }
        let explain: XAIParameters? = try spec.xaiParameters.map { try BatchJob.xai(from: $0) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let dec = JSONDecoder()
        while let line = readLine(strippingNewline: true) {
            if line.isEmpty { continue }
            let req = try dec.decode(Request.self, from: Data(line.utf8))
            var records: [ItemRecord] = []
            var fatal: String?
            for i in req.items {
                let item = manifest.items[i]
                let t0 = DispatchTime.now().uptimeNanoseconds
                var attempt = 0
                while true {
                    attempt += 1
                    do {
                        let bytes = try load(item, maxPixels: spec.maxPixels)
                        var r = try backend.process(bytes, item: item, folder: folder, explain: explain)
                        r.i = i
                        r.attempts = attempt
                        r.ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                        records.append(r)
                    } catch ItemFailure.transient(let why) where attempt <= maxRetries {
                        writeAll(2, Data("\(item.name): \(why); retry \(attempt) of \(maxRetries)\n".utf8))
                        usleep(useconds_t(min(2_000_000, 100_000 << (attempt - 1))))
                        continue
                    } catch ItemFailure.fatal(let why) {
                        fatal = why
                    } catch {
                        var r = ItemRecord(i: i, ok: false)
                        r.error = "\(error)"
                        r.attempts = attempt
                        records.append(r)
                    }
                    break
                }
                if fatal != nil { break }
            }
            let reply = Reply(mb: req.mb, seq: req.seq, records: fatal == nil ? records : nil, fatal: fatal)
            var out = try enc.encode(reply)
            out.append(UInt8(ascii: "\n"))
            if !writeAll(1, out) { _exit(0) }  // the job is gone: nothing left to answer
            if fatal != nil { return }
        }
    }

    /// The item's image bytes: a file, a slice of one (TFRecord), or a Google JSON line's `image_bytes.b64`.
    static func load(_ item: BatchItem, maxPixels: Int) throws -> Data {
        let fd = open(item.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let why = "cannot read \(item.path): \(String(cString: strerror(e)))"
            throw [ENOENT, ENOTDIR, EACCES, EISDIR, ELOOP].contains(e) ? ItemFailure.permanent(why) : ItemFailure.transient(why)
        }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ItemFailure.permanent("\(item.path) is a folder") }
        let offset = item.offset ?? 0
        let length = item.length ?? Int(st.st_size)
        // a compressed image can be at most a few bytes per pixel; refuse absurd sizes before reading them
        if length > max(1 << 30, maxPixels * 8) { throw ItemFailure.permanent("\(item.name): \(length) bytes is too large for an image") }
        var data = Data(count: length)
        var got = 0
        let ok = data.withUnsafeMutableBytes { raw -> Bool in
            while got < length {
                let n = pread(fd, raw.baseAddress! + got, length - got, off_t(offset + got))
                if n < 0 { if errno == EINTR { continue }; return false }
                if n == 0 { break }
                got += n
            }
            return true
        }
        guard ok else { throw ItemFailure.transient("cannot read \(item.path): \(String(cString: strerror(errno)))") }
        guard got == length else { throw ItemFailure.permanent("\(item.name): the file is shorter than its listing says (\(got) of \(length) bytes)") }
        if item.encoding == "google-json" {
            guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let ib = o["image_bytes"] as? [String: Any],
                  let b64 = ib["b64"] as? String else { throw ItemFailure.permanent("\(item.origin ?? item.name): no image_bytes.b64") }
            guard let d = ScoringRequest.decodeBase64(b64), !d.isEmpty else {
                throw ItemFailure.permanent("\(item.origin ?? item.name): image_bytes.b64 is not valid base64")
            }
            return d
        }
        return data
    }
}

/// Scores with the model in this process: the same handler and explainer as `/score`, one image per engine run, so
/// a batch line equals the online answer for the same image.
public final class LocalBackend: BatchBackend {
    public let model: LoadedModel
    let handler: any TaskHandler
    let explainer: Explainer?
    let maxPixels: Int
    public var info: JobModelInfo { JobModelInfo(task: model.task.rawValue, labels: model.labels) }

    public init(model: LoadedModel, explain: Bool, maxPixels: Int) throws {
        if explain && !model.task.isClassification {
            throw BatchError("explanations are for classification models; \(model.task.rawValue) models are scored with `fovea batch score`")
        }
        self.model = model
        handler = try TaskHandlers.make(model)
        explainer = explain ? try Explainer(model: model) : nil
        self.maxPixels = maxPixels
    }

    public func process(_ bytes: Data, item: BatchItem, folder: JobFolder, explain p: XAIParameters?) throws -> ItemRecord {
        let img: RGBImage
        do { img = try ImageDecoder.decode(bytes, maxPixels: maxPixels) } catch let e as ImageError {
            throw ItemFailure.permanent(e.description)
        }
        guard let classifier = handler as? ClassificationHandler else { return try detect(img) }
        let handler = classifier
        let x = handler.preprocess(img)
        let probs: [Float]
        do { probs = handler.postprocess(try handler.run([x]))[0].probs } catch { throw ItemFailure.transient("model error: \(error)") }
        var r = ItemRecord(i: 0, ok: true)
        r.probs = probs.map { Double($0) }
        r.width = img.width
        r.height = img.height
        if let p, let explainer {
            let targets = explainer.targets(probs: probs, p: p)
            r.targets = targets
            r.visualizations = []
            r.attributions = []
            for t in targets {
                let e: Explanation
                do { e = try explainer.explain(input: x, target: t, score: probs[t], p: p) } catch {
                    throw ItemFailure.permanent("explanation failed: \(error)")
                }
                let stem = BatchJob.explanationStem(item, target: t, multilabel: model.task == .multilabel)
                var vis: String?, attr: String?
                if p.visualizations, let fig = e.figure {
                    vis = stem + ".png"
                    try AtomicFile.write(try PNGEncoder.encode(fig), to: folder.url.appendingPathComponent(vis!), mode: 0o644)
                }
                if p.attributions {
                    attr = stem + ".npy"
                    try AtomicFile.write(Npy.encode(Tensor(shape: e.shape, floats: e.attributions)), to: folder.url.appendingPathComponent(attr!), mode: 0o644)
                }
                r.visualizations!.append(vis)
                r.attributions!.append(attr)
            }
        }
        return r
    }

    func detect(_ img: RGBImage) throws -> ItemRecord {
        let prepared: PreparedImage
        do { prepared = try handler.prepare(img) } catch let e as ModelError { throw ItemFailure.permanent(e.description) }
        let result: DetectionResult
        do {
            guard let r = try handler.infer([prepared]).first as? DetectionResult else { throw ItemFailure.fatal("the model gave no detection answer") }
            result = r
        } catch let e as ItemFailure { throw e } catch { throw ItemFailure.transient("model error: \(error)") }
        var r = ItemRecord(i: 0, ok: true)
        r.boxes = result.boxes.map(RecordBox.init)
        r.width = img.width
        r.height = img.height
        return r
    }
}

extension RecordBox {
    init(_ b: DetectedBox) {
        self.init(c: b.labelIndex, s: Double(b.score), b: [b.topX, b.topY, b.bottomX, b.bottomY].map(Double.init),
                  p: b.polygon.map { $0.map { $0.map(Double.init) } })
    }
}

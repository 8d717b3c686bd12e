import Foundation
import FoveaExplain
import FoveaModel

/// A batch job: lists the inputs once (the manifest), then hands mini-batches to worker processes, writes each
/// mini-batch's results as one part file (atomically: a part on disk is done), retries what failed, and at the end
/// joins the parts into the output file, metrics.json and job.json. Re-running the same job resumes it.
public final class BatchJob {
    public struct Options {
        public var command: String = "score"
        public var model: String?
        public var endpoint: String?
        public var deployment: String?
        public var input: String = ""
        public var inputFormat: InputFormat?
        public var imagesDir: String?
        public var output: URL = URL(fileURLWithPath: "batch-output")
        public var settings = BatchSettings()
        public var outputFormat: String?
        public var minScore: Double?
        public var threshold = 0.5
        public var xaiParameters: [String: JSONValue]?
        public var shard: Shard?
        public var threadsPerWorker = 1
        public var maxPixels = 89_478_485
        /// The model's task and labels (read by the caller from the registry or the endpoint's deployment).
        public var modelInfo: JobModelInfo?
        /// The worker command: executable and arguments (the job folder is appended as `--job DIR`).
        public var workerExecutable: URL = URL(fileURLWithPath: "/proc/self/exe")
        public var workerArguments: [String] = []
        public var progressToTerminal = false
        public init() {}
    }

    public let o: Options
    public let folder: JobFolder
    let log: BatchLog
    var manifest: Manifest!
    var spec: JobSpec!
    var info: JobModelInfo!

    public init(_ o: Options) throws {
        self.o = o
        folder = JobFolder(o.output)
        try FileManager.default.createDirectory(at: folder.logs, withIntermediateDirectories: true)
        log = BatchLog(level: o.settings.loggingLevel, file: folder.logs.appendingPathComponent(o.shard.map { "job-shard-\($0.index).log" } ?? "job.log"))
    }

    // MARK: explanation parameters

    /// Batch explain jobs write both the figure and the attributions unless told otherwise.
    public static func normalisedXAI(_ raw: [String: JSONValue]) throws -> [String: String] {
        var r = raw
        if r["attributions"] == nil { r["attributions"] = .bool(true) }
        let p: XAIParameters
        do { p = try XAIParameters.parse(r) } catch let e as XAIParameterError { throw BatchError(e.description) }
        var out: [String: String] = ["xai_algorithm": p.algorithm.rawValue, "visualizations": String(p.visualizations),
                                     "attributions": String(p.attributions), "n_steps": String(p.nSteps),
                                     "approximation_method": p.approximationMethod.rawValue, "xrai_fast": String(p.xraiFast),
                                     "nt_samples": String(p.ntSamples), "stdevs": String(p.stdevs), "seed": String(p.seed),
                                     "confidence_score_threshold_multilabel": String(p.confidenceScoreThresholdMultilabel)]
        if let l = p.gradcamLayer { out["gradcam_layer"] = l }
        return out
    }

    public static func xai(from n: [String: String]) throws -> XAIParameters {
        var raw: [String: JSONValue] = [:]
        for (k, v) in n {
            switch k {
            case "xai_algorithm", "approximation_method", "gradcam_layer": raw[k] = .string(v)
            case "visualizations", "attributions", "xrai_fast": raw[k] = .bool(v == "true")
            default: raw[k] = .number(Double(v) ?? 0)
            }
        }
        do { return try XAIParameters.parse(raw) } catch let e as XAIParameterError { throw BatchError(e.description) }
    }

    /// `explanations/<stem>` (multiclass) or `explanations/<stem>.class-<k>` (multilabel, one per class explained).
    public static func explanationStem(_ item: BatchItem, target: Int, multilabel: Bool) -> String {
        "explanations/" + item.stem + (multilabel ? ".class-\(target)" : "")
    }

    static func seconds(_ t: Double) -> String { t == t.rounded() ? "\(Int(t)) s" : String(format: "%g s", t) }

    // MARK: preparing

    /// Lists the inputs and fixes the job in the output folder — or checks that the folder holds this same job.
    public func prepare() throws {
        try o.settings.validate()
        guard let info = o.modelInfo else { throw BatchError("the model's task and labels are unknown") }
        self.info = info
        let t0 = Date()
        var m = try InputReader.read(o.input, format: o.inputFormat, imagesDir: o.imagesDir)
        let detection = info.task == TaskKind.objectDetection.rawValue || info.task == TaskKind.instanceSegmentation.rawValue
        let format = o.outputFormat ?? (m.format == InputFormat.google.rawValue && !detection ? "google" : "automl")
        guard ["automl", "automl-jsonl", "google"].contains(format) else {
            throw BatchError("--output-format must be automl, automl-jsonl or google, got '\(format)'")
        }
        if detection && format == "google" {
            throw BatchError("--output-format google is the image classifier's format; a \(info.task) job writes automl or automl-jsonl lines")
        }
        if detection && o.command == "explain" {
            throw BatchError("explanations are for classification models; score this \(info.task) model with `fovea batch score`")
        }
        if o.minScore != nil && format != "automl-jsonl" { throw BatchError("--min-score applies to --output-format automl-jsonl (pre-labels)") }
        if let s = o.minScore, !(0...1).contains(s) { throw BatchError("--min-score must be between 0 and 1, got \(s)") }
        if format == "automl-jsonl" && o.settings.outputFileName.hasSuffix(".csv") {
            throw BatchError("--output-format automl-jsonl writes JSON lines; give --output-file-name a .jsonl name")
        }
        guard (0...1).contains(o.threshold) else { throw BatchError("--threshold must be between 0 and 1, got \(o.threshold)") }
        // labels the model does not know are reported once, and those images are left out of the metrics
        let known = Set(info.labels)
        for it in m.items {
            for l in it.labels ?? [] where !known.contains(l) {
                m.problems.append(InputProblem(kind: "warning", source: it.origin ?? it.name,
                                               reason: "label '\(l)' is not one of the model's \(info.labels.count) labels; the image is scored but left out of the metrics"))
            }
            if let k = it.labelIndex, k >= info.labels.count {
                m.problems.append(InputProblem(kind: "warning", source: it.origin ?? it.name,
                                               reason: "label \(k + 1) is past the model's \(info.labels.count) classes; the image is scored but left out of the metrics"))
            }
        }
        log.info("listed \(m.items.count) images from \(o.input) (\(m.format)) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s"
                 + (m.problems.isEmpty ? "" : "; \(m.problems.count) problems"))
        let spec = JobSpec(command: o.command, model: o.model, endpoint: o.endpoint, deployment: o.deployment,
                           input: URL(fileURLWithPath: o.input).standardizedFileURL.path, inputFormat: m.format,
                           miniBatchSize: o.settings.miniBatchSize, outputAction: o.settings.outputAction,
                           outputFileName: o.settings.outputFileName, outputFormat: format, minScore: o.minScore,
                           threshold: o.threshold, xaiParameters: try o.xaiParameters.map(BatchJob.normalisedXAI) ?? (o.command == "explain" ? BatchJob.normalisedXAI([:]) : nil),
                           maxPixels: o.maxPixels)
        // shards of one job may start together: the check and the first writes happen under an exclusive lock
        let lockFD = open(folder.url.appendingPathComponent(".lock").path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        if lockFD >= 0 { flock(lockFD, LOCK_EX) }
        defer { if lockFD >= 0 { flock(lockFD, LOCK_UN); close(lockFD) } }
        if FileManager.default.fileExists(atPath: folder.spec.path) {
            guard let old = JobFolder.readJSON(JobSpec.self, folder.spec) else {
                throw BatchError("\(folder.url.path) holds a job-spec.json this version cannot read; use a new --output folder")
            }
            if let d = spec.difference(from: old) {
                throw BatchError("\(folder.url.path) holds another job (\(d)); use a new --output folder, or the same settings to resume it")
            }
            guard let oldManifest = JobFolder.readJSON(Manifest.self, folder.manifest) else {
                throw BatchError("\(folder.url.path) has a job-spec.json but no readable manifest.json; use a new --output folder")
            }
            if oldManifest != m {
                let added = Set(m.items.map(\.name)).subtracting(oldManifest.items.map(\.name)).count
                let gone = Set(oldManifest.items.map(\.name)).subtracting(m.items.map(\.name)).count
                log.warning("the input changed since this job started (\(added) images new, \(gone) gone); the job goes on with the images it listed first — start a new --output folder to score the new listing")
            }
            m = oldManifest
            if let oldInfo = JobFolder.readJSON(JobModelInfo.self, folder.model), oldInfo != info {
                throw BatchError("\(folder.url.path) holds a job of a model with other labels; use a new --output folder")
            }
        } else {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: folder.url.path),
               !names.filter({ !$0.hasPrefix(".") && $0 != "logs" }).isEmpty {
                throw BatchError("\(folder.url.path) is not empty and holds no Fovea job; give an empty or new --output folder")
            }
            try JobFolder.writeJSON(m, folder.manifest)
            try JobFolder.writeJSON(info, folder.model)
            try JobFolder.writeJSON(spec, folder.spec)
        }
        try FileManager.default.createDirectory(at: folder.parts, withIntermediateDirectories: true)
        manifest = m
        self.spec = spec
    }

    public var workerCount: Int {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let per = o.settings.maxConcurrencyPerInstance ?? max(1, cores / max(1, o.settings.instanceCount * o.threadsPerWorker))
        return max(1, o.settings.instanceCount * per)
    }

    public var timeoutSeconds: Double {
        o.settings.timeout ?? (o.command == "explain" ? 60 * Double(o.settings.miniBatchSize) : 30)
    }

    // MARK: running

    public enum Outcome { case completed, shardDone, stoppedAtErrorThreshold, fatal(String), interrupted }

    /// Runs what is left of the job (this shard's part) and finishes it. Returns the exit status to use.
    public func run(cancelled: @escaping () -> Bool = { false }) throws -> Outcome {
        let started = Date()
        let B = spec.miniBatchSize
        let total = manifest.miniBatches(size: B)
        let mine = (0..<total).filter { o.shard?.owns($0) ?? true }
        let doneBefore = folder.doneMiniBatches()
        let todo = mine.filter { !doneBefore.contains($0) }
        let itemsMine = mine.reduce(0) { $0 + manifest.range($1, size: B).count }
        let itemsDoneBefore = mine.filter { doneBefore.contains($0) }.reduce(0) { $0 + manifest.range($1, size: B).count }
        var failedSoFar = manifest.problems.filter { $0.kind == "failed" }.count
        for m in mine where doneBefore.contains(m) {
            failedSoFar += ((try? folder.readPart(m)) ?? []).filter { !$0.ok }.count
        }
        if itemsDoneBefore > 0 { log.info("resuming: \(itemsDoneBefore) of \(itemsMine) images already done") }
        let progress = Progress(total: itemsMine, already: itemsDoneBefore, terminal: o.progressToTerminal, log: log)
        progress.failed = failedSoFar
        progress.file = folder.url.appendingPathComponent(o.shard.map { "progress-shard-\($0.index).json" } ?? "progress.json")
        progress.writeFile(final: false)
        try writeStatus("running", started: started, progress: nil)
        var outcome: Outcome = o.shard == nil ? .completed : .shardDone
        if !todo.isEmpty {
            let pool = WorkerPool(job: self, count: min(workerCount, todo.count))
            log.info("\(todo.count) mini-batches of \(B) to do on \(min(workerCount, todo.count)) workers (timeout \(BatchJob.seconds(timeoutSeconds)), \(o.settings.maxRetries) retries)")
            outcome = try pool.run(todo: todo, cancelled: cancelled) { records in
                failedSoFar += records.filter { !$0.ok }.count
                progress.add(records.count, failed: records.filter { !$0.ok }.count)
                if self.o.settings.errorThreshold >= 0 && failedSoFar > self.o.settings.errorThreshold { return false }
                return true
            } ?? outcome
            progress.finish()
        } else if self.o.settings.errorThreshold >= 0 && failedSoFar > self.o.settings.errorThreshold {
            outcome = .stoppedAtErrorThreshold
        } else {
            progress.finish()
            log.info("every mini-batch of this job is already done")
        }
        switch outcome {
        case .completed:
            try finalize(started: started, progress: progress)
        case .shardDone:
            try writeStatus("completed", started: started, progress: progress)
            log.info("shard \(o.shard!.index)/\(o.shard!.count) done; run `fovea batch merge \(folder.url.path)` when every shard is done")
        case .stoppedAtErrorThreshold:
            try writeStatus("failed", started: started, progress: progress,
                            reason: "stopped: \(failedSoFar) failed images, over --error-threshold \(o.settings.errorThreshold)")
        case .fatal(let why):
            try writeStatus("failed", started: started, progress: progress, reason: why)
        case .interrupted:
            try writeStatus("interrupted", started: started, progress: progress, reason: "interrupted; run the same command again to resume")
        }
        return outcome
    }

    // MARK: status

    func writeStatus(_ status: String, started: Date, progress: Progress?, reason: String? = nil, records: [ItemRecord]? = nil) throws {
        let s = BatchSummary.build(folder: folder, manifest: manifest, spec: spec, info: info, shard: o.shard, status: status,
                                   settings: o.settings, workers: workerCount, started: started, progress: progress, reason: reason,
                                   records: records)
        try JobFolder.writeJSON(s, folder.job(shard: o.shard))
    }

    /// job.json after `batch merge`: the whole job's counts, over every shard.
    public static func writeMergedStatus(folder: JobFolder, manifest: Manifest, spec: JobSpec, info: JobModelInfo) throws {
        let shardFiles = ((try? FileManager.default.contentsOfDirectory(atPath: folder.url.path)) ?? []).filter { $0.hasPrefix("job-shard-") }
        var settings = BatchSettings()
        var started = Date()
        for f in shardFiles {
            guard let d = try? Data(contentsOf: folder.url.appendingPathComponent(f)),
                  let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { continue }
            if let s = o["settings"], let sd = try? JSONSerialization.data(withJSONObject: s),
               let v = try? JSONDecoder().decode(BatchSettings.self, from: sd) { settings = v }
            if let st = o["started"] as? String, let t = ISO8601DateFormatter().date(from: st), t < started { started = t }
        }
        let s = BatchSummary.build(folder: folder, manifest: manifest, spec: spec, info: info, shard: nil, status: "completed",
                                   settings: settings, workers: 0, started: started, progress: nil,
                                   reason: "merged from \(shardFiles.count) shard files")
        try JobFolder.writeJSON(s, folder.job(shard: nil))
    }

    func finalize(started: Date, progress: Progress) throws {
        let t0 = Date()
        let r = try BatchOutput.finalize(folder: folder, manifest: manifest, spec: spec, info: info)
        let t1 = Date()
        try writeStatus("completed", started: started, progress: progress, records: r.records)
        log.debug(String(format: "finalize %.3f s, job.json %.3f s", t1.timeIntervalSince(t0), Date().timeIntervalSince(t1)))
        log.info("done: \(r.done) scored, \(r.failed) failed, \(r.skipped) skipped" + (r.outputFile.map { "; lines in \($0)" } ?? ""))
        if let table = r.metricsTable { print(table) }
    }
}

/// Job log lines: to stderr at the job's logging level, and all of them to logs/job.log.
final class BatchLog: @unchecked Sendable {
    let level: Int
    let handle: FileHandle?
    let lock = NSLock()
    var onStderr: ((String) -> Void)?
    init(level: String, file: URL) {
        self.level = ["debug": 0, "info": 1, "warning": 2][level] ?? 1
        if !FileManager.default.fileExists(atPath: file.path) { FileManager.default.createFile(atPath: file.path, contents: nil) }
        handle = FileHandle(forWritingAtPath: file.path)
        _ = try? handle?.seekToEnd()
    }
    func write(_ l: Int, _ tag: String, _ msg: String) {
        let ts = ISO8601DateFormatter().string(from: Date())
        lock.withLock {
            if let h = handle { writeAll(h.fileDescriptor, Data("\(ts) \(tag) \(msg)\n".utf8)) }
            if l >= level {
                if let f = onStderr { f("fovea batch: \(msg)") } else { writeAll(2, Data("fovea batch: \(msg)\n".utf8)) }
            }
        }
    }
    func debug(_ m: String) { write(0, "DEBUG", m) }
    func info(_ m: String) { write(1, "INFO", m) }
    func warning(_ m: String) { write(2, "WARNING", m) }
}

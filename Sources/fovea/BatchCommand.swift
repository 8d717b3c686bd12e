import ArgumentParser
import Foundation
import FoveaBatch
import FoveaModel
import FoveaServer
import FoveaTensor

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Batch jobs: score or explain whole datasets into an output folder — resumable, on every core.",
        discussion: """
        Inputs: a folder (recursive), a text file of paths, AutoML JSONL, TFRecord (tf.Example), Google batch-prediction \
        JSON lines, COCO JSON, a Pascal VOC folder (detected, or --input-format).

        Outputs in --output: the lines (predictions.jsonl), job.json, metrics.json when the inputs carry labels, \
        explanations/ for explain jobs. Running the same command again on the same --output resumes the job.
        """,
        subcommands: [Score.self, Explain.self, Merge.self, BatchWorkerCommand.self])

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Score every image of the input.")
        @OptionGroup var job: BatchJobOptions
        func run() throws { try job.run(command: "score", xai: nil) }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score and explain every image: the 2x2 figure (PNG) and the attributions (.npy) per image.",
            discussion: "The explanation parameters are /score's xai_parameters (README \"Explanations\"); flags override --xai-parameters.")
        @OptionGroup var job: BatchJobOptions
        @Option(help: "xrai | integrated_gradients | guided_backprop | guided_gradcam (default xrai)") var algorithm: String?
        @Option(help: "Integration steps (IG, XRAI; default 50).") var nSteps: Int?
        @Option(help: "riemann_left | riemann_right | riemann_middle | riemann_trapezoid | gausslegendre") var approximationMethod: String?
        @Option(help: "XRAI's fast ranking: true (default) or false.") var xraiFast: String?
        @Option(help: "SmoothGrad samples (default 5; 0 = no noise).") var ntSamples: Int?
        @Option(help: "SmoothGrad noise std (default 0.2).") var stdevs: Double?
        @Option(help: "Noise seed (default 0).") var seed: Int?
        @Option(help: "Write the figures: true (default) or false.") var visualizations: String?
        @Option(help: "Write the attributions (.npy): true (default in batch jobs) or false.") var attributions: String?
        @Option(help: "Multilabel: explain every class above this probability (default 0.5).") var confidenceScoreThresholdMultilabel: Double?
        @Option(help: "GradCAM layer (an ONNX value name).") var gradcamLayer: String?
        @Option(help: "All parameters as one JSON object, as /score's xai_parameters.") var xaiParameters: String?

        func run() throws {
            var raw: [String: JSONValue] = [:]
            if let x = xaiParameters {
                guard case .object(let o)? = try? JSONValue.parse(Data(x.utf8)) else { throw CLIError("--xai-parameters must be a JSON object, got \(x)") }
                raw = o
            }
            func b(_ s: String?, _ k: String) throws {
                guard let s else { return }
                guard let v = ["true": true, "false": false][s.lowercased()] else { throw CLIError("--\(k.replacingOccurrences(of: "_", with: "-")) must be true or false, got \(s)") }
                raw[k] = .bool(v)
            }
            if let algorithm { raw["xai_algorithm"] = .string(algorithm) }
            if let nSteps { raw["n_steps"] = .number(Double(nSteps)) }
            if let approximationMethod { raw["approximation_method"] = .string(approximationMethod) }
            if let xraiFast { raw["xrai_fast"] = .string(xraiFast) }
            if let ntSamples { raw["nt_samples"] = .number(Double(ntSamples)) }
            if let stdevs { raw["stdevs"] = .number(stdevs) }
            if let seed { raw["seed"] = .number(Double(seed)) }
            if let confidenceScoreThresholdMultilabel { raw["confidence_score_threshold_multilabel"] = .number(confidenceScoreThresholdMultilabel) }
            if let gradcamLayer { raw["gradcam_layer"] = .string(gradcamLayer) }
            try b(visualizations, "visualizations")
            try b(attributions, "attributions")
            try job.run(command: "explain", xai: raw)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the shards of a job (--shard I/N runs) into the folder's lines, metrics.json and job.json.")
        @Argument(help: "The job's output folder.") var folder: String
        @Option(help: "Wait up to this many seconds for shards still running (a cluster's merge step).") var wait: Double = 0
        func run() throws {
            let f = JobFolder(URL(fileURLWithPath: folder))
            let until = Date().addingTimeInterval(wait)
            var job: (JobSpec, Manifest, JobModelInfo)?
            while true {
                if let spec = JobFolder.readJSON(JobSpec.self, f.spec), let manifest = JobFolder.readJSON(Manifest.self, f.manifest),
                   let info = JobFolder.readJSON(JobModelInfo.self, f.model) {
                    job = (spec, manifest, info)
                    let n = manifest.miniBatches(size: spec.miniBatchSize)
                    if f.doneMiniBatches().count >= n || Date() >= until { break }
                } else if Date() >= until { break }
                Thread.sleep(forTimeInterval: min(5, max(0.1, until.timeIntervalSinceNow)))
            }
            guard let (spec, manifest, info) = job else { throw CLIError("\(folder) holds no Fovea batch job") }
            do {
                let r = try BatchOutput.finalize(folder: f, manifest: manifest, spec: spec, info: info)
                try BatchJob.writeMergedStatus(folder: f, manifest: manifest, spec: spec, info: info)
                FileHandle.standardError.write(Data("fovea batch: merged: \(r.done) scored, \(r.failed) failed, \(r.skipped) skipped\(r.outputFile.map { "; lines in \($0)" } ?? "")\n".utf8))
                if let t = r.metricsTable { print(t) }
            } catch let e as BatchError { throw CLIError(e.description) }
        }
    }
}

/// The options every batch job takes (AutoML's batch settings and Fovea's).
struct BatchJobOptions: ParsableArguments {
    @Option(help: "name:version of a registered model, scored in this process (default: the YAML's model, else mobilenetv2-imagenet:1).") var model: String?
    @Option(help: "Score through this endpoint of a running `fovea serve` instead (its key is read from --state-dir).") var endpoint: String?
    @Option(help: "With --endpoint: the deployment to use (default: the one with the most traffic).") var deployment: String?
    @Option(help: "With --endpoint: the key or token (default: read from the state directory).") var key: String?
    @Option(help: "With --endpoint: the scoring URL (default: the local server's /endpoints/<name>/score).") var scoringUri: String?
    @Option(help: "With --endpoint: the server's state directory.") var stateDir = ".fovea"
    @Option(help: "A folder, a file of paths, AutoML JSONL, TFRecord, Google JSON lines, COCO JSON or a VOC folder.") var input: String
    @Option(help: "folder | list | jsonl | tfrecord | google | coco | voc (default: detected).") var inputFormat: String?
    @Option(help: "COCO: the folder its file_name entries are relative to.") var imagesDir: String?
    @Option(help: "The output folder (new or empty, or this job's to resume it).") var output: String
    @Option(name: [.customShort("f"), .customLong("file")], help: "A batch deployment YAML (Azure's layout) with the settings.") var file: String?
    @Option(help: "Images per mini-batch (default 10).") var miniBatchSize: Int?
    @Option(help: "Instances (default 1); workers = instance_count x max_concurrency_per_instance.") var instanceCount: Int?
    @Option(help: "Workers per instance (default: every core, given --threads per worker).") var maxConcurrencyPerInstance: Int?
    @Option(help: "append_row (default) | summary_only (job.json and metrics only).") var outputAction: String?
    @Option(help: "The lines' file (default predictions.jsonl; a .csv name writes CSV).") var outputFileName: String?
    @Option(help: "Stop when more images than this fail (default -1: never).") var errorThreshold: Int?
    @Option(help: "Retries of a failed mini-batch or transient image failure (default 3).") var maxRetries: Int?
    @Option(help: "Seconds per mini-batch before its worker is killed and it is retried (default 30; explain: 60 per image).") var timeout: Double?
    @Option(help: "warning | info (default) | debug") var loggingLevel: String?
    @Option(help: "automl (AutoML's batch lines; default) | automl-jsonl (pre-labels in AutoML's JSONL label schema) | google (default for Google input).") var outputFormat: String?
    @Option(help: "Pre-labels: leave out images (and labels) whose score is below this.") var minScore: Double?
    @Option(help: "Multilabel: the probability at which a class counts as predicted, for metrics and pre-labels (default 0.5).") var threshold = 0.5
    @Option(help: "Process shard I of N (mini-batch m belongs to shard m % N); `fovea batch merge` joins them.") var shard: String?
    @Option(help: "With JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed Job): the number of shards.") var shards: Int?
    @Option(help: "Engine threads per worker (default 1).") var threads = 1
    @Option(help: "Largest image accepted, in pixels.") var maxPixels = 89_478_485
    @Flag(help: "Run at idle CPU priority (SCHED_IDLE, nice 19; workers inherit it): online instances on the same machine keep their cores.")
    var background = false
    @Option(help: "Stop (resumably) when this process goes away (set by `fovea serve` for the jobs it runs).") var parentPid: Int32?
    @OptionGroup var registry: RegistryOption

    func settings() throws -> BatchSettings {
        var s = BatchSettings()
        if let file {
            do { s = try BatchSettings.parse(yaml: try readText(file), file: file) } catch let e as BatchError { throw CLIError(e.description) }
        }
        if let v = miniBatchSize { s.miniBatchSize = v }
        if let v = instanceCount { s.instanceCount = v }
        if let v = maxConcurrencyPerInstance { s.maxConcurrencyPerInstance = v }
        if let v = outputAction { s.outputAction = v }
        if let v = outputFileName { s.outputFileName = v }
        if let v = errorThreshold { s.errorThreshold = v }
        if let v = maxRetries { s.maxRetries = v }
        if let v = timeout { s.timeout = v }
        if let v = loggingLevel { s.loggingLevel = v.lowercased() }
        do { try s.validate() } catch let e as BatchError {
            // name the flag as the user typed it
            throw CLIError(e.description.replacingOccurrences(of: "retry_settings.", with: "").replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: "append-row", with: "append_row").replacingOccurrences(of: "summary-only", with: "summary_only"))
        }
        return s
    }

    func shardValue() throws -> Shard? {
        if let shard { return try Shard.parse(shard) }
        if let n = shards {
            guard let s = ProcessInfo.processInfo.environment["JOB_COMPLETION_INDEX"], let i = Int(s) else {
                throw CLIError("--shards \(n) needs JOB_COMPLETION_INDEX in the environment (or give --shard I/N)")
            }
            return try Shard.parse("\(i)/\(n)")
        }
        return nil
    }

    func run(command: String, xai: [String: JSONValue]?) throws {
        guard threads >= 1 else { throw CLIError("--threads must be >= 1") }
        if background {
            var param = sched_param()
            param.sched_priority = 0
            _ = sched_setscheduler(0, 5 /* SCHED_IDLE */, &param)
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        }
        if let parent = parentPid {
            Thread.detachNewThread {
                while getppid() == parent && kill(parent, 0) == 0 { usleep(200_000) }
                BatchSignals.stop = true
            }
        }
        var o = BatchJob.Options()
        o.command = command
        o.settings = try settings()
        o.input = input
        if let f = inputFormat {
            guard let v = InputFormat(rawValue: f) else {
                throw CLIError("--input-format must be one of \(InputFormat.allCases.map(\.rawValue).joined(separator: ", ")), got '\(f)'")
            }
            o.inputFormat = v
        }
        o.imagesDir = imagesDir
        o.output = URL(fileURLWithPath: output)
        o.outputFormat = outputFormat
        o.minScore = minScore
        o.threshold = threshold
        o.xaiParameters = xai
        o.shard = try shardValue()
        o.threadsPerWorker = threads
        o.maxPixels = maxPixels
        o.progressToTerminal = isatty(2) != 0
        o.workerExecutable = selfExecutable()
        let reg = registry.value
        var workerArgs = ["batch", "worker", "--max-pixels", String(maxPixels)]
        if let endpoint {
            if model != nil { throw CLIError("give --model or --endpoint, not both") }
            let store = StateStore(directory: URL(fileURLWithPath: stateDir))
            let state: PersistedState
            do { state = try store.load() } catch { throw CLIError("--endpoint \(endpoint): cannot read the server state in \(stateDir): \(error)") }
            let ep: PersistedEndpoint
            do { ep = try state.endpoint(endpoint) } catch { throw CLIError("--endpoint \(endpoint): \(error)") }
            let dep = deployment ?? ep.traffic.filter { $0.value > 0 }.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
            guard let dep, let yaml = ep.deployments[dep] else {
                throw CLIError("--endpoint \(endpoint): " + (deployment.map { "no deployment '\($0)' (it has \(ep.deployments.keys.sorted().joined(separator: ", ")))" } ?? "no deployment has traffic; pin one with --deployment"))
            }
            let cfg = try DeploymentConfig.parse(yaml: yaml, file: "deployment \(dep)")
            let loaded = try cli { try ModelFolder.load(try reg.resolve(cfg.model).directory) }
            o.modelInfo = JobModelInfo(task: loaded.task.rawValue, labels: loaded.labels)
            o.endpoint = endpoint
            o.deployment = dep
            var url = scoringUri
            if url == nil {
                guard let info = store.runningServer() else { throw CLIError("--endpoint \(endpoint): no server runs on \(stateDir) (start `fovea serve`, or give --scoring-uri)") }
                url = "http://\(info.host == "0.0.0.0" ? "127.0.0.1" : info.host):\(info.port)/endpoints/\(endpoint)/score"
            }
            let k = key ?? (ep.authMode == "aml_token" ? AMLToken.issue(endpoint: ep.name, secret: ep.tokenSecret).token : ep.keys.primaryKey)
            workerArgs += ["--scoring-uri", url!, "--deployment", dep]
            // the key goes to workers through the environment, not their command line
            setenv("FOVEA_BATCH_KEY", k, 1)
            // a served job's workers are HTTP clients: the cores belong to the server's instances
            if o.settings.maxConcurrencyPerInstance == nil { o.settings.maxConcurrencyPerInstance = max(2, ProcessInfo.processInfo.activeProcessorCount) }
        } else {
            let m = model ?? o.settings.model ?? "mobilenetv2-imagenet:1"
            let loaded = try cli { try ModelFolder.load(try reg.resolve(m).directory) }
            o.modelInfo = JobModelInfo(task: loaded.task.rawValue, labels: loaded.labels)
            o.model = m
            workerArgs += ["--model", m, "--registry", reg.root.path, "--threads", String(threads)]
        }
        o.workerArguments = workerArgs
        let job: BatchJob
        let outcome: BatchJob.Outcome
        do {
            job = try BatchJob(o)
            try job.prepare()
            BatchSignals.install()
            outcome = try job.run(cancelled: { BatchSignals.stop })
        } catch let e as BatchError { throw CLIError(e.description) } catch let e as ConfigError { throw CLIError(e.description) }
        switch outcome {
        case .completed, .shardDone: return
        case .stoppedAtErrorThreshold:
            throw CLIError("the job stopped: more images failed than --error-threshold \(o.settings.errorThreshold) allows; see \(job.folder.job(shard: o.shard).path)")
        case .fatal(let why): throw CLIError("the job stopped: \(why)")
        case .interrupted:
            FileHandle.standardError.write(Data("fovea batch: interrupted; run the same command again to resume\n".utf8))
            throw ExitCode(130)
        }
    }
}

/// SIGINT/SIGTERM stop a job between events (its workers are killed, what is done stays done).
enum BatchSignals {
    nonisolated(unsafe) static var stop = false
    static func install() {
        signal(SIGPIPE, SIG_IGN)  // a worker that died is seen as an exit, not a signal to the job
        signal(SIGINT) { _ in BatchSignals.stop = true }
        signal(SIGTERM) { _ in BatchSignals.stop = true }
    }
}

/// `fovea batch worker`: one worker process of a job (started by the job; not for direct use).
struct BatchWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "A batch job's worker process (started by the job).",
                                                    shouldDisplay: false)
    @Option var job: String
    @Option var model: String?
    @Option var scoringUri: String?
    @Option var deployment: String?
    @Option var threads = 1
    @Option var maxRetries = 3
    @Option var maxPixels = 89_478_485
    @OptionGroup var registry: RegistryOption

    func run() throws {
        let parent = getppid()
        Thread.detachNewThread {  // never outlive the job (even after its kill -9)
            while getppid() == parent { usleep(200_000) }
            _exit(0)
        }
        signal(SIGPIPE, SIG_IGN)
        Threads.count = threads
        let folder = JobFolder(URL(fileURLWithPath: job))
        guard let spec = JobFolder.readJSON(JobSpec.self, folder.spec), let info = JobFolder.readJSON(JobModelInfo.self, folder.model) else {
            throw CLIError("\(job) holds no batch job")
        }
        let backend: BatchBackend
        if let scoringUri {
            backend = EndpointBackend(url: scoringUri, key: ProcessInfo.processInfo.environment["FOVEA_BATCH_KEY"], deployment: deployment,
                                      info: info, timeout: spec.command == "explain" ? 600 : 120)
        } else {
            let m = model ?? spec.model ?? "mobilenetv2-imagenet:1"
            let loaded = try cli { try ModelFolder.load(try registry.value.resolve(m).directory) }
            backend = try LocalBackend(model: loaded, explain: spec.command == "explain", maxPixels: maxPixels)
        }
        try BatchWorker.run(folder: folder, backend: backend, maxRetries: maxRetries)
    }
}

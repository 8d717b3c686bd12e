import ArgumentParser
import Foundation
import FoveaONNX
import FoveaTensor

struct ONNXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx",
        abstract: "Inspect, run and time ONNX models with Fovea's engine.",
        subcommands: [Info.self, Run.self, Bench.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a model's inputs, outputs, opset, op counts and unsupported ops (exit 1 if any).")
        @Argument(help: "The .onnx file.") var model: String
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() throws {
            let g = try loadGraph(model)
            let unsupported = Model.unsupportedOps(g)
            func io(_ v: ValueInfo) -> [String: Any] {
                ["name": v.name, "dtype": v.dtype?.rawValue ?? "unknown",
                 "shape": v.dims.map { $0.map { d -> Any in if case .fixed(let n) = d { return n }; return d.description } } ?? []]
            }
            if json {
                let obj: [String: Any] = [
                    "inputs": g.inputs.map(io), "outputs": g.outputs.map(io), "opset": g.opset, "producer": g.producer,
                    "nodes": g.nodes.count, "initializers": g.initializers.count,
                    "parameters": g.initializers.values.filter { $0.dtype == .float32 }.reduce(0) { $0 + $1.count },
                    "ops": Dictionary(uniqueKeysWithValues: g.opCounts.map { ($0.0, $0.1) }), "unsupported": unsupported,
                ]
                let d = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: d, as: UTF8.self))
            } else {
                func shape(_ v: ValueInfo) -> String {
                    v.dims.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "(unknown shape)"
                }
                print("model:    \(model)")
                print("opset:    \(g.opset)\(g.producer.isEmpty ? "" : "   producer: \(g.producer)")")
                for v in g.inputs { print("input:    \(v.name) \(v.dtype?.rawValue ?? "?") \(shape(v))") }
                for v in g.outputs { print("output:   \(v.name) \(v.dtype?.rawValue ?? "?") \(shape(v))") }
                let params = g.initializers.values.filter { $0.dtype == .float32 }.reduce(0) { $0 + $1.count }
                print("nodes:    \(g.nodes.count)   initializers: \(g.initializers.count)   parameters: \(params)")
                print("ops:      " + g.opCounts.map { "\($0.0) x\($0.1)" }.joined(separator: ", "))
                print("unsupported: " + (unsupported.isEmpty ? "none" : unsupported.joined(separator: ", ")))
            }
            if !unsupported.isEmpty { throw ExitCode(1) }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a model on .npy inputs and write each output as DIR/<output name>.npy.")
        @Argument(help: "The .onnx file.") var model: String
        @Option(name: .long, help: "NAME=X.npy for a named input, or X.npy when the model has one input. Repeatable.")
        var input: [String] = []
        @Option(name: .long, help: "Where to write the outputs.") var outputDir: String
        @Option(name: .long, help: "Threads for the engine (default: FOVEA_NUM_THREADS or all cores).") var threads: Int?

        func run() throws {
            if let t = threads { Threads.count = t }
            let m = try loadModel(model)
            let feeds = try parseFeeds(input, model: m)
            let out = try m.run(feeds)
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            for name in m.outputNames {
                let file = URL(fileURLWithPath: outputDir).appendingPathComponent(safeFileName(name) + ".npy")
                try Npy.write(out[name]!, to: file)
                print("\(name) \(out[name]!.dtype)\(out[name]!.shape) -> \(file.path)")
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time forward passes on random input; prints one JSON object.")
        @Argument(help: "The .onnx file.") var model: String
        @Option(help: "Batch size (dimension 0 of every input).") var batch = 1
        @Option(help: "Timed iterations.") var iterations = 50
        @Option(help: "Untimed warm-up iterations.") var warmup = 5
        @Option(help: "Engine threads.") var threads = 1
        @Flag(help: "Also time forward + backward (input gradient of output 0's first element per item).")
        var backward = false
        @Flag(help: "Print time per op type (and the slowest nodes) to stderr.") var profile = false
        @Option(help: "NAME=X.npy (or X.npy for a one-input model) instead of random input: detection graphs do data-dependent work. Repeatable.")
        var input: [String] = []

        func run() throws {
            Threads.count = threads
            let m = try loadModel(model)
            var feeds: [String: Tensor] = [:]
            var rng = SplitMix64(seed: 42)
            for spec in input {
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                let name = parts.count == 2 ? parts[0] : (m.graph.inputs.count == 1 ? m.graph.inputs[0].name : "")
                guard !name.isEmpty else { throw CLIError("--input \(spec): name the input (NAME=X.npy); the model takes several") }
                feeds[name] = try Npy.read(URL(fileURLWithPath: parts.last!))
            }
            for v in m.graph.inputs where feeds[v.name] == nil {
                guard let dims = v.dims else { throw CLIError("input '\(v.name)' has no declared shape") }
                let shape = dims.enumerated().map { k, d -> Int in
                    if k == 0 { return batch }
                    if case .fixed(let n) = d { return n }
                    return 1
                }
                let t = Tensor(zeros: shape, dtype: v.dtype ?? .float32)
                if t.dtype == .float32 { for i in 0..<t.count { t.f32[i] = Float(rng.nextDouble() * 2 - 1) } }
                feeds[v.name] = t
            }
            func time(_ body: () throws -> Void) throws -> [Double] {
                for _ in 0..<warmup { try body() }
                var ts: [Double] = []
                for _ in 0..<iterations {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try body()
                    ts.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                }
                return ts.sorted()
            }
            let fwd = try time { _ = try m.run(feeds) }
            var obj: [String: Any] = [
                "model": model, "batch": batch, "iterations": iterations, "threads": threads,
                "median_ms": round3(fwd[fwd.count / 2]), "min_ms": round3(fwd[0]), "p90_ms": round3(fwd[fwd.count * 9 / 10]),
                "plan_mb": round3(Double(m.planBytes) / 1_048_576), "peak_rss_mb": round3(peakRSSMegabytes()),
            ]
            if backward {
                let cls = [Int](repeating: 0, count: batch)
                let bwd = try time { _ = try m.gradient(feeds, target: .logits(cls)) }
                obj["forward_backward_median_ms"] = round3(bwd[bwd.count / 2])
                obj["forward_backward_min_ms"] = round3(bwd[0])
                obj["peak_rss_mb"] = round3(peakRSSMegabytes())
            }
            if profile {
                let p = Profile()
                for _ in 0..<iterations { _ = try m.run(feeds, profile: p) }
                let total = p.byOpType.values.reduce(0, +) / Double(p.runs)
                var err = FileHandle.standardError
                print("per run: \(round3(total)) ms in ops", to: &err)
                for (k, v) in p.byOpType.sorted(by: { $0.value > $1.value }) {
                    print(String(format: "  %-28@ %8.3f ms  %5.1f%%", k as NSString, v / Double(p.runs), 100 * v / Double(p.runs) / total), to: &err)
                }
                print("slowest nodes:", to: &err)
                for (k, v) in p.byNode.sorted(by: { $0.value > $1.value }).prefix(ProcessInfo.processInfo.environment["FOVEA_PROFILE_NODES"].flatMap { Int($0) } ?? 12) {
                    print(String(format: "  %-50@ %8.3f ms", k as NSString, v / Double(p.runs)), to: &err)
                }
            }
            let d = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: d, as: UTF8.self))
        }
    }
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { write(Data(string.utf8)) }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

func loadGraph(_ path: String) throws -> Graph {
    do { return try ONNXImport.load(path: path) } catch let e as EngineError { throw CLIError(e.description) }
}

func loadModel(_ path: String) throws -> Model {
    do { return try Model(path: path) } catch let e as EngineError { throw CLIError(e.description) }
}

func parseFeeds(_ specs: [String], model: Model) throws -> [String: Tensor] {
    var feeds: [String: Tensor] = [:]
    for spec in specs {
        var name: String
        var path: String
        if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
            name = String(spec[..<eq])
            path = String(spec[spec.index(after: eq)...])
        } else {
            guard model.inputNames.count == 1 else {
                throw CLIError("the model has \(model.inputNames.count) inputs (\(model.inputNames.joined(separator: ", "))); use --input NAME=FILE.npy")
            }
            name = model.inputNames[0]
            path = spec
        }
        do {
            feeds[name] = try Npy.read(URL(fileURLWithPath: path))
        } catch let e as NpyError {
            throw CLIError("\(path): \(e.description)")
        } catch {
            throw CLIError("cannot read \(path): \(error.localizedDescription)")
        }
    }
    return feeds
}

func safeFileName(_ s: String) -> String {
    String(s.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." ? $0 : "_" })
}

/// Peak resident set size of this process (VmHWM), in MiB.
func peakRSSMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

/// Small deterministic generator for benchmark inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

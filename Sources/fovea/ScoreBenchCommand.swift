import ArgumentParser
import Foundation
import FoveaModel
import FoveaServer
import FoveaTensor

/// The server benchmark's anchor: what one instance does per request (parse the body, decode, preprocess, run,
/// postprocess, JSON) in-process, with no HTTP.
struct ScoreBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-bench",
        abstract: "Time the scoring path of one instance in-process (no HTTP) on a request body; prints JSON.")
    @Option(help: "name:version of a registered model.") var model = "mobilenetv2-imagenet:1"
    @Option(help: "A request body file (AutoML JSON, or an image).") var body: String
    @Option(help: "Timed iterations.") var iterations = 200
    @Option(help: "Untimed warm-up iterations.") var warmup = 10
    @Option(help: "Engine threads.") var threads = 1
    @OptionGroup var registry: RegistryOption

    func run() throws {
        Threads.count = threads
        let m = try cli { try ModelFolder.load(try registry.value.resolve(model).directory) }
        let scorer = try Scorer(model: m)
        guard let data = FileManager.default.contents(atPath: body) else { throw CLIError("cannot read \(body)") }
        let type = data.first == UInt8(ascii: "{") ? "application/json" : "application/octet-stream"
        var times: [Double] = []
        for i in 0..<(warmup + iterations) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let req = try ScoringRequest.parse(body: data, contentType: type)
            let r = try scorer.score(req)
            precondition(!r.json.isEmpty)
            if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        times.sort()
        func pct(_ p: Double) -> Double { times[min(times.count - 1, Int(Double(times.count) * p))] }
        let total = times.reduce(0, +)
        let o: [String: Any] = ["p50_ms": pct(0.5), "p99_ms": pct(0.99), "min_ms": times[0], "iterations": iterations,
                                "requests_per_s": Double(iterations) / (total / 1000), "threads": threads]
        print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
    }
}

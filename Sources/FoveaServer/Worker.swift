import Foundation
import FoveaImage
import FoveaModel
import Hummingbird
import HTTPTypes

/// One instance of a deployment: a process that loads the model once and answers `/live`, `/ready` and `/score`.
/// It listens on 127.0.0.1 (port 0 = any free port) and announces the port on stdout as
/// `FOVEA_WORKER_PORT <port>` (after `FOVEA_WORKER_FRAME_PORT <port>`, the router's scoring hop); it exits when its parent goes away, so it never outlives the server that started it.
public struct WorkerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 0
    public var model: String
    public var registry: URL
    public var deployment = "local"
    public var instance = 0
    public var maxPixels = ImageDecoder.defaultMaxPixels
    public var maxBodyBytes = 16 << 20
    /// Exit when this process is no longer our parent (the server died, even by SIGKILL).
    public var parentPID: Int32?
    public init(model: String, registry: URL) {
        self.model = model
        self.registry = registry
    }
}

public enum Worker {
    public static func run(_ o: WorkerOptions) async throws {
        let log = JSONLog(base: ["deployment": o.deployment, "instance": String(o.instance), "pid": String(getpid())])
        // "scored" lines are written a few ms after the answer (see DeferredWork), not before the next request
        let scoredLog = DeferredWork(label: "fovea.worker.log")
        let scorer = Locked<Scorer?>(nil)
        if let parent = o.parentPID {
            Thread.detachNewThread {
                while getppid() == parent { usleep(300_000) }
                scoredLog.flush()
                log.info("the server went away; exiting")
                exit(0)
            }
        }
        let router = Router()
        router.get("/live") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"live\":true}"))) }
        router.get("/ready") { _, _ -> Response in
            let ready = scorer.get() != nil
            return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"ready\":\(ready)}")))
        }
        // the Scorer runs one request at a time, whichever port it came in on; direct HTTP calls wait on one
        // serial queue (not one blocked thread each)
        let httpQueue = DispatchQueue(label: "fovea.worker.http")
        /// The answer, and its "scored" log line to write once the answer is sent.
        @Sendable func handle(_ body: Data, contentType: String?, rid: String) -> (status: Int, meta: [String: String], body: Data, after: (@Sendable () -> Void)?) {
            guard let s = scorer.get() else { return (503, [:], Frame.errorBody("the model is still loading"), nil) }
            let started = DispatchTime.now().uptimeNanoseconds
            do {
                let parsed = try ScoringRequest.parse(body: body, contentType: contentType)
                let r = try s.score(parsed)
                var meta: [String: String] = [:]
                if !r.rowErrors.isEmpty {
                    let text = r.rowErrors.keys.sorted().map { r.rowErrors[$0]! }.joined(separator: "; ")
                    meta["row_errors"] = headerSafe(text)
                    log.warning("rows dropped", ["request_id": rid, "errors": text])
                }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                // W3C Server-Timing: what the model path (parse, decode, run, JSON) took, so clients and the server
                // benchmark can tell the model's time from the transport's
                meta["server_timing"] = "model;dur=\((ms * 1000).rounded() / 1000)"
                let rows = parsed.rows.count
                return (200, meta, r.json, {
                    scoredLog.add { log.info("scored", ["request_id": rid, "rows": rows, "infer_ms": (ms * 1000).rounded() / 1000]) }
                })
            } catch let e as BadRequest {
                log.warning("bad request", ["request_id": rid, "error": e.description])
                return (400, [:], Frame.errorBody(e.description), nil)
            } catch let e as Scorer.ModelFailure {
                log.error("model failed", ["request_id": rid, "error": e.description])
                return (500, [:], Frame.errorBody("model error: \(e.description)"), nil)
            } catch {
                log.error("model failed", ["request_id": rid, "error": "\(error)"])
                return (500, [:], Frame.errorBody("model error: \(error)"), nil)
            }
        }
        router.post("/score") { request, _ -> Response in
            let rid = request.headers[.requestID] ?? "-"
            var request = request
            let body = try await request.collectBody(upTo: o.maxBodyBytes)
            let contentType = request.headers[.contentType]
            let r = await withCheckedContinuation { cont in
                httpQueue.async { cont.resume(returning: handle(Data(buffer: body), contentType: contentType, rid: rid)) }
            }
            r.after?()
            var headers: HTTPFields = [.contentType: "application/json"]
            if let e = r.meta["row_errors"] { headers[.rowErrors] = e }
            if let t = r.meta["server_timing"] { headers[.serverTiming] = t }
            return Response(status: .init(code: r.status), headers: headers, body: .init(byteBuffer: ByteBuffer(data: r.body)))
        }
        // the router's scoring hop (see Frame.swift)
        let frames = try FrameServer(host: o.host, maxBody: o.maxBodyBytes) { meta, body in
            handle(body, contentType: meta["content_type"], rid: meta["request_id"] ?? "-")
        }
        frames.start()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(o.host, port: o.port), serverName: "fovea-worker"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? o.port
                print("FOVEA_WORKER_FRAME_PORT \(frames.port)")
                print("FOVEA_WORKER_PORT \(port)")
                fflush(stdout)
                log.info("listening", ["port": port, "model": o.model])
                Thread.detachNewThread {
                    let t0 = Date()
                    do {
                        let entry = try Registry(root: o.registry).resolve(o.model)
                        let m = try ModelFolder.load(entry.directory)
                        let s = try Scorer(model: m, maxPixels: o.maxPixels)
                        scorer.set(s)
                        log.info("model loaded; ready", ["model": "\(entry.name):\(entry.version)",
                                                        "load_ms": Int(Date().timeIntervalSince(t0) * 1000)])
                    } catch {
                        log.error("cannot load the model; exiting", ["model": o.model, "error": "\(error)"])
                        exit(3)
                    }
                }
            },
            logger: quietLogger("fovea-worker"))
        try await app.runService()
        scoredLog.flush()
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
    static let rowErrors = HTTPField.Name("x-fovea-row-errors")!
    static let serverTiming = HTTPField.Name("server-timing")!
    static let modelDeployment = HTTPField.Name("azureml-model-deployment")!
    static let modelErrorStatus = HTTPField.Name("ms-azureml-model-error-statuscode")!
    static let modelErrorReason = HTTPField.Name("ms-azureml-model-error-reason")!
    static let retryAfter = HTTPField.Name("retry-after")!
}

/// Header values are one line of printable ASCII.
func headerSafe(_ s: String, limit: Int = 1000) -> String {
    String(String(s.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : " " }).prefix(limit))
}

import Logging
func quietLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = .warning
    return l
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An HTTP answer the router sends back: status, extra headers, body.
public struct Answer: Error, Sendable {
    public var status: Int
    public var headers: [(String, String)] = []
    public var body: ByteBuffer
    public var deployment: String?
    /// Work to do once the answer is sent (the request's metrics and log line).
    var after: (@Sendable () -> Void)?

    static func error(_ status: Int, _ message: String, deployment: String? = nil, headers: [(String, String)] = []) -> Answer {
        let o = ["error": ["code": status, "message": message]]
        let d = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
        return Answer(status: status, headers: [("content-type", "application/json")] + headers, body: ByteBuffer(data: d), deployment: deployment)
    }
}

/// An endpoint at run time: its keys, its traffic rules and its deployments; routes and forwards scoring requests.
public final class EndpointRuntime: @unchecked Sendable {
    public let name: String
    private let lock = NSLock()
    private var _state: PersistedEndpoint
    private var _deployments: [String: DeploymentRuntime] = [:]
    let ctx: SupervisorContext
    let log: JSONLog

    init(state: PersistedEndpoint, context: SupervisorContext, log: JSONLog) {
        name = state.name
        _state = state
        ctx = context
        self.log = log.with(["endpoint": state.name])
    }

    public var state: PersistedEndpoint { lock.lock(); defer { lock.unlock() }; return _state }
    public var deployments: [String: DeploymentRuntime] { lock.lock(); defer { lock.unlock() }; return _deployments }

    /// Brings the running deployments in line with the persisted state (new ones start, changed ones roll, removed
    /// ones stop).
    func reconcile(_ s: PersistedEndpoint) throws {
        lock.lock()
        let old = _state
        _state = s
        let running = _deployments
        lock.unlock()
        for (dname, yaml) in s.deployments.sorted(by: { $0.key < $1.key }) {
            let cfg = try DeploymentConfig.parse(yaml: yaml, file: "deployment \(dname)")
            if let r = running[dname] {
                if old.deployments[dname] != yaml { r.update(cfg) }
            } else {
                let r = try DeploymentRuntime(endpoint: name, config: cfg, context: ctx)
                lock.lock(); _deployments[dname] = r; lock.unlock()
                r.log.info("deployment created", ["model": cfg.model, "instance_count": cfg.instanceCount])
                r.start()
            }
        }
        for (dname, r) in running where s.deployments[dname] == nil {
            lock.lock(); _deployments[dname] = nil; lock.unlock()
            Task { await r.stop(grace: 10) }
        }
    }

    func stop(grace: Double) async {
        let ds = deployments.values
        await withTaskGroup(of: Void.self) { g in for d in ds { g.addTask { await d.stop(grace: grace) } } }
    }

    /// Whether `Authorization: Bearer <credential>` is acceptable for this endpoint.
    func authorize(_ header: String?) -> Bool {
        guard let h = header, let credential = Self.bearerCredential(h) else { return false }
        let s = state
        switch s.authMode {
        case "aml_token": return AMLToken.verify(credential, endpoint: s.name, secret: s.tokenSecret)
        default: return s.keys.accepts(credential)
        }
    }

    /// The credential of `Bearer <credential>` (scheme case-insensitive, blanks around it dropped). Byte-wise:
    /// Foundation's split/lowercased/trimmingCharacters took ~30 µs a request.
    static func bearerCredential(_ header: String) -> String? {
        let u = Array(header.utf8), scheme = Array("bearer".utf8)
        guard u.count > 7, u[6] == 0x20 || u[6] == 0x09 else { return nil }
        for i in 0..<6 where u[i] | 0x20 != scheme[i] { return nil }
        var s = 7, e = u.count
        while s < e && (u[s] == 0x20 || u[s] == 0x09) { s += 1 }
        while e > s && (u[e - 1] == 0x20 || u[e - 1] == 0x09) { e -= 1 }
        return s < e ? String(decoding: u[s..<e], as: UTF8.self) : nil
    }

    /// Any deployment with live traffic has a ready instance (what the endpoint's `/ready` reports).
    var isReady: Bool {
        let s = state, ds = deployments
        let live = s.traffic.filter { $0.value > 0 }.keys
        return !live.isEmpty && live.allSatisfy { (ds[$0]?.readyCount ?? 0) > 0 }
    }

    // MARK: routing

    /// The header pins; otherwise a weighted draw over `traffic`.
    func pick(pin: String?) -> Result<DeploymentRuntime, Answer> {
        let s = state, ds = deployments
        if let pin, !pin.isEmpty {
            guard let d = ds[pin] else {
                return .failure(.error(404, "endpoint '\(name)' has no deployment '\(pin)' (azureml-model-deployment header); deployments: \(ds.keys.sorted().joined(separator: ", "))"))
            }
            return .success(d)
        }
        let total = s.traffic.values.reduce(0, +)
        guard total > 0 else {
            return .failure(.error(404, "The endpoint '\(name)' doesn't have any valid deployment with positive weight; set traffic or pin one with the azureml-model-deployment header"))
        }
        var r = Int.random(in: 0..<total)
        for (dname, w) in s.traffic.sorted(by: { $0.key < $1.key }) where w > 0 {
            if r < w, let d = ds[dname] { return .success(d) }
            r -= w
        }
        return .failure(.error(503, "no deployment of endpoint '\(name)' can take traffic"))
    }

    /// Routes, forwards (with timeout, retry after a dropped connection) and mirrors one scoring request.
    /// Blocks the calling thread (a scoring-port connection thread) until the answer.
    func score(body: ByteBuffer, contentType: String?, pin: String?, requestID: String) -> Answer {
        let d: DeploymentRuntime
        switch pick(pin: pin) {
        case .failure(let a): return a
        case .success(let x): d = x
        }
        if pin == nil || pin!.isEmpty, let (mname, pct) = state.mirrorTraffic.first, pct > 0, mname != d.name,
           let m = deployments[mname], Int.random(in: 0..<100) < pct {
            mirror(m, body: body, contentType: contentType, requestID: requestID)
        }
        var a = forward(d, body: body, contentType: contentType, requestID: requestID)
        a.deployment = d.name
        return a
    }

    func mirror(_ m: DeploymentRuntime, body: ByteBuffer, contentType: String?, requestID: String) {
        DispatchQueue.global().async {
            guard let inst = m.tryAdmitIdle() else {
                self.ctx.metrics.mirrored(endpoint: self.name, deployment: m.name, status: 429)
                m.log.info("mirror copy dropped: no idle instance", ["request_id": requestID])
                return
            }
            defer { m.release(inst); m.leave() }
            let deadline = NIODeadline.now() + .milliseconds(Int64(m.config.requestSettings.requestTimeoutMs))
            let status: Int
            do {
                let (st, _, _) = try self.post(inst, body: body, contentType: contentType, requestID: requestID, deadline: deadline)
                status = st
            } catch { status = 502 }
            self.ctx.metrics.mirrored(endpoint: self.name, deployment: m.name, status: status)
            m.log.info("mirror copy answered (discarded)", ["request_id": requestID, "status": status])
        }
    }

    func forward(_ d: DeploymentRuntime, body: ByteBuffer, contentType: String?, requestID: String) -> Answer {
        switch d.admit() {
        case .noReadyInstance:
            return .error(503, "deployment '\(d.name)' has no ready instance", deployment: d.name, headers: [("retry-after", "1")])
        case .tooMany(let limit):
            return .error(429, "too many pending requests for deployment '\(d.name)' (limit \(limit) = 2 x max_concurrent_requests_per_instance x ready instances); retry with backoff",
                          deployment: d.name, headers: [("retry-after", "1")])
        case .admitted: break
        }
        defer { d.leave() }
        let timeout = d.config.requestSettings.requestTimeoutMs
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout))
        let result = attempt(d, body: body, contentType: contentType, requestID: requestID, deadline: deadline)
        guard let result else {
            d.log.warning("request timed out", ["request_id": requestID, "request_timeout_ms": timeout])
            return .error(408, "the model did not answer within request_timeout_ms (\(timeout) ms) of deployment '\(d.name)'")
        }
        return result
    }

    /// One try, and one more on another instance when the first dropped the connection (a crashed instance); nil
    /// when the deadline passes first (waiting for a slot or for the answer).
    private func attempt(_ d: DeploymentRuntime, body: ByteBuffer, contentType: String?, requestID: String, deadline: NIODeadline) -> Answer? {
        var excluded: Instance?
        for tryNo in 0..<2 {
            guard let inst = d.acquire(excluding: excluded, deadline: deadline) else { return nil }
            do {
                let (status, headers, rbody) = try post(inst, body: body, contentType: contentType, requestID: requestID, deadline: deadline)
                d.release(inst)
                switch status {
                case 200:
                    var h = [("content-type", "application/json")]
                    if let rowErrors = headers.first(name: "x-fovea-row-errors") { h.append(("x-fovea-row-errors", rowErrors)) }
                    if let t = headers.first(name: "server-timing") { h.append(("server-timing", t)) }
                    return Answer(status: 200, headers: h, body: rbody)
                case 400, 413:
                    return Answer(status: status, headers: [("content-type", "application/json")], body: rbody)
                default:
                    let reason = Self.message(rbody) ?? "the model answered \(status)"
                    d.log.error("model error", ["request_id": requestID, "instance": inst.index, "status": status, "reason": reason])
                    return .error(424, "model error in deployment '\(d.name)': \(reason)",
                                  headers: [("ms-azureml-model-error-statuscode", String(status)),
                                            ("ms-azureml-model-error-reason", headerSafe(reason))])
                }
            } catch {
                d.release(inst)
                if error is FrameClient.TimedOut || NIODeadline.now() >= deadline { return nil }
                d.suspect(inst)
                d.log.warning("instance dropped the request", ["request_id": requestID, "instance": inst.index, "error": "\(error)",
                                                               "retry": tryNo == 0])
                excluded = inst
            }
        }
        return .error(503, "deployment '\(d.name)': the request was dropped by two instances", headers: [("retry-after", "1")])
    }

    func post(_ inst: Instance, body: ByteBuffer, contentType: String?, requestID: String, deadline: NIODeadline) throws -> (Int, HTTPHeaders, ByteBuffer) {
        if let frames = inst.frames {
            let r = try frames.call(meta: ["request_id": requestID, "content_type": contentType ?? "application/json"], body: body,
                                          deadline: deadline)
            var h = HTTPHeaders()
            if let e = r.meta["row_errors"] { h.add(name: "x-fovea-row-errors", value: e) }
            if let t = r.meta["server_timing"] { h.add(name: "server-timing", value: t) }
            return (r.status, h, r.body)
        }
        // no frame port announced: the instance's HTTP port, through the async client, waited for here
        var req = HTTPClientRequest(url: "http://127.0.0.1:\(inst.port)/score")
        req.method = .POST
        req.headers.add(name: "content-type", value: contentType ?? "application/json")
        req.headers.add(name: "x-request-id", value: requestID)
        req.body = .bytes(body)
        let client = ctx.client
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Result<(Int, HTTPHeaders, ByteBuffer), Error>?>(nil)
        Task {
            do {
                let r = try await client.execute(req, deadline: deadline)
                let b = try await r.body.collect(upTo: 256 << 20)
                result.set(.success((Int(r.status.code), r.headers, b)))
            } catch { result.set(.failure(error)) }
            done.signal()
        }
        done.wait()
        return try result.get()!.get()
    }

    static func message(_ b: ByteBuffer) -> String? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(buffer: b)) as? [String: Any] else { return nil }
        if let e = o["error"] as? [String: Any], let m = e["message"] as? String { return m }
        return o["error"] as? String
    }

    var summary: [String: Any] {
        let s = state
        return ["name": s.name, "auth_mode": s.authMode, "traffic": s.traffic, "mirror_traffic": s.mirrorTraffic,
                "description": s.description ?? NSNull(),
                "deployments": deployments.keys.sorted().map { deployments[$0]!.summary }]
    }
}

extension HTTPHeaders {
    func first(name: String) -> String? { self[name].first }
}

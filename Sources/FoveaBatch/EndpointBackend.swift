import AsyncHTTPClient
import Foundation
import FoveaExplain
import FoveaModel
import FoveaServer
import FoveaTensor
import NIOCore
import NIOHTTP1

/// Scores through a running `fovea serve`: one request per image, pinned to one deployment, with the endpoint's
/// key. 429/503/408/5xx and refused connections are transient (retried); 400 is the image's own fault; 401/403/404
/// stop the job.
public final class EndpointBackend: BatchBackend {
    public let url: String
    public let key: String?
    public let deployment: String?
    public let info: JobModelInfo
    let timeout: Double
    let client = HTTPClient(eventLoopGroupProvider: .singleton)

    public init(url: String, key: String?, deployment: String?, info: JobModelInfo, timeout: Double) {
        self.url = url
        self.key = key
        self.deployment = deployment
        self.info = info
        self.timeout = timeout
    }
    deinit { try? client.syncShutdown() }

    func post(_ body: Data, contentType: String) throws -> (Int, HTTPHeaders, Data) {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "content-type", value: contentType)
        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
        if let deployment { req.headers.add(name: "azureml-model-deployment", value: deployment) }
        req.body = .bytes(ByteBuffer(data: body))
        let box = Locked<Result<(Int, HTTPHeaders, Data), Error>?>(nil)
        let sem = DispatchSemaphore(value: 0)
        let client = self.client, t = Int64(timeout * 1000)
        Task {
            do {
                let r = try await client.execute(req, timeout: .milliseconds(t))
                let b = try await r.body.collect(upTo: 512 << 20)
                box.set(.success((Int(r.status.code), r.headers, Data(buffer: b))))
            } catch { box.set(.failure(error)) }
            sem.signal()
        }
        sem.wait()
        switch box.get()! {
        case .success(let v): return v
        case .failure(let e): throw ItemFailure.transient("cannot reach \(url): \(e)")
        }
    }

    public func process(_ bytes: Data, item: BatchItem, folder: JobFolder, explain p: XAIParameters?) throws -> ItemRecord {
        let (status, headers, body): (Int, HTTPHeaders, Data)
        if let p {
            let xai: [String: Any] = ["xai_algorithm": p.algorithm.rawValue, "visualizations": p.visualizations, "attributions": p.attributions,
                                      "n_steps": p.nSteps, "approximation_method": p.approximationMethod.rawValue, "xrai_fast": p.xraiFast,
                                      "nt_samples": p.ntSamples, "stdevs": p.stdevs, "seed": Int(p.seed),
                                      "confidence_score_threshold_multilabel": p.confidenceScoreThresholdMultilabel]
                .merging(p.gradcamLayer.map { ["gradcam_layer": $0] } ?? [:]) { a, _ in a }
            let row = try JSONSerialization.data(withJSONObject: ["image_base64": bytes.base64EncodedString(), "model_explainability": true,
                                                                  "xai_parameters": xai], options: [.sortedKeys])
            let req = try JSONSerialization.data(withJSONObject: ["input_data": ["columns": ["image"], "data": [String(decoding: row, as: UTF8.self)]]])
            (status, headers, body) = try post(req, contentType: "application/json")
        } else {
            (status, headers, body) = try post(bytes, contentType: "application/octet-stream")
        }
        let message = ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["message"] as? String }
            ?? String(decoding: body.prefix(300), as: UTF8.self)
        switch status {
        case 200: break
        case 400, 413: throw ItemFailure.permanent("\(item.name): the endpoint answered \(status): \(message)")
        case 401, 403: throw ItemFailure.fatal("the endpoint refused the key (\(status)): \(message)")
        case 404: throw ItemFailure.fatal("the endpoint answered 404: \(message)")
        default: throw ItemFailure.transient("the endpoint answered \(status): \(message)")
        }
        guard let rows = (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] else {
            throw ItemFailure.transient("the endpoint's answer is not a JSON list")
        }
        guard let row = rows.first else {
            throw ItemFailure.permanent("\(item.name): \(headers.first(name: "x-fovea-row-errors") ?? "the endpoint dropped the image as unreadable")")
        }
        if let boxes = row["boxes"] as? [[String: Any]] {
            let index = Dictionary(info.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            var r = ItemRecord(i: 0, ok: true)
            r.boxes = try boxes.map { b in
                guard let label = b["label"] as? String, let k = index[label], let score = b["score"] as? Double,
                      let c = b["box"] as? [String: Double], let x1 = c["topX"], let y1 = c["topY"], let x2 = c["bottomX"], let y2 = c["bottomY"] else {
                    throw ItemFailure.fatal("the deployment answered a box the job's model cannot have (\(b["label"] ?? "no label")); pin --deployment")
                }
                // float32 model values: snapped back to the exact float as the in-process path keeps them
                return RecordBox(c: k, s: Double(Float(score)), b: [x1, y1, x2, y2].map { Double(Float($0)) },
                                 p: (b["polygon"] as? [[Double]]).map { $0.map { $0.map { Double(Float($0)) } } })
            }
            return r
        }
        guard let probs = row["probs"] as? [Double], let labels = row["labels"] as? [String] else {
            throw ItemFailure.permanent("\(item.name): the answer has no probs/labels (not a classification model?)")
        }
        guard labels == info.labels else { throw ItemFailure.fatal("the deployment answered with other labels than the job's model; pin --deployment") }
        var r = ItemRecord(i: 0, ok: true)
        // the model's outputs are float32: snap the decimal text back to the exact float (JSON text may be off by an ulp
        // of a double), so that lines through the endpoint equal lines scored in process
        r.probs = probs.map { Double(Float($0)) }
        if let p {
            let multilabel = info.task == TaskKind.multilabel.rawValue
            var figs: [Any], attrs: [Any]
            if multilabel {
                figs = row["visualizations"] as? [Any] ?? []
                attrs = row["attributions"] as? [Any] ?? []
            } else {
                figs = [row["visualizations"] ?? NSNull()]
                attrs = [row["attributions"] ?? NSNull()]
            }
            // the classes explained are the ones AutoML picks, which the endpoint applied: recompute them
            let targets = multilabel ? r.probs!.indices.filter { Double(Float(r.probs![$0])) > p.confidenceScoreThresholdMultilabel } : [Metrics.argmax(r.probs!)]
            r.targets = targets
            r.visualizations = []
            r.attributions = []
            for (k, t) in targets.enumerated() {
                let stem = BatchJob.explanationStem(item, target: t, multilabel: multilabel)
                var vis: String?, attr: String?
                if k < figs.count, let b64 = figs[k] as? String, let png = Data(base64Encoded: b64) {
                    vis = stem + ".png"
                    try AtomicFile.write(png, to: folder.url.appendingPathComponent(vis!), mode: 0o644)
                }
                if k < attrs.count, let nested = attrs[k] as? [[[Double]]] {
                    let nc = nested.count, nh = nested.first?.count ?? 0, nw = nested.first?.first?.count ?? 0
                    var flat: [Float] = []
                    flat.reserveCapacity(nc * nh * nw)
                    for plane in nested { for rowv in plane { flat += rowv.map { Float($0) } } }
                    attr = stem + ".npy"
                    try AtomicFile.write(Npy.encode(Tensor(shape: [nc, nh, nw], floats: flat)), to: folder.url.appendingPathComponent(attr!), mode: 0o644)
                }
                r.visualizations!.append(vis)
                r.attributions!.append(attr)
            }
        }
        return r
    }
}

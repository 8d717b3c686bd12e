import Foundation
import FoveaExplain
import FoveaImage
import FoveaModel

/// What an instance does with one scoring request: decode rows → task handler → AutoML's JSON.
/// The engine's plans are not shared between threads, so requests run one at a time (a lock); callers run
/// `score` on their own thread, never on an event loop.
public final class Scorer: @unchecked Sendable {
    public let model: LoadedModel
    let handler: any TaskHandler
    let maxPixels: Int
    private let lock = NSLock()

    public struct Result: Sendable {
        public var json: Data
        /// Rows dropped as AutoML drops unreadable images, with the reason.
        public var rowErrors: [Int: String]
    }

    /// An error inside the model (the engine failed): the instance answers 500, the router 424.
    public struct ModelFailure: Error, CustomStringConvertible { public let description: String }

    public init(model: LoadedModel, maxPixels: Int = ImageDecoder.defaultMaxPixels) throws {
        self.model = model
        handler = try TaskHandlers.make(model)
        self.maxPixels = maxPixels
        explainer = model.task.isClassification ? try Explainer(model: model) : nil
    }

    /// Classification only: explanations are for classifiers (AutoML's XAI is too).
    let explainer: Explainer?

    /// Scores on the calling thread, after any request already running.
    public func score(_ request: ScoringRequest) throws -> Result {
        if request.modelExplainability {
            guard explainer != nil else {
                throw BadRequest("model_explainability is for classification models; this deployment serves \(model.task.rawValue) "
                    + "(remove model_explainability or set it to false)")
            }
            _ = try xaiParameters(request)  // a bad parameter is a 400 before any work
        }
        return try lock.withLock { try scoreLocked(request) }
    }

    private func scoreLocked(_ request: ScoringRequest) throws -> Result {
        var errors = request.rowErrors
        var inputs: [PreparedImage] = []
        for (i, row) in request.rows.enumerated() {
            guard let bytes = row else { continue }
            do {
                inputs.append(try handler.prepare(try ImageDecoder.decode(bytes, maxPixels: maxPixels)))
            } catch let e as ImageError {
                errors[i] = "row \(i): \(e.description)"
            } catch {
                errors[i] = "row \(i): \(error)"
            }
        }
        var rows: [[String: Any]] = []
        if !inputs.isEmpty {
            let results: [any TaskResult]
            do { results = try handler.infer(inputs) } catch { throw ModelFailure(description: "\(error)") }
            rows = results.map { $0.json(filename: nil) }
            if request.modelExplainability, let explainer {
                let p = try xaiParameters(request)
                defer { model.engine.releasePlans(gradientOnly: true) }  // back under ~100 MB between explanations
                for (i, r) in results.enumerated() {
                    guard let r = r as? ClassificationResult else { continue }
                    try explain(explainer, inputs[i].tensor, r, p, into: &rows[i])
                }
            }
        }
        // sorted keys: the same request gives the same bytes (dictionary order varies between instances)
        let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
        return Result(json: data, rowErrors: errors)
    }
}

import FoveaTensor

extension Scorer {
    func xaiParameters(_ request: ScoringRequest) throws -> XAIParameters {
        do { return try XAIParameters.parse(request.xaiParameters) } catch let e as XAIParameterError { throw BadRequest(e.description) }
    }

    /// AutoML's keys: multiclass → one base64 PNG / one [3][H][W] list (null when not requested); multilabel → lists
    /// with one entry per class above the threshold (null when none is).
    func explain(_ explainer: Explainer, _ x: FoveaTensor.Tensor, _ r: ClassificationResult, _ p: XAIParameters,
                 into row: inout [String: Any]) throws {
        let targets = explainer.targets(probs: r.probs, p: p)
        var figs: [Any] = [], attrs: [Any] = []
        for t in targets {
            let e: Explanation
            do { e = try explainer.explain(input: x, target: t, score: r.probs[t], p: p) } catch let err as XAIParameterError {
                throw BadRequest(err.description)
            } catch { throw ModelFailure(description: "explanation failed: \(error)") }
            figs.append(p.visualizations ? (e.figurePNGBase64.map { $0 as Any } ?? NSNull()) : NSNull())
            attrs.append(p.attributions ? e.nestedAttributions : NSNull())
        }
        if model.task == .multilabel {
            row["visualizations"] = targets.isEmpty ? NSNull() : figs
            row["attributions"] = targets.isEmpty ? NSNull() : attrs
        } else {
            row["visualizations"] = figs.first ?? NSNull()
            row["attributions"] = attrs.first ?? NSNull()
        }
    }
}

import Foundation
import FoveaImage
import FoveaModel

/// What an instance does with one scoring request: decode rows → task handler → AutoML's JSON.
/// The engine's plans are not shared between threads, so requests run one at a time on a worker thread,
/// never on the event loop.
public final class Scorer: @unchecked Sendable {
    public let model: LoadedModel
    let handler: ClassificationHandler
    let maxPixels: Int
    private let queue = DispatchQueue(label: "fovea.scorer")

    public struct Result: Sendable {
        public var json: Data
        /// Rows dropped as AutoML drops unreadable images, with the reason.
        public var rowErrors: [Int: String]
    }

    /// An error inside the model (the engine failed): the instance answers 500, the router 424.
    public struct ModelFailure: Error, CustomStringConvertible { public let description: String }

    public init(model: LoadedModel, maxPixels: Int = ImageDecoder.defaultMaxPixels) throws {
        guard model.task.isClassification else {
            throw ModelError.invalid("task \(model.task.rawValue) is not served yet (classification models only)")
        }
        self.model = model
        handler = ClassificationHandler(model)
        self.maxPixels = maxPixels
    }

    public func score(_ request: ScoringRequest) async throws -> Result {
        if request.modelExplainability {
            throw BadRequest("model_explainability is not available yet: explanations are not implemented in this version")
        }
        return try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Swift.Result { try self.scoreNow(request) }) }
        }
    }

    /// The same work without the queue, on the calling thread (benchmarks).
    public func scoreNow(_ request: ScoringRequest) throws -> Result {
        var errors = request.rowErrors
        var inputs: [FoveaTensor.Tensor] = []
        for (i, row) in request.rows.enumerated() {
            guard let bytes = row else { continue }
            do {
                inputs.append(handler.preprocess(try ImageDecoder.decode(bytes, maxPixels: maxPixels)))
            } catch let e as ImageError {
                errors[i] = "row \(i): \(e.description)"
            } catch {
                errors[i] = "row \(i): \(error)"
            }
        }
        var rows: [[String: Any]] = []
        if !inputs.isEmpty {
            let logits: FoveaTensor.Tensor
            do { logits = try handler.run(inputs) } catch { throw ModelFailure(description: "\(error)") }
            rows = handler.postprocess(logits).map { $0.json() }
        }
        let data = try JSONSerialization.data(withJSONObject: rows)
        return Result(json: data, rowErrors: errors)
    }
}

import FoveaTensor

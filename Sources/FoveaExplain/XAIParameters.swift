import Foundation
import FoveaModel

/// A bad explanation parameter: the request gets a 400 naming it.
public struct XAIParameterError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// AutoML's `xai_parameters` (reference/automl-reference.md §4.1) with Fovea's additions for reproducibility
/// (`seed`, `nt_samples`, `stdevs`) and GradCAM's layer (`gradcam_layer`).
public struct XAIParameters: Equatable, Sendable {
    public enum Algorithm: String, CaseIterable, Sendable {
        case xrai, integratedGradients = "integrated_gradients", guidedBackprop = "guided_backprop", guidedGradcam = "guided_gradcam"
    }
    public enum Approximation: String, CaseIterable, Sendable {
        case riemannLeft = "riemann_left", riemannRight = "riemann_right", riemannMiddle = "riemann_middle",
             riemannTrapezoid = "riemann_trapezoid", gaussLegendre = "gausslegendre"
    }
    public var algorithm = Algorithm.xrai
    public var visualizations = true
    public var attributions = false
    public var confidenceScoreThresholdMultilabel = 0.5
    public var nSteps = 50
    public var approximationMethod = Approximation.riemannMiddle
    public var xraiFast = true
    /// SmoothGrad around IG and guided backprop, as AutoML wraps them: noisy copies and their noise std in the
    /// normalised input space. 0 for either turns the noise off.
    public var ntSamples = 5
    public var stdevs = 0.2
    /// The noise's seed: the same seed gives the same attributions.
    public var seed: UInt64 = 0
    /// GradCAM's layer (an ONNX value name); default: the last 4-D activation before global pooling.
    public var gradcamLayer: String?

    public init() {}

    static let known: Set<String> = ["xai_algorithm", "visualizations", "attributions", "confidence_score_threshold_multilabel",
                                     "n_steps", "approximation_method", "xrai_fast", "nt_samples", "stdevs", "seed", "gradcam_layer"]

    public static func parse(_ p: [String: JSONValue]) throws -> XAIParameters {
        var x = XAIParameters()
        for k in p.keys where !known.contains(k) {
            throw XAIParameterError("xai_parameters: unknown parameter '\(k)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let v = p["xai_algorithm"] {
            guard case .string(let s) = v, let a = Algorithm(rawValue: s) else {
                throw XAIParameterError("xai_parameters.xai_algorithm: invalid explainability algorithm name \(v); use one of \(Algorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            x.algorithm = a
        }
        if let v = p["visualizations"] { x.visualizations = try bool(v, "visualizations", strict: true) }
        if let v = p["attributions"] { x.attributions = try bool(v, "attributions", strict: true) }
        if let v = p["xrai_fast"] { x.xraiFast = try bool(v, "xrai_fast", strict: false) }
        if let v = p["confidence_score_threshold_multilabel"] {
            guard case .number(let d) = v, (0...1).contains(d) else {
                throw XAIParameterError("xai_parameters.confidence_score_threshold_multilabel must be a number between 0 and 1, got \(v)")
            }
            x.confidenceScoreThresholdMultilabel = d
        }
        if let v = p["n_steps"] { x.nSteps = try int(v, "n_steps", 2...10_000) }
        if let v = p["nt_samples"] { x.ntSamples = try int(v, "nt_samples", 0...1000) }
        if let v = p["seed"] { x.seed = UInt64(try int(v, "seed", 0...Int(Int32.max))) }
        if let v = p["stdevs"] {
            guard case .number(let d) = v, d >= 0, d.isFinite else { throw XAIParameterError("xai_parameters.stdevs must be a number >= 0, got \(v)") }
            x.stdevs = d
        }
        if let v = p["approximation_method"] {
            guard case .string(let s) = v, let m = Approximation(rawValue: s) else {
                throw XAIParameterError("xai_parameters.approximation_method must be one of \(Approximation.allCases.map(\.rawValue).joined(separator: ", ")), got \(v)")
            }
            x.approximationMethod = m
        }
        if let v = p["gradcam_layer"] {
            guard case .string(let s) = v, !s.isEmpty else { throw XAIParameterError("xai_parameters.gradcam_layer must be a value name, got \(v)") }
            x.gradcamLayer = s
        }
        return x
    }

    static func bool(_ v: JSONValue, _ k: String, strict: Bool) throws -> Bool {
        if case .bool(let b) = v { return b }
        if !strict, case .string(let s) = v {
            if ["y", "yes", "t", "true", "on", "1"].contains(s.lowercased()) { return true }
            if ["n", "no", "f", "false", "off", "0"].contains(s.lowercased()) { return false }
        }
        throw XAIParameterError("xai_parameters.\(k) must be true or false, got \(v)")
    }

    static func int(_ v: JSONValue, _ k: String, _ r: ClosedRange<Int>) throws -> Int {
        guard case .number(let d) = v, d == d.rounded(), abs(d) < 1e15 else { throw XAIParameterError("xai_parameters.\(k) must be an integer, got \(v)") }
        guard r.contains(Int(d)) else {
            throw XAIParameterError("xai_parameters.\(k) must be \(r.upperBound >= 10_000 ? ">= \(r.lowerBound)" : "between \(r.lowerBound) and \(r.upperBound)"), got \(Int(d))")
        }
        return Int(d)
    }
}

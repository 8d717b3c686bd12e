import Foundation
import Yams

/// AutoML / Azure batch deployment settings (reference/automl-reference.md §7) with Azure's defaults. The same
/// settings come from command-line flags or a batch deployment YAML (`-f`); flags win.
public struct BatchSettings: Codable, Equatable, Sendable {
    public var miniBatchSize = 10
    public var instanceCount = 1
    /// nil: enough workers to use every core with each worker's engine threads.
    public var maxConcurrencyPerInstance: Int?
    public var outputAction = "append_row"
    public var outputFileName = "predictions.jsonl"
    public var errorThreshold = -1
    public var maxRetries = 3
    /// Seconds per mini-batch; nil: 30 for score jobs, 60 per image for explain jobs (an IG explanation with AutoML's
    /// defaults takes up to ~20 s on one core).
    public var timeout: Double?
    public var loggingLevel = "info"
    public var environmentVariables: [String: String] = [:]
    /// From the YAML: the model (`azureml:name:version` or `name:version`), names.
    public var model: String?
    public var name: String?
    public var endpointName: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case miniBatchSize = "mini_batch_size", instanceCount = "instance_count", maxConcurrencyPerInstance = "max_concurrency_per_instance",
             outputAction = "output_action", outputFileName = "output_file_name", errorThreshold = "error_threshold",
             maxRetries = "max_retries", timeout, loggingLevel = "logging_level", environmentVariables = "environment_variables",
             model, name, endpointName = "endpoint_name"
    }

    public func validate() throws {
        guard miniBatchSize >= 1 else { throw BatchError("mini_batch_size must be >= 1, got \(miniBatchSize)") }
        guard instanceCount >= 1 else { throw BatchError("instance_count must be >= 1, got \(instanceCount)") }
        if let m = maxConcurrencyPerInstance, m < 1 { throw BatchError("max_concurrency_per_instance must be >= 1, got \(m)") }
        guard ["append_row", "summary_only"].contains(outputAction) else {
            throw BatchError("output_action must be append_row or summary_only, got '\(outputAction)'")
        }
        guard !outputFileName.isEmpty, !outputFileName.contains("/"), !outputFileName.hasPrefix(".") else {
            throw BatchError("output_file_name must be a plain file name, got '\(outputFileName)'")
        }
        guard errorThreshold >= -1 else { throw BatchError("error_threshold must be -1 (unlimited) or >= 0, got \(errorThreshold)") }
        guard maxRetries >= 0 else { throw BatchError("retry_settings.max_retries must be >= 0, got \(maxRetries)") }
        if let t = timeout, !(t > 0) { throw BatchError("retry_settings.timeout must be > 0 seconds, got \(t)") }
        guard ["warning", "info", "debug"].contains(loggingLevel) else {
            throw BatchError("logging_level must be warning, info or debug, got '\(loggingLevel)'")
        }
    }

    static let topKeys: Set<String> = ["$schema", "name", "endpoint_name", "type", "model", "description", "tags", "compute",
                                       "environment", "code_configuration", "resources", "settings", "properties",
                                       // the older flat layout
                                       "mini_batch_size", "max_concurrency_per_instance", "output_action", "output_file_name",
                                       "error_threshold", "retry_settings", "logging_level", "environment_variables"]
    static let settingKeys: Set<String> = ["mini_batch_size", "max_concurrency_per_instance", "output_action", "output_file_name",
                                           "error_threshold", "retry_settings", "logging_level", "environment_variables"]

    /// Azure's batch deployment YAML: `settings:` (or the older flat layout), `resources.instance_count`, `model`.
    /// An unknown key is refused, naming it.
    public static func parse(yaml text: String, file: String) throws -> BatchSettings {
        let y: Any?
        do { y = try Yams.load(yaml: text) } catch { throw BatchError("\(file) is not valid YAML: \(error)") }
        guard let top = y as? [String: Any] else { throw BatchError("\(file) must be a YAML mapping") }
        for k in top.keys where !topKeys.contains(k) {
            throw BatchError("\(file): unknown key '\(k)' (known: \(topKeys.sorted().joined(separator: ", ")))")
        }
        var s = BatchSettings()
        func str(_ m: [String: Any], _ k: String, _ path: String) throws -> String? {
            guard let v = m[k], !(v is NSNull) else { return nil }
            if let x = v as? String { return x }
            if let x = v as? Int, !(v is Bool) { return String(x) }
            throw BatchError("\(file): '\(path)' must be a string, got \(v)")
        }
        func int(_ m: [String: Any], _ k: String, _ path: String) throws -> Int? {
            guard let v = m[k], !(v is NSNull) else { return nil }
            guard let i = v as? Int, !(v is Bool) else { throw BatchError("\(file): '\(path)' must be an integer, got \(v)") }
            return i
        }
        s.name = try str(top, "name", "name")
        s.endpointName = try str(top, "endpoint_name", "endpoint_name")
        if var m = try str(top, "model", "model") {
            if m.hasPrefix("azureml:") { m.removeFirst("azureml:".count) }
            s.model = m
        }
        if let t = try str(top, "type", "type"), t != "model" { throw BatchError("\(file): 'type' must be 'model', got '\(t)'") }
        if let r = top["resources"] {
            guard let rm = r as? [String: Any] else { throw BatchError("\(file): 'resources' must be a mapping") }
            for k in rm.keys where !["instance_count", "instance_type", "properties"].contains(k) {
                throw BatchError("\(file): unknown key 'resources.\(k)'")
            }
            if let i = try int(rm, "instance_count", "resources.instance_count") { s.instanceCount = i }
        }
        var settings = top.filter { settingKeys.contains($0.key) }
        if let sub = top["settings"] {
            guard let sm = sub as? [String: Any] else { throw BatchError("\(file): 'settings' must be a mapping") }
            for k in sm.keys where !settingKeys.contains(k) {
                throw BatchError("\(file): unknown key 'settings.\(k)' (known: \(settingKeys.sorted().joined(separator: ", ")))")
            }
            settings.merge(sm) { _, new in new }
        }
        let p = top["settings"] != nil ? "settings." : ""
        if let v = try int(settings, "mini_batch_size", p + "mini_batch_size") { s.miniBatchSize = v }
        if let v = try int(settings, "max_concurrency_per_instance", p + "max_concurrency_per_instance") { s.maxConcurrencyPerInstance = v }
        if let v = try str(settings, "output_action", p + "output_action") { s.outputAction = v }
        if let v = try str(settings, "output_file_name", p + "output_file_name") { s.outputFileName = v }
        if let v = try int(settings, "error_threshold", p + "error_threshold") { s.errorThreshold = v }
        if let v = try str(settings, "logging_level", p + "logging_level") { s.loggingLevel = v.lowercased() }
        if let e = settings["environment_variables"], !(e is NSNull) {
            guard let em = e as? [String: Any] else { throw BatchError("\(file): '\(p)environment_variables' must be a mapping") }
            s.environmentVariables = em.mapValues { "\($0)" }
        }
        if let r = settings["retry_settings"], !(r is NSNull) {
            guard let rm = r as? [String: Any] else { throw BatchError("\(file): '\(p)retry_settings' must be a mapping") }
            for k in rm.keys where !["max_retries", "timeout"].contains(k) { throw BatchError("\(file): unknown key '\(p)retry_settings.\(k)'") }
            if let v = try int(rm, "max_retries", p + "retry_settings.max_retries") { s.maxRetries = v }
            if let v = rm["timeout"], !(v is NSNull) {
                guard let d = (v as? Int).map(Double.init) ?? (v as? Double), !(v is Bool) else {
                    throw BatchError("\(file): '\(p)retry_settings.timeout' must be a number of seconds, got \(v)")
                }
                s.timeout = d
            }
        }
        do { try s.validate() } catch let e as BatchError { throw BatchError("\(file): \(e.description)") }
        return s
    }
}

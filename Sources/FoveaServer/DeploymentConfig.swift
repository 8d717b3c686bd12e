import Foundation

/// deployment.yml, as Azure's managed online deployments define it (reference/automl-reference.md §6.2),
/// with the service's defaults applied.
public struct DeploymentConfig: Equatable, Sendable {
    public struct RequestSettings: Equatable, Sendable {
        public var requestTimeoutMs = 5000
        public var maxConcurrentRequestsPerInstance = 1
        public var maxQueueWaitMs = 500
        public init() {}
    }
    public struct Probe: Equatable, Sendable {
        public var initialDelay = 10, period = 10, timeout = 2, successThreshold = 1, failureThreshold = 30
        public init() {}
    }
    public var name: String
    public var endpointName: String
    /// "name:version" in the registry ("azureml:" prefix accepted).
    public var model: String
    public var instanceCount: Int
    public var instanceType: String?
    public var requestSettings = RequestSettings()
    public var livenessProbe = Probe()
    public var readinessProbe = Probe()
    public var environmentVariables: [String: String] = [:]
    public var description: String?
    public var warnings: [String] = []

    static let known: Set<String> = ["$schema", "name", "endpoint_name", "description", "tags", "model", "instance_count",
                                     "instance_type", "request_settings", "liveness_probe", "readiness_probe",
                                     "environment_variables", "app_insights_enabled", "scale_settings", "environment",
                                     "code_configuration", "egress_public_network_access", "data_collector", "model_mount_path"]

    public static func parse(yaml text: String, file: String = "deployment.yml") throws -> DeploymentConfig {
        let f = try YAMLFields(text, file: file)
        let name = try f.requiredString("name")
        try EndpointConfig.checkName(name, what: "deployment", file: file)
        let endpoint = try f.requiredString("endpoint_name")
        guard var model = try f.string("model") else {
            throw ConfigError("\(file): 'model' is required (a registered model as name:version, e.g. mobilenetv2-imagenet:1)")
        }
        if model.hasPrefix("azureml:") { model.removeFirst("azureml:".count) }
        guard !model.isEmpty, !model.contains("/") else {
            throw ConfigError("\(file): 'model' must name a registered model as name:version, got '\(model)'")
        }
        var c = DeploymentConfig(name: name, endpointName: endpoint, model: model,
                                 instanceCount: try f.int("instance_count", default: 1, range: 1...64))
        c.instanceType = try f.string("instance_type")
        c.description = try f.string("description")
        c.environmentVariables = try f.stringMap("environment_variables")
        if let r = try f.sub("request_settings") {
            c.requestSettings.requestTimeoutMs = try r.int("request_timeout_ms", default: 5000, range: 1...180_000)
            c.requestSettings.maxConcurrentRequestsPerInstance = try r.int("max_concurrent_requests_per_instance", default: 1, range: 1...1000)
            c.requestSettings.maxQueueWaitMs = try r.int("max_queue_wait_ms", default: 500, range: 0...180_000)
            c.warnings += r.unknownKeys(["request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms"])
        }
        c.livenessProbe = try probe(f, "liveness_probe", liveness: true, warnings: &c.warnings)
        c.readinessProbe = try probe(f, "readiness_probe", liveness: false, warnings: &c.warnings)
        c.warnings += f.unknownKeys(known)
        return c
    }

    static func probe(_ f: YAMLFields, _ key: String, liveness: Bool, warnings: inout [String]) throws -> Probe {
        var p = Probe()
        guard let s = try f.sub(key) else { return p }
        p.initialDelay = try s.int("initial_delay", default: 10, range: 0...3600)
        p.period = try s.int("period", default: 10, range: 1...3600)
        p.timeout = try s.int("timeout", default: 2, range: 1...3600)
        p.successThreshold = try s.int("success_threshold", default: 1, range: 1...100)
        p.failureThreshold = try s.int("failure_threshold", default: 30, range: 1...1000)
        if liveness && p.successThreshold != 1 {
            throw ConfigError("\(f.file): liveness_probe.success_threshold is fixed at 1, got \(p.successThreshold)")
        }
        warnings += s.unknownKeys(["initial_delay", "period", "timeout", "success_threshold", "failure_threshold"])
        return p
    }
}

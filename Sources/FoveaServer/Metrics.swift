import Foundation
import Prometheus

/// The endpoint's Prometheus metrics (`GET /metrics`), snake_case with base units, labels of low cardinality.
/// Each metric object is made once per label set and kept: the registry's lookup (name validation, label
/// sorting) cost ~15 µs a call, several calls per request.
public final class ServerMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10000].map { .milliseconds($0) }
    private let lock = NSLock()
    private var counters: [[String]: Counter] = [:]
    private var gauges: [[String]: Gauge] = [:]
    private var histograms: [[String]: DurationHistogram] = [:]

    public init() {}

    private func counter(_ key: [String], _ make: () -> Counter) -> Counter {
        lock.withLock { if let c = counters[key] { return c }; let c = make(); counters[key] = c; return c }
    }
    private func gauge(_ key: [String], _ make: () -> Gauge) -> Gauge {
        lock.withLock { if let g = gauges[key] { return g }; let g = make(); gauges[key] = g; return g }
    }
    private func histogram(_ key: [String], _ make: () -> DurationHistogram) -> DurationHistogram {
        lock.withLock { if let h = histograms[key] { return h }; let h = make(); histograms[key] = h; return h }
    }

    func d(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fovea", metricName: name, unitName: unit, helpText: help)
    }

    public func request(endpoint: String, deployment: String, status: Int, seconds: Double) {
        counter(["requests", endpoint, deployment, String(status)]) {
            registry.makeCounter(descriptor: d("requests", "total", "Scoring requests by endpoint, deployment and status code."),
                                 labels: [("endpoint", endpoint), ("deployment", deployment), ("code", String(status))])
        }.increment()
        histogram(["request_duration", endpoint, deployment]) {
            registry.makeDurationHistogram(descriptor: d("request_duration", "seconds", "Scoring latency as the client sees it."),
                                           labels: [("endpoint", endpoint), ("deployment", deployment)],
                                           buckets: ServerMetrics.latencyBuckets)
        }.record(.nanoseconds(Int64(seconds * 1e9)))
    }

    public func mirrored(endpoint: String, deployment: String, status: Int) {
        registry.makeCounter(descriptor: d("mirror_requests", "total", "Mirrored copies sent, by status (answers discarded)."),
                             labels: [("endpoint", endpoint), ("deployment", deployment), ("code", String(status))]).increment()
    }

    public func inFlight(endpoint: String, deployment: String, _ v: Int) {
        gauge(["inflight_requests", endpoint, deployment]) {
            registry.makeGauge(descriptor: d("inflight_requests", "", "Requests admitted to a deployment and not yet answered."),
                               labels: [("endpoint", endpoint), ("deployment", deployment)])
        }.set(to: Double(v))
    }

    public func queued(endpoint: String, deployment: String, _ v: Int) {
        gauge(["queued_requests", endpoint, deployment]) {
            registry.makeGauge(descriptor: d("queued_requests", "", "Requests waiting for a free instance slot."),
                               labels: [("endpoint", endpoint), ("deployment", deployment)])
        }.set(to: Double(v))
    }

    public func readyInstances(endpoint: String, deployment: String, _ v: Int) {
        registry.makeGauge(descriptor: d("ready_instances", "", "Instances that pass readiness and take traffic."),
                           labels: [("endpoint", endpoint), ("deployment", deployment)]).set(to: Double(v))
    }

    public func restart(endpoint: String, deployment: String, reason: String) {
        registry.makeCounter(descriptor: d("instance_restarts", "total", "Instances restarted after dying or failing liveness."),
                             labels: [("endpoint", endpoint), ("deployment", deployment), ("reason", reason)]).increment()
    }

    public func probeFailure(endpoint: String, deployment: String, probe: String) {
        registry.makeCounter(descriptor: d("probe_failures", "total", "Failed liveness and readiness probes."),
                             labels: [("endpoint", endpoint), ("deployment", deployment), ("probe", probe)]).increment()
    }

    public func text() -> String { registry.emitToString() }
}

import Foundation

/// One endpoint as the state directory keeps it: its rules, its keys and its deployments (their YAML text).
public struct PersistedEndpoint: Codable, Equatable, Sendable {
    public var name: String
    public var description: String?
    public var authMode: String
    public var traffic: [String: Int]
    public var mirrorTraffic: [String: Int]
    public var keys: EndpointKeys
    /// The secret that signs aml_token tokens (random per endpoint).
    public var tokenSecret: String
    public var deployments: [String: String]

    public init(config c: EndpointConfig) {
        name = c.name
        description = c.description
        authMode = c.authMode.rawValue
        traffic = c.traffic
        mirrorTraffic = c.mirrorTraffic
        keys = .generate()
        tokenSecret = EndpointKeys.randomKey()
        deployments = [:]
    }
}

/// Everything a server hosts, as written to `<state-dir>/state.json` (mode 0600: it holds keys).
public struct PersistedState: Codable, Equatable, Sendable {
    public var endpoints: [String: PersistedEndpoint] = [:]
    public init() {}

    // MARK: operations (validated; the server applies them live, the CLI offline)

    public mutating func createEndpoint(_ c: EndpointConfig) throws {
        guard endpoints[c.name] == nil else { throw ConfigError("endpoint '\(c.name)' already exists") }
        guard c.traffic.values.allSatisfy({ $0 == 0 }) && c.mirrorTraffic.isEmpty else {
            throw ConfigError("endpoint '\(c.name)': traffic cannot be set when the endpoint is created (it has no deployments yet); create deployments, then `fovea endpoint update --traffic`")
        }
        endpoints[c.name] = PersistedEndpoint(config: c)
    }

    public func endpoint(_ name: String) throws -> PersistedEndpoint {
        guard let e = endpoints[name] else {
            throw ConfigError("endpoint '\(name)' does not exist (endpoints: \(endpoints.keys.sorted().joined(separator: ", ")))")
        }
        return e
    }

    public mutating func updateEndpoint(_ name: String, traffic: [String: Int]?, mirror: [String: Int]?, description: String? = nil) throws {
        var e = try endpoint(name)
        let t = traffic ?? e.traffic, m = mirror ?? e.mirrorTraffic
        try EndpointConfig.validate(traffic: t, mirror: m, deployments: Set(e.deployments.keys))
        e.traffic = t
        e.mirrorTraffic = m.filter { $0.value > 0 }
        if let description { e.description = description }
        endpoints[name] = e
    }

    public mutating func deleteEndpoint(_ name: String) throws {
        _ = try endpoint(name)
        endpoints[name] = nil
    }

    public mutating func regenerateKey(_ name: String, keyType: String) throws -> EndpointKeys {
        var e = try endpoint(name)
        switch keyType.lowercased() {
        case "primary": e.keys.primaryKey = EndpointKeys.randomKey()
        case "secondary": e.keys.secondaryKey = EndpointKeys.randomKey()
        default: throw ConfigError("--key-type must be primary or secondary, got '\(keyType)'")
        }
        endpoints[name] = e
        return e.keys
    }

    /// Adds (or with `update`, replaces) a deployment; its endpoint is `endpoint_name` in the YAML.
    public mutating func putDeployment(yaml: String, update: Bool) throws -> DeploymentConfig {
        let c = try DeploymentConfig.parse(yaml: yaml)
        var e = try endpoint(c.endpointName)
        let exists = e.deployments[c.name] != nil
        if update && !exists { throw ConfigError("deployment '\(c.name)' does not exist in endpoint '\(e.name)'; use deployment create") }
        if !update && exists { throw ConfigError("deployment '\(c.name)' already exists in endpoint '\(e.name)'; use deployment update") }
        e.deployments[c.name] = yaml
        endpoints[e.name] = e
        return c
    }

    public mutating func deleteDeployment(endpoint name: String, deployment d: String) throws {
        var e = try endpoint(name)
        guard e.deployments[d] != nil else { throw ConfigError("deployment '\(d)' does not exist in endpoint '\(name)'") }
        if (e.traffic[d] ?? 0) > 0 {
            throw ConfigError("deployment '\(d)' gets \(e.traffic[d]!)% of the traffic; move it elsewhere with `fovea endpoint update --traffic` first")
        }
        e.deployments[d] = nil
        e.traffic[d] = nil
        e.mirrorTraffic[d] = nil
        endpoints[name] = e
    }
}

/// Reads and writes the state directory: `state.json` (0600), `admin-token` (0600), `server.json`, `logs/`.
public struct StateStore: Sendable {
    public let directory: URL
    public init(directory: URL) { self.directory = directory }

    public var stateFile: URL { directory.appendingPathComponent("state.json") }
    public var serverFile: URL { directory.appendingPathComponent("server.json") }
    public var adminTokenFile: URL { directory.appendingPathComponent("admin-token") }
    public var logDirectory: URL { directory.appendingPathComponent("logs") }

    public func load() throws -> PersistedState {
        guard let d = try? Data(contentsOf: stateFile) else { return PersistedState() }
        do { return try JSONDecoder().decode(PersistedState.self, from: d) } catch {
            throw ConfigError("\(stateFile.path) is not a Fovea state file: \(error)")
        }
    }

    public func save(_ s: PersistedState) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(s), to: stateFile, mode: 0o600)
    }

    /// The admin token of the management API, made on first use.
    public func adminToken(create: Bool) throws -> String? {
        if let t = try? String(contentsOf: adminTokenFile, encoding: .utf8) { return t.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard create else { return nil }
        let t = EndpointKeys.randomKey()
        try AtomicFile.write(Data(t.utf8), to: adminTokenFile, mode: 0o600)
        return t
    }

    /// Where a running server listens, if one does (its pid is alive).
    public struct ServerInfo: Codable, Sendable {
        public var pid: Int32
        public var host: String
        public var port: Int
        public var managementPort: Int
    }

    public func runningServer() -> ServerInfo? {
        guard let d = try? Data(contentsOf: serverFile), let info = try? JSONDecoder().decode(ServerInfo.self, from: d) else { return nil }
        guard kill(info.pid, 0) == 0 else { return nil }
        return info
    }
}

/// `auth_mode: aml_token`: `base64url(payload).base64url(HMAC-SHA256(secret, payload))`, payload
/// `{"endpoint": ..., "exp": <unix seconds>}`.
public enum AMLToken {
    public static let lifetime: TimeInterval = 3600

    public static func issue(endpoint: String, secret: String, now: Date = Date()) -> (token: String, expiry: Date) {
        let exp = Int(now.timeIntervalSince1970 + lifetime)
        let payload = Data("{\"endpoint\":\"\(endpoint)\",\"exp\":\(exp)}".utf8)
        let sig = HMACSHA256.mac(key: Array(secret.utf8), message: Array(payload))
        return (b64url(payload) + "." + b64url(Data(sig)), Date(timeIntervalSince1970: TimeInterval(exp)))
    }

    public static func verify(_ token: String, endpoint: String, secret: String, now: Date = Date()) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = unb64url(String(parts[0])) else { return false }
        let expected = b64url(Data(HMACSHA256.mac(key: Array(secret.utf8), message: Array(payload))))
        guard constantTimeEquals(String(parts[1]), expected) else { return false }
        guard let o = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
              o["endpoint"] as? String == endpoint, let exp = o["exp"] as? Int else { return false }
        return Double(exp) > now.timeIntervalSince1970
    }

    static func b64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    static func unb64url(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}

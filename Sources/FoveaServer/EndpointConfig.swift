import Foundation
import Yams

/// A configuration error naming the file and the field.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// endpoint.yml, as Azure's managed online endpoints define it (reference/automl-reference.md §6.1).
public struct EndpointConfig: Equatable, Sendable {
    public enum AuthMode: String, Sendable { case key, amlToken = "aml_token" }
    public var name: String
    public var description: String?
    public var tags: [String: String]
    public var authMode: AuthMode
    public var traffic: [String: Int]
    public var mirrorTraffic: [String: Int]
    public var warnings: [String] = []

    public init(name: String, authMode: AuthMode = .key, traffic: [String: Int] = [:], mirrorTraffic: [String: Int] = [:],
                description: String? = nil, tags: [String: String] = [:]) {
        self.name = name
        self.authMode = authMode
        self.traffic = traffic
        self.mirrorTraffic = mirrorTraffic
        self.description = description
        self.tags = tags
    }

    static let known: Set<String> = ["$schema", "name", "description", "tags", "auth_mode", "traffic", "mirror_traffic",
                                     "public_network_access", "identity", "kind", "location"]

    public static func parse(yaml text: String, file: String = "endpoint.yml") throws -> EndpointConfig {
        let root = try YAMLFields(text, file: file)
        let name = try root.requiredString("name")
        try checkName(name, what: "endpoint", file: file)
        var c = EndpointConfig(name: name)
        c.description = try root.string("description")
        c.tags = try root.stringMap("tags")
        if let m = try root.string("auth_mode") {
            switch m.lowercased() {
            case "key": c.authMode = .key
            case "aml_token", "amltoken": c.authMode = .amlToken
            case "aad_token":
                throw ConfigError("\(file): auth_mode 'aad_token' needs Microsoft Entra ID, which Fovea does not have; use key or aml_token")
            default: throw ConfigError("\(file): auth_mode must be key or aml_token, got '\(m)'")
            }
        }
        c.traffic = try root.intMap("traffic")
        c.mirrorTraffic = try root.intMap("mirror_traffic")
        c.warnings = root.unknownKeys(known)
        return c
    }

    /// Azure's endpoint name rule: a letter first, then letters, digits and '-', not ending in '-', 3 to 32 long.
    public static func checkName(_ name: String, what: String, file: String) throws {
        let ok = (3...32).contains(name.count) && name.first!.isASCII && name.first!.isLetter
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } && name.last != "-"
        guard ok else {
            throw ConfigError("\(file): \(what) name '\(name)' must be 3-32 characters, start with a letter, and use only letters, digits and '-' (not at the end)")
        }
    }

    /// The rules Azure applies to traffic and mirror traffic, against the deployments that exist.
    public static func validate(traffic: [String: Int], mirror: [String: Int], deployments: Set<String>) throws {
        for (d, v) in traffic {
            guard deployments.contains(d) else { throw ConfigError("traffic names deployment '\(d)', which does not exist (deployments: \(deployments.sorted().joined(separator: ", ")))") }
            guard (0...100).contains(v) else { throw ConfigError("traffic for '\(d)' must be between 0 and 100, got \(v)") }
        }
        let sum = traffic.values.reduce(0, +)
        guard sum == 0 || sum == 100 else { throw ConfigError("traffic must add up to 0 or 100, got \(sum)") }
        guard mirror.count <= 1 else { throw ConfigError("mirror_traffic may name one deployment, got \(mirror.count)") }
        if let (d, v) = mirror.first {
            guard deployments.contains(d) else { throw ConfigError("mirror_traffic names deployment '\(d)', which does not exist") }
            guard (0...50).contains(v) else { throw ConfigError("mirror_traffic for '\(d)' must be between 0 and 50, got \(v)") }
            guard (traffic[d] ?? 0) == 0 || v == 0 else {
                throw ConfigError("deployment '\(d)' gets live traffic (\(traffic[d]!)%); it cannot also be the mirror")
            }
        }
    }

    /// Parses the CLI's `"blue=90 green=10"` (spaces or commas between pairs).
    public static func parseAssignments(_ s: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for part in s.split(whereSeparator: { $0 == " " || $0 == "," }) where !part.isEmpty {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty, let v = Int(kv[1]) else {
                throw ConfigError("'\(part)' is not NAME=PERCENT (for example \"blue=90 green=10\")")
            }
            guard out[kv[0]] == nil else { throw ConfigError("deployment '\(kv[0])' is given twice") }
            out[kv[0]] = v
        }
        return out
    }
}

/// Typed access to a YAML mapping that names the file and key in every error.
struct YAMLFields {
    let map: [String: Any]
    let file: String
    init(_ text: String, file: String) throws {
        let y: Any?
        do { y = try Yams.load(yaml: text) } catch { throw ConfigError("\(file) is not valid YAML: \(error)") }
        guard let m = y as? [String: Any] else { throw ConfigError("\(file) must be a YAML mapping") }
        map = m
        self.file = file
    }
    init(map: [String: Any], file: String) { self.map = map; self.file = file }

    func requiredString(_ k: String) throws -> String {
        guard let v = try string(k) else { throw ConfigError("\(file): '\(k)' is required") }
        return v
    }
    func string(_ k: String) throws -> String? {
        guard let v = map[k], !(v is NSNull) else { return nil }
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        throw ConfigError("\(file): '\(k)' must be a string")
    }
    func int(_ k: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let v = map[k], !(v is NSNull) else { return d }
        guard let i = v as? Int, !(v is Bool) else { throw ConfigError("\(file): '\(k)' must be an integer, got \(v)") }
        guard range.contains(i) else { throw ConfigError("\(file): '\(k)' must be between \(range.lowerBound) and \(range.upperBound), got \(i)") }
        return i
    }
    func intMap(_ k: String) throws -> [String: Int] {
        guard let v = map[k], !(v is NSNull) else { return [:] }
        guard let m = v as? [String: Any] else { throw ConfigError("\(file): '\(k)' must map deployment names to integers") }
        var out: [String: Int] = [:]
        for (name, x) in m {
            guard let i = x as? Int, !(x is Bool) else { throw ConfigError("\(file): '\(k).\(name)' must be an integer, got \(x)") }
            out[name] = i
        }
        return out
    }
    func stringMap(_ k: String) throws -> [String: String] {
        guard let v = map[k], !(v is NSNull) else { return [:] }
        guard let m = v as? [String: Any] else { throw ConfigError("\(file): '\(k)' must be a mapping") }
        return m.mapValues { "\($0)" }
    }
    func sub(_ k: String) throws -> YAMLFields? {
        guard let v = map[k], !(v is NSNull) else { return nil }
        guard let m = v as? [String: Any] else { throw ConfigError("\(file): '\(k)' must be a mapping") }
        return YAMLFields(map: m, file: "\(file): \(k)")
    }
    func unknownKeys(_ known: Set<String>) -> [String] {
        map.keys.filter { !known.contains($0) }.sorted().map { "\(file): unknown key '\($0)' ignored" }
    }
}

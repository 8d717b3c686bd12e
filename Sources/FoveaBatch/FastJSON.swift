import Foundation
import FoveaServer

/// Writes the JSON of batch lines byte for byte as `JSONSerialization` (sorted keys, `.withoutEscapingSlashes`)
/// writes them — 1000 probabilities and 1000 labels per line cost ~7 ms there on Linux, ~0.3 ms here. Numbers are
/// Swift's shortest round-trip form without a trailing ".0"; strings escape `"`, `\` and control characters.
public enum FastJSON {
    public enum Value {
        case string(String), number(Double), int(Int), strings([String]), numbers([Double]), ints([Int]), null, raw(String)
        case list([Value])
    }

    public static func number(_ d: Double, into out: inout String) {
        let s = d.description
        out += s.hasSuffix(".0") ? String(s.dropLast(2)) : s
    }

    public static func string(_ s: String, into out: inout String) { JSONLog.quote(s, into: &out) }

    static func value(_ v: Value, into out: inout String) {
        switch v {
        case .string(let s): string(s, into: &out)
        case .number(let d): number(d, into: &out)
        case .int(let i): out += String(i)
        case .null: out += "null"
        case .raw(let r): out += r
        case .strings(let a):
            out += "["
            for (k, s) in a.enumerated() { if k > 0 { out += "," }; string(s, into: &out) }
            out += "]"
        case .numbers(let a):
            out += "["
            for (k, d) in a.enumerated() { if k > 0 { out += "," }; number(d, into: &out) }
            out += "]"
        case .ints(let a): out += "[" + a.map(String.init).joined(separator: ",") + "]"
        case .list(let a):
            out += "["
            for (k, x) in a.enumerated() { if k > 0 { out += "," }; value(x, into: &out) }
            out += "]"
        }
    }

    /// An object with its keys sorted as JSONSerialization sorts them (by UTF-16 code units, i.e. plain ASCII order here).
    public static func object(_ fields: [(String, Value)]) -> String {
        var out = "{"
        out.reserveCapacity(32 * 1024)
        for (k, (key, v)) in fields.sorted(by: { $0.0 < $1.0 }).enumerated() {
            if k > 0 { out += "," }
            string(key, into: &out)
            out += ":"
            value(v, into: &out)
        }
        out += "}"
        return out
    }
}

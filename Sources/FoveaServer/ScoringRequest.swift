import Foundation
import FoveaModel

/// A client error in a scoring request: answered with 400 and this message.
public struct BadRequest: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// One scoring request in AutoML's schemas (reference/automl-reference.md §2):
/// - `{"input_data": {"columns": ["image"], "data": ["<base64>", ...]}}` (MLflow no-code deployments);
/// - rows that are JSON strings `{"image_base64": ..., "model_explainability": ..., "xai_parameters": {...}}`,
///   the flags read from row 0 only, as AutoML's wrapper does;
/// - the legacy score script's `{"image": "<base64>", "model_explainability": ..., "xai_parameters": ...}`;
/// - a raw image body (`Content-Type: image/*` or `application/octet-stream`).
public struct ScoringRequest: Equatable {
    /// Image bytes per row; nil where the row's base64 could not be decoded (the row is dropped, as AutoML drops
    /// unreadable images).
    public var rows: [Data?]
    public var rowErrors: [Int: String] = [:]
    public var modelExplainability = false
    public var xaiParameters: [String: JSONValue] = [:]

    public init(rows: [Data?]) { self.rows = rows }

    public static func parse(body: Data, contentType: String?) throws -> ScoringRequest {
        let type = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type.hasPrefix("image/") || type == "application/octet-stream" {
            guard !body.isEmpty else { throw BadRequest("the request body is empty; send an image or AutoML's JSON") }
            return ScoringRequest(rows: [body])
        }
        guard !body.isEmpty else { throw BadRequest("the request body is empty; send {\"input_data\": {\"columns\": [\"image\"], \"data\": [\"<base64 image>\"]}}") }
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch {
            throw BadRequest("the body is not valid JSON (send Content-Type: image/jpeg for a raw image)")
        }
        guard case .object(let root) = json else { throw BadRequest("the body must be a JSON object with 'input_data'") }
        if let input = root["input_data"] { return try parseInputData(input) }
        if case .string(let b64)? = root["image"] {  // the legacy scoring script's body
            var r = ScoringRequest(rows: [decodeBase64(b64)])
            if r.rows[0] == nil { r.rowErrors[0] = "row 0 is not valid base64" }
            r.modelExplainability = try flag(root["model_explainability"])
            r.xaiParameters = try xai(root["xai_parameters"])
            return r
        }
        throw BadRequest("the body has no 'input_data'; expected {\"input_data\": {\"columns\": [\"image\"], \"data\": [\"<base64 image>\"]}}")
    }

    static func parseInputData(_ input: JSONValue) throws -> ScoringRequest {
        guard case .object(let o) = input else { throw BadRequest("'input_data' must be an object with 'columns' and 'data'") }
        if let cols = o["columns"] {
            guard case .array(let c) = cols, c == [.string("image")] else {
                throw BadRequest("'input_data.columns' must be [\"image\"], got \(cols)")
            }
        }
        guard case .array(let data)? = o["data"] else { throw BadRequest("'input_data.data' must be a list of base64 images") }
        guard !data.isEmpty else { throw BadRequest("'input_data.data' is empty") }
        // pandas "split" rows may be one-element lists: [["<b64>"], ...]
        var strings: [String] = []
        for (i, v) in data.enumerated() {
            switch v {
            case .string(let s): strings.append(s)
            case .array(let a) where a.count == 1: if case .string(let s) = a[0] { strings.append(s) } else { fallthrough }
            default: throw BadRequest("'input_data.data[\(i)]' must be a base64 string, got \(v)")
            }
        }
        var r = ScoringRequest(rows: [])
        // Row 0 decides: a JSON object string means every row is {"image_base64": ...}.
        if let first = strings.first, first.first == "{", case .object(let row0)? = try? JSONValue.parse(Data(first.utf8)) {
            r.modelExplainability = try flag(row0["model_explainability"])
            r.xaiParameters = try xai(row0["xai_parameters"])
            for (i, s) in strings.enumerated() {
                guard case .object(let row)? = try? JSONValue.parse(Data(s.utf8)) else {
                    throw BadRequest("'input_data.data[\(i)]' is not a JSON object like row 0")
                }
                guard case .string(let b64)? = row["image_base64"] else {
                    throw BadRequest("'input_data.data[\(i)]' has no 'image_base64' string")
                }
                r.append(b64, row: i)
            }
        } else {
            for (i, s) in strings.enumerated() { r.append(s, row: i) }
        }
        return r
    }

    mutating func append(_ b64: String, row: Int) {
        let d = ScoringRequest.decodeBase64(b64)
        if d == nil { rowErrors[row] = "row \(row) is not valid base64" }
        rows.append(d)
    }

    /// Python's strtobool, which AutoML applies to `str(model_explainability)`.
    static func flag(_ v: JSONValue?) throws -> Bool {
        guard let v else { return false }
        let s: String
        switch v {
        case .null: return false
        case .bool(let b): return b
        case .number(let n): s = n == 0 ? "0" : n == 1 ? "1" : String(n)
        case .string(let x): s = x.lowercased()
        default: throw BadRequest("'model_explainability' must be true or false, got \(v)")
        }
        if ["y", "yes", "t", "true", "on", "1"].contains(s) { return true }
        if ["n", "no", "f", "false", "off", "0"].contains(s) { return false }
        throw BadRequest("'model_explainability' must be true or false, got \(v)")
    }

    static func xai(_ v: JSONValue?) throws -> [String: JSONValue] {
        switch v {
        case nil, .null?: return [:]
        case .object(let o)?: return o
        case .string(let s)?:  // AutoML accepts the parameters as a JSON string too
            if case .object(let o)? = try? JSONValue.parse(Data(s.utf8)) { return o }
            fallthrough
        default: throw BadRequest("'xai_parameters' must be an object, got \(v!)")
        }
    }

    /// Non-strict base64 as Python's `b64decode` (validate=False): characters outside the alphabet, such as the
    /// newlines `encodebytes` inserts, are skipped; missing padding is an error.
    public static func decodeBase64(_ s: String) -> Data? {
        var clean = [UInt8]()
        clean.reserveCapacity(s.utf8.count)
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="): clean.append(c)
            default: continue
            }
        }
        guard !clean.isEmpty else { return nil }
        return Data(base64Encoded: Data(clean))
    }
}

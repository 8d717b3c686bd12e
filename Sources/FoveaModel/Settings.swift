import Foundation

/// artifacts/settings.json: AutoML's keys with their defaults per task, typed and range-checked.
/// Unknown keys are kept and reported as warnings; a bad value is an error naming the key.
/// Fovea extension: `image_mean` / `image_std` (3 floats each) replace ImageNet's normalisation.
public struct Settings: Sendable, Equatable {
    public var values: [String: SettingValue]
    public var warnings: [String]

    public enum SettingValue: Sendable, Equatable {
        case int(Int), double(Double), bool(Bool), string(String), list([Double]), null
    }

    enum Kind { case positiveInt, unitInterval, bool, string([String]), gridOrNull, floats3, positiveFloats3, intAtLeast(Int) }

    static let schema: [String: Kind] = [
        "valid_resize_size": .positiveInt, "valid_crop_size": .positiveInt, "train_crop_size": .positiveInt,
        "image_mean": .floats3, "image_std": .positiveFloats3,
        "min_size": .positiveInt, "max_size": .positiveInt, "box_score_thresh": .unitInterval, "nms_iou_thresh": .unitInterval,
        "box_detections_per_img": .positiveInt, "tile_grid_size": .gridOrNull, "tile_overlap_ratio": .unitInterval,
        "tile_predictions_nms_thresh": .unitInterval, "mask_pixel_score_threshold": .unitInterval,
        "max_number_of_polygon_points": .intAtLeast(3), "export_as_image": .bool,
        "image_type": .string(["JPG", "PNG", "BMP"]), "img_size": .positiveInt,
        "model_size": .string(["small", "medium", "large", "xlarge", "extra_large"]),
    ]

    /// AutoML's defaults (reference/automl-reference.md §1.3).
    public static func defaults(for task: TaskKind, yolo: Bool = false) -> [String: SettingValue] {
        switch task {
        case .multiclass, .multilabel:
            return ["valid_resize_size": .int(256), "valid_crop_size": .int(224), "train_crop_size": .int(224)]
        case .objectDetection, .instanceSegmentation:
            var d: [String: SettingValue] = ["box_score_thresh": .double(yolo ? 0.1 : 0.3), "nms_iou_thresh": .double(0.5),
                                             "tile_grid_size": .null, "tile_overlap_ratio": .double(0.25),
                                             "tile_predictions_nms_thresh": .double(0.25)]
            if yolo { d["img_size"] = .int(640); d["model_size"] = .string("medium") } else {
                d["min_size"] = .int(600); d["max_size"] = .int(1333); d["box_detections_per_img"] = .int(100)
            }
            if task == .instanceSegmentation {
                d["mask_pixel_score_threshold"] = .double(0.5); d["max_number_of_polygon_points"] = .int(100)
                d["export_as_image"] = .bool(false); d["image_type"] = .string("JPG")
            }
            return d
        }
    }

    public init(task: TaskKind, json: Data?, yolo: Bool = false) throws {
        values = Settings.defaults(for: task, yolo: yolo)
        warnings = []
        guard let json else { return }
        let obj: JSONValue
        do { obj = try JSONValue.parse(json) } catch {
            throw ModelError.invalid("settings.json is not valid JSON: \(error)")
        }
        guard case .object(let dict) = obj else { throw ModelError.invalid("settings.json must be a JSON object") }
        for key in dict.keys.sorted() {
            let v = dict[key]!
            guard let kind = Settings.schema[key] else {
                warnings.append("settings.json: unknown key '\(key)' ignored")
                continue
            }
            values[key] = try Settings.check(key, v, kind)
        }
        if let o = double("tile_overlap_ratio"), o >= 1 {
            throw ModelError.invalid("settings.json: 'tile_overlap_ratio' must be >= 0 and < 1, got \(o)")
        }
        if case .int(let r)? = values["valid_resize_size"], case .int(let c)? = values["valid_crop_size"], c > r {
            warnings.append("settings.json: valid_crop_size \(c) is larger than valid_resize_size \(r); the crop will be padded with black")
        }
    }

    static func check(_ key: String, _ v: JSONValue, _ kind: Kind) throws -> SettingValue {
        func bad(_ why: String) -> ModelError { .invalid("settings.json: '\(key)' \(why), got \(v)") }
        func number(_ v: JSONValue) -> Double? { if case .number(let d) = v { return d }; return nil }
        switch kind {
        case .positiveInt, .intAtLeast:
            let lo: Int
            if case .intAtLeast(let m) = kind { lo = m } else { lo = 1 }
            guard let d = number(v), d == d.rounded(), d >= Double(lo), d < 1e6 else { throw bad("must be an integer >= \(lo)") }
            return .int(Int(d))
        case .unitInterval:
            guard let d = number(v), d >= 0, d <= 1 else { throw bad("must be a number between 0 and 1") }
            return .double(d)
        case .bool:
            if case .bool(let b) = v { return .bool(b) }
            if case .string(let s) = v, ["true", "false"].contains(s.lowercased()) { return .bool(s.lowercased() == "true") }
            throw bad("must be true or false")
        case .string(let allowed):
            guard case .string(let s) = v, allowed.contains(s) else { throw bad("must be one of \(allowed.joined(separator: ", "))") }
            return .string(s)
        case .gridOrNull:
            if v == .null { return .null }
            var cr: [Double]? = nil
            if case .array(let a) = v, a.count == 2, let c = number(a[0]), let r = number(a[1]) { cr = [c, r] }
            if case .string(let str) = v {
                // AutoML's parse_tile_grid_size_str: "3x2" or "(3, 2)"
                let parts = str.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(whereSeparator: { $0 == "x" || $0 == "," })
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, let c = Int(parts[0]), let r = Int(parts[1]) { cr = [Double(c), Double(r)] }
            }
            guard let g = cr, g[0] >= 1, g[1] >= 1, g[0] == g[0].rounded(), g[1] == g[1].rounded(), g[0] <= 64, g[1] <= 64 else {
                throw bad("must be null, [columns, rows] or \"CxR\" with positive integers up to 64 (such as \"3x2\")")
            }
            guard g[0] > 1 || g[1] > 1 else { throw bad("must split the image: at least one of columns and rows greater than 1") }
            return .list(g)
        case .floats3, .positiveFloats3:
            guard case .array(let a) = v, a.count == 3 else { throw bad("must be a list of 3 numbers") }
            let d = try a.map { x -> Double in
                guard let n = number(x) else { throw bad("must be a list of 3 numbers") }
                return n
            }
            if case .positiveFloats3 = kind, d.contains(where: { $0 <= 0 }) { throw bad("must be 3 positive numbers") }
            return .list(d)
        }
    }

    public func int(_ k: String) -> Int? { if case .int(let v)? = values[k] { return v }; return nil }
    public func double(_ k: String) -> Double? {
        switch values[k] {
        case .double(let v)?: return v
        case .int(let v)?: return Double(v)
        default: return nil
        }
    }
    public func list(_ k: String) -> [Double]? { if case .list(let v)? = values[k] { return v }; return nil }

    /// As JSON-compatible values (for `fovea model show`).
    public var jsonObject: [String: Any] {
        values.mapValues { v -> Any in
            switch v {
            case .int(let i): return i
            case .double(let d): return d
            case .bool(let b): return b
            case .string(let s): return s
            case .list(let l): return l
            case .null: return NSNull()
            }
        }
    }
}

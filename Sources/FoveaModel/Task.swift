/// The AutoML tasks (MLmodel `metadata.finetuning_task`).
public enum TaskKind: String, Sendable, CaseIterable, Codable {
    case multiclass = "image-classification"
    case multilabel = "image-classification-multilabel"
    case objectDetection = "image-object-detection"
    case instanceSegmentation = "image-instance-segmentation"

    public var isClassification: Bool { self == .multiclass || self == .multilabel }

    public static func parse(_ s: String) throws -> TaskKind {
        if let t = TaskKind(rawValue: s) { return t }
        // short aliases users type on the command line
        switch s {
        case "classification", "multiclass": return .multiclass
        case "multilabel", "classification-multilabel": return .multilabel
        case "object-detection", "detection": return .objectDetection
        case "instance-segmentation", "segmentation": return .instanceSegmentation
        default:
            throw ModelError.invalid("unknown task '\(s)'; expected one of \(TaskKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }
}

/// Errors loading, validating or registering a model; each names what is wrong.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case notFound(String)
    case exists(String)
    public var description: String {
        switch self {
        case .invalid(let m), .notFound(let m), .exists(let m): return m
        }
    }
}

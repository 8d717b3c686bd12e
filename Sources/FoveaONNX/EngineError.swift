import FoveaTensor

/// Every failure of import, planning or execution is one of these, with a message a user can act on.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case invalidModel(String)
    case unsupportedOp(opType: String, node: String, opset: Int, supported: [String])
    case unsupportedAttribute(node: String, opType: String, message: String)
    case externalData(tensor: String)
    case badInput(String)
    case shape(node: String, opType: String, message: String)
    case gradient(String)
    /// A shape that depends on tensor values (NonZero, NMS, a computed Reshape target...): the static planner
    /// cannot place it, and the model runs node by node instead.
    case dataDependent(node: String, opType: String, what: String)

    public var description: String {
        switch self {
        case .unreadable(let m): return m
        case .invalidModel(let m): return "invalid ONNX model: \(m)"
        case .unsupportedOp(let op, let node, let opset, let supported):
            return "unsupported op '\(op)' at node '\(node)' (opset \(opset)); supported ops: "
                + supported.joined(separator: ", ")
        case .unsupportedAttribute(let node, let op, let m):
            return "node '\(node)' (\(op)): \(m)"
        case .externalData(let t):
            return "tensor '\(t)' keeps its data in an external file, and the model was given as bytes without its folder; "
                + "load it from its file (the .data file beside it) or save it with all tensors inside (save_as_external_data=False)"
        case .badInput(let m): return m
        case .shape(let node, let op, let m): return "node '\(node)' (\(op)): \(m)"
        case .gradient(let m): return "gradient: \(m)"
        case .dataDependent(let node, let op, let what):
            return "node '\(node)' (\(op)): \(what) depends on tensor values"
        }
    }
}

import FoveaTensor

/// One attribute value of a node.
public enum Attribute: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(Tensor)
    /// A subgraph (If's branches, Loop's body); it may read values of the enclosing graphs by name.
    indirect case graph(Graph)
    case unsupported(String)
}

/// A graph node in our own form (independent of the protobuf types).
public struct Node: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    /// Input value names; "" marks an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: Attribute] = [:]) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// The node's subgraph attributes, by attribute name.
    public var subgraphs: [(String, Graph)] {
        attributes.compactMap { k, v in if case .graph(let g) = v { return (k, g) }; return nil }.sorted { $0.0 < $1.0 }
    }
    /// Outer values read by this node's subgraphs (beyond its explicit inputs).
    public var outerReads: Set<String> {
        var s = Set<String>()
        for (_, g) in subgraphs { s.formUnion(g.outerReads) }
        return s
    }

    /// How errors name the node: its name, or its first output when it has none.
    public var label: String { name.isEmpty ? "<unnamed \(opType) -> \(outputs.first ?? "?")>" : name }
}

/// A dimension of a declared graph input: a fixed size or a symbolic one ("batch").
public enum Dim: Sendable, Equatable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(String)
    public var description: String {
        switch self {
        case .fixed(let n): return String(n)
        case .symbolic(let s): return s.isEmpty ? "?" : s
        }
    }
}

public struct ValueInfo: Sendable {
    public var name: String
    public var dtype: DType?
    /// nil when the model gives no shape.
    public var dims: [Dim]?
    public init(name: String, dtype: DType?, dims: [Dim]?) {
        self.name = name
        self.dtype = dtype
        self.dims = dims
    }
}

/// A model graph: nodes in topological order, constant tensors, declared inputs and outputs.
public struct Graph: Sendable {
    public var nodes: [Node]
    public var initializers: [String: Tensor]
    /// Graph inputs that are not initializers (what a caller feeds).
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    /// The default-domain opset the model was exported with.
    public var opset: Int
    public var producer: String

    public init(nodes: [Node], initializers: [String: Tensor], inputs: [ValueInfo], outputs: [ValueInfo],
                opset: Int, producer: String = "") {
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
        self.opset = opset
        self.producer = producer
    }

    /// Op type → count, for `fovea onnx info`.
    public var opCounts: [(String, Int)] {
        var c: [String: Int] = [:]
        for n in nodes { c[n.opType, default: 0] += 1 }
        return c.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }

    /// Nodes consuming each value name; a node whose subgraphs read an outer value counts as its consumer.
    func consumers() -> [String: [Int]] {
        var m: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() {
            for inp in n.inputs where !inp.isEmpty { m[inp, default: []].append(i) }
            for inp in n.outerReads { m[inp, default: []].append(i) }
        }
        return m
    }

    /// Value names this graph's nodes read that it neither produces, takes as input nor holds as an
    /// initializer: what it needs from the enclosing graph.
    public var outerReads: Set<String> {
        var have = Set(initializers.keys).union(inputs.map(\.name))
        var need = Set<String>()
        for n in nodes {
            for i in n.inputs where !i.isEmpty && !have.contains(i) { need.insert(i) }
            for i in n.outerReads where !have.contains(i) { need.insert(i) }
            for o in n.outputs { have.insert(o) }
        }
        return need
    }

    /// True when some node holds a subgraph (If, Loop, Scan).
    public var hasSubgraphs: Bool { nodes.contains { !$0.subgraphs.isEmpty } }
}

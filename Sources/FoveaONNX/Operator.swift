import FoveaTensor

/// Shape and element type of a value, known when a plan is built.
public struct TensorDesc: Equatable, Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var dtype: DType
    public init(_ shape: [Int], _ dtype: DType = .float32) {
        self.shape = shape
        self.dtype = dtype
    }
    public var count: Int { shape.product }
    public var description: String { "\(dtype)\(shape)" }
}

/// What an op's backward reads besides the output gradients; the plan keeps those buffers alive.
public enum Saves: Sendable {
    case nothing, inputs, outputs, inputsAndOutputs
    var inputs: Bool { self == .inputs || self == .inputsAndOutputs }
    var outputs: Bool { self == .outputs || self == .inputsAndOutputs }
}

/// Arguments of one forward call: views into the plan's arena, fixed when the plan is built.
public final class ForwardArgs {
    public let inputs: [Tensor?]
    public let outputs: [Tensor]
    public let scratch: UnsafeMutableRawPointer
    init(inputs: [Tensor?], outputs: [Tensor], scratch: UnsafeMutableRawPointer) {
        self.inputs = inputs
        self.outputs = outputs
        self.scratch = scratch
    }
    @inline(__always) public func input(_ i: Int) -> Tensor { inputs[i]! }
    @inline(__always) public func has(_ i: Int) -> Bool { i < inputs.count && inputs[i] != nil }
    @inline(__always) public var x: Tensor { inputs[0]! }
    @inline(__always) public var y: Tensor { outputs[0] }
}

/// Arguments of one backward call. `gradInputs[i]` is nil when input i needs no gradient; an op
/// ADDS its vector-Jacobian product into the gradients it is given (a value may feed several nodes).
public final class BackwardArgs {
    public let inputs: [Tensor?]
    public let outputs: [Tensor]
    public let gradOutputs: [Tensor?]
    public let gradInputs: [Tensor?]
    public let scratch: UnsafeMutableRawPointer
    public let rules: BackwardRules
    init(inputs: [Tensor?], outputs: [Tensor], gradOutputs: [Tensor?], gradInputs: [Tensor?],
         scratch: UnsafeMutableRawPointer, rules: BackwardRules) {
        self.inputs = inputs
        self.outputs = outputs
        self.gradOutputs = gradOutputs
        self.gradInputs = gradInputs
        self.scratch = scratch
        self.rules = rules
    }
    @inline(__always) public func input(_ i: Int) -> Tensor { inputs[i]! }
    @inline(__always) public var x: Tensor { inputs[0]! }
    @inline(__always) public var y: Tensor { outputs[0] }
    /// Gradient of output 0 (the plan only calls backward when some output has one).
    @inline(__always) public var gy: Tensor { gradOutputs[0]! }
    @inline(__always) public func gx(_ i: Int) -> Tensor? { i < gradInputs.count ? gradInputs[i] : nil }
}

/// The arguments of an elementwise activation's backward: x the input, y the output, gy the output
/// gradient; the rule adds into gx. For an activation fused into a Conv, x is the activation's output.
public struct UnaryGrad {
    public let x: UnsafePointer<Float>
    public let y: UnsafePointer<Float>
    public let gy: UnsafePointer<Float>
    public let gx: UnsafeMutablePointer<Float>
    public let count: Int
}
public typealias UnaryBackwardRule = @Sendable (UnaryGrad) -> Void

/// Replacement backward rules for elementwise activation op types (guided backprop swaps "Relu").
public final class BackwardRules: @unchecked Sendable {
    public var unary: [String: UnaryBackwardRule]
    public init(unary: [String: UnaryBackwardRule] = [:]) { self.unary = unary }
    public static let standard = BackwardRules()
}

/// An ONNX operator: one file per op with its forward and backward side by side.
public protocol Operator: AnyObject {
    /// Output shapes and types from the input ones. `constants[i]` holds input i's value when it is
    /// known while planning (initializers and folded shape subgraphs); ops like Reshape need it.
    func outputs(_ inputs: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc]
    /// Scratch bytes the forward needs for these input shapes.
    func forwardScratch(_ inputs: [TensorDesc?]) -> Int
    /// Scratch bytes the backward needs.
    func backwardScratch(_ inputs: [TensorDesc?]) -> Int
    func forward(_ a: ForwardArgs)
    /// Adds the vector-Jacobian product of each output gradient into the requested input gradients.
    func backward(_ a: BackwardArgs) throws
    /// What backward reads.
    var saves: Saves { get }
    /// False for ops that pass no gradient at all (Shape, comparisons, index outputs).
    var differentiable: Bool { get }
}

extension Operator {
    public func forwardScratch(_ inputs: [TensorDesc?]) -> Int { 0 }
    public func backwardScratch(_ inputs: [TensorDesc?]) -> Int { 0 }
    public var saves: Saves { .nothing }
    public var differentiable: Bool { true }
}

/// The node an op is built from, with typed attribute getters that name the node in errors.
public struct OpContext {
    public let node: Node
    public let opset: Int

    func fail(_ message: String) -> EngineError {
        .unsupportedAttribute(node: node.label, opType: node.opType, message: message)
    }
    public func shapeError(_ message: String) -> EngineError {
        .shape(node: node.label, opType: node.opType, message: message)
    }
    public func int(_ name: String, _ def: Int) throws -> Int {
        guard let a = node.attributes[name] else { return def }
        if case .int(let v) = a { return v }
        throw fail("attribute '\(name)' must be an int")
    }
    public func float(_ name: String, _ def: Float) throws -> Float {
        guard let a = node.attributes[name] else { return def }
        if case .float(let v) = a { return v }
        if case .int(let v) = a { return Float(v) }
        throw fail("attribute '\(name)' must be a float")
    }
    public func ints(_ name: String) throws -> [Int]? {
        guard let a = node.attributes[name] else { return nil }
        if case .ints(let v) = a { return v }
        if case .int(let v) = a { return [v] }
        throw fail("attribute '\(name)' must be a list of ints")
    }
    public func floats(_ name: String) throws -> [Float]? {
        guard let a = node.attributes[name] else { return nil }
        if case .floats(let v) = a { return v }
        throw fail("attribute '\(name)' must be a list of floats")
    }
    public func string(_ name: String, _ def: String) throws -> String {
        guard let a = node.attributes[name] else { return def }
        if case .string(let v) = a { return v }
        throw fail("attribute '\(name)' must be a string")
    }
    public func tensor(_ name: String) throws -> Tensor? {
        guard let a = node.attributes[name] else { return nil }
        if case .tensor(let v) = a { return v }
        throw fail("attribute '\(name)' must be a tensor")
    }
    /// The error for an input that decides an output shape but is only known at run time.
    public func needsConstant(_ what: String) -> EngineError {
        .dataDependent(node: node.label, opType: node.opType, what: what)
    }
    /// A subgraph attribute (If's branches, Loop's body).
    public func graph(_ name: String) throws -> Graph {
        guard let a = node.attributes[name] else { throw fail("needs the subgraph attribute '\(name)'") }
        if case .graph(let g) = a { return g }
        throw fail("attribute '\(name)' must be a graph")
    }
    /// Rejects an attribute value we do not implement, naming it.
    public func unsupported(_ message: String) -> EngineError { fail(message) }
}

/// Normalises a possibly negative axis against a rank.
@inline(__always) func normAxis(_ axis: Int, _ rank: Int) -> Int { axis < 0 ? axis + rank : axis }

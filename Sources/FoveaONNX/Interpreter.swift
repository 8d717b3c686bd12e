import Foundation
import FoveaTensor

/// Values visible to a graph while it runs: its own, then those of the graphs around it (a subgraph
/// of If/Loop reads outer values by name).
public final class Scope {
    var values: [String: Tensor]
    let initializers: [String: Tensor]
    let parent: Scope?
    init(values: [String: Tensor], initializers: [String: Tensor], parent: Scope?) {
        self.values = values
        self.initializers = initializers
        self.parent = parent
    }
    func lookup(_ name: String) -> Tensor? {
        if let v = values[name] { return v }
        if let v = initializers[name] { return v }
        return parent?.lookup(name)
    }
}

/// An op that runs subgraphs (If, Loop): the interpreter hands it the current scope instead of
/// planning its outputs.
protocol ControlFlowOperator: Operator {
    func run(_ inputs: [Tensor?], scope: Scope) throws -> [Tensor]
}

extension ControlFlowOperator {
    var differentiable: Bool { false }
    func forward(_ a: ForwardArgs) { preconditionFailure("control flow runs through the interpreter") }
}

/// Runs a graph node by node, each output shaped by the actual input values: how Fovea executes graphs
/// whose shapes depend on data (NonZero, NonMaxSuppression, TopK with a computed k, If, Loop). Outputs
/// are allocated per run and every value is dropped after its last reader; scratch is reused across
/// nodes and runs. Not re-entrant: the owning model locks.
final class Interpreter {
    let graph: Graph
    let ops: [Operator]
    /// node index after which each value produced or fed here is no longer read
    private let lastUse: [String: Int]
    /// what each node reads: its inputs and the outer values its subgraphs read
    private let reads: [[String]]
    private var scratch = Storage(byteCount: 0)

    init(graph: Graph, ops: [Operator]) {
        self.graph = graph
        self.ops = ops
        var last: [String: Int] = [:]
        let reads = graph.nodes.map { n in n.inputs.filter { !$0.isEmpty } + n.outerReads.sorted() }
        for (i, r) in reads.enumerated() { for name in r { last[name] = i } }
        self.reads = reads
        for o in graph.outputs { last[o.name] = Int.max }
        lastUse = last
    }

    /// A subgraph with its own ops (built here, so nested If/Loop bodies compile once at load).
    convenience init(subgraph: Graph, opset: Int) throws {
        var g = subgraph
        g.opset = opset
        g = Passes.constantsToInitializers(g)
        try self.init(graph: g, ops: g.nodes.map { try OpRegistry.make($0, opset: opset) })
    }

    func run(_ feeds: [String: Tensor], outer: Scope? = nil, fetch: [String]? = nil,
             profile: Profile? = nil) throws -> [String: Tensor] {
        let want = fetch ?? graph.outputs.map(\.name)
        let keep = Set(want)
        let scope = Scope(values: feeds, initializers: graph.initializers, parent: outer)
        for (i, node) in graph.nodes.enumerated() {
            let t0 = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            var ins: [Tensor?] = []
            ins.reserveCapacity(node.inputs.count)
            for name in node.inputs {
                if name.isEmpty { ins.append(nil); continue }
                guard let v = scope.lookup(name) else {
                    throw EngineError.invalidModel("node '\(node.label)' uses '\(name)', which is never produced")
                }
                ins.append(v)
            }
            let op = ops[i]
            let outs: [Tensor]
            if let cf = op as? ControlFlowOperator {
                outs = try cf.run(ins, scope: scope)
            } else {
                let descs = ins.map { $0.map { TensorDesc($0.shape, $0.dtype) } }
                let outDescs = try op.outputs(descs, constants: ins)
                outs = outDescs.map { Tensor(uninitialized: $0.shape, dtype: $0.dtype) }
                let need = op.forwardScratch(descs)
                if need > scratch.byteCount { scratch = Storage(byteCount: need) }
                op.forward(ForwardArgs(inputs: ins, outputs: outs, scratch: scratch.base))
            }
            guard outs.count >= node.outputs.count else {
                throw EngineError.shape(node: node.label, opType: node.opType,
                                        message: "produced \(outs.count) outputs, the node names \(node.outputs.count)")
            }
            for (j, name) in node.outputs.enumerated() where !name.isEmpty { scope.values[name] = outs[j] }
            for name in reads[i] where lastUse[name] == i && !keep.contains(name) {
                scope.values[name] = nil
            }
            if let profile { profile.add(node, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        var out: [String: Tensor] = [:]
        for name in want {
            guard let v = scope.lookup(name) else {
                throw EngineError.badInput("no value named '\(name)' in the graph (after its optimisation passes)")
            }
            out[name] = v
        }
        return out
    }
}

import Foundation
import FoveaTensor

/// Which scalar the gradient is taken of.
public enum GradientTarget: Sendable {
    /// Σ seed · output (seed has the output's shape): any weighted selection of outputs.
    case seed(Tensor)
    /// One logit per batch item: output[n, classes[n]] for an [N, C] output.
    case logits([Int])
    /// One softmax probability per batch item: softmax(output[n])[classes[n]].
    case probabilities([Int])
}

public struct GradientResult: @unchecked Sendable {
    /// The model's outputs for the fed inputs.
    public var outputs: [String: Tensor]
    /// d(target)/d(value) for each requested value.
    public var gradients: [String: Tensor]
    /// The forward values of the requested values (GradCAM reads the layer's activations).
    public var values: [String: Tensor]
}

/// A loaded ONNX model ready to run: graph after passes, one op instance per node, plans per shape.
public final class Model: @unchecked Sendable {
    public let graph: Graph
    let ops: [Operator]
    private var plans: [String: Plan] = [:]
    private let cacheLock = NSLock()
    /// How many plans (input-shape variants) to keep; the oldest is dropped beyond that.
    public var maxPlans = 8
    private var planOrder: [String] = []
    /// Set once a graph turns out to have data-dependent shapes (or has If/Loop subgraphs): it then
    /// runs through the node-by-node interpreter instead of static plans.
    private var interpreter: Interpreter?
    private let interpreterLock = NSLock()

    public convenience init(path: String, optimize: Bool = true) throws {
        try self.init(graph: ONNXImport.load(path: path), optimize: optimize)
    }

    public init(graph: Graph, optimize: Bool = true) throws {
        var g = graph
        if optimize { g = Passes.run(g) }
        self.graph = g
        ops = try g.nodes.map { try OpRegistry.make($0, opset: g.opset) }
        if g.hasSubgraphs { interpreter = Interpreter(graph: g, ops: ops) }
    }

    /// True when the model runs node by node because its shapes depend on tensor values.
    public var isDynamic: Bool {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return interpreter != nil
    }

    private func dynamicRunner() -> Interpreter? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return interpreter
    }

    private func becomeDynamic() -> Interpreter {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if interpreter == nil { interpreter = Interpreter(graph: graph, ops: ops) }
        return interpreter!
    }

    private func interpret(_ it: Interpreter, _ feeds: [String: Tensor], fetch: [String]?, profile: Profile?) throws -> [String: Tensor] {
        interpreterLock.lock()
        defer { interpreterLock.unlock() }
        let out = try it.run(feeds, fetch: fetch ?? outputNames, profile: profile)
        profile?.finishRun()
        return out
    }

    /// The op types of a graph that the registry does not implement (for `fovea onnx info`).
    public static func unsupportedOps(_ graph: Graph) -> [String] {
        var ops = Set(graph.nodes.map(\.opType).filter { OpRegistry.makers[$0] == nil })
        for n in graph.nodes { for (_, g) in n.subgraphs { ops.formUnion(unsupportedOps(g)) } }
        return ops.sorted()
    }

    public var inputNames: [String] { graph.inputs.map(\.name) }
    public var outputNames: [String] { graph.outputs.map(\.name) }

    /// Checks the feeds against the declared inputs and returns their descriptors. A fixed batch
    /// dimension of 1 accepts any batch size (exports with batch 1 frozen still run batches).
    func check(_ feeds: [String: Tensor]) throws -> [String: TensorDesc] {
        var out: [String: TensorDesc] = [:]
        for k in feeds.keys where !graph.inputs.contains(where: { $0.name == k }) {
            throw EngineError.badInput("the model has no input '\(k)'; its inputs: \(inputNames.joined(separator: ", "))")
        }
        for info in graph.inputs {
            guard let t = feeds[info.name] else {
                throw EngineError.badInput("missing input '\(info.name)'; the model takes "
                    + graph.inputs.map { "\($0.name) \(describe($0))" }.joined(separator: ", "))
            }
            if let dt = info.dtype, dt != t.dtype {
                throw EngineError.badInput("input '\(info.name)' must be \(dt), got \(t.dtype)")
            }
            if let dims = info.dims {
                var ok = dims.count == t.rank
                if ok {
                    for (k, d) in dims.enumerated() {
                        if case .fixed(let n) = d, n != t.shape[k], !(k == 0 && n == 1 && dims.count > 1) { ok = false }
                    }
                }
                if !ok {
                    throw EngineError.badInput("input '\(info.name)' must have shape \(describe(info)), got \(t.shape)")
                }
            }
            out[info.name] = TensorDesc(t.shape, t.dtype)
        }
        return out
    }

    private func describe(_ v: ValueInfo) -> String {
        guard let d = v.dims else { return "(any shape)" }
        return "[" + d.map(\.description).joined(separator: ", ") + "]"
    }

    func plan(_ descs: [String: TensorDesc], fetch: [String], mode: PlanMode, rules: BackwardRules) throws -> Plan {
        let key = descs.keys.sorted().map { "\($0)=\(descs[$0]!)" }.joined(separator: ";")
            + "|\(fetch)|\(mode)|\(ObjectIdentifier(rules).hashValue)"
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let p = plans[key] { return p }
        let p = try Plan(graph: graph, ops: ops, feeds: descs, fetch: fetch, mode: mode, rules: rules)
        plans[key] = p
        planOrder.append(key)
        if planOrder.count > maxPlans { plans[planOrder.removeFirst()] = nil }
        return p
    }

    /// Runs the model. `fetch` may name any value of the graph (default: the graph outputs).
    public func run(_ feeds: [String: Tensor], fetch: [String]? = nil, profile: Profile? = nil) throws -> [String: Tensor] {
        let descs = try check(feeds)
        if let it = dynamicRunner() { return try interpret(it, feeds, fetch: fetch, profile: profile) }
        let p: Plan
        do {
            p = try plan(descs, fetch: fetch ?? outputNames, mode: .inference, rules: .standard)
        } catch EngineError.dataDependent {
            return try interpret(becomeDynamic(), feeds, fetch: fetch, profile: profile)
        } catch let e as EngineError {
            // An export with batch 1 frozen inside (e.g. Reshape to [1, -1]) cannot run a batch as one:
            // run it item by item and stack the results.
            guard case .shape = e, let n = batchOfFrozenModel(feeds) else { throw e }
            return try runItemByItem(feeds, n: n, fetch: fetch, profile: profile)
        }
        p.lock.lock()
        defer { p.lock.unlock() }
        p.runForward(feeds, profile: profile)
        profile?.finishRun()
        var out: [String: Tensor] = [:]
        for (n, v) in p.outputs { out[n] = v.copy() }
        return out
    }

    /// The batch size N > 1 when every input declares a fixed batch of 1 (nil otherwise).
    func batchOfFrozenModel(_ feeds: [String: Tensor]) -> Int? {
        var n: Int? = nil
        for info in graph.inputs {
            guard let d = info.dims, d.count > 1, case .fixed(1) = d[0], let t = feeds[info.name], t.shape[0] > 1 else { return nil }
            if n != nil && n != t.shape[0] { return nil }
            n = t.shape[0]
        }
        return n
    }

    func runItemByItem(_ feeds: [String: Tensor], n: Int, fetch: [String]?, profile: Profile?) throws -> [String: Tensor] {
        var parts: [[String: Tensor]] = []
        for i in 0..<n {
            var one: [String: Tensor] = [:]
            for (k, t) in feeds {
                let per = t.count / n
                let s = Tensor(zeros: [1] + Array(t.shape.dropFirst()), dtype: t.dtype)
                s.raw.copyMemory(from: t.raw + i * per * t.dtype.byteSize, byteCount: per * t.dtype.byteSize)
                one[k] = s
            }
            parts.append(try run(one, fetch: fetch, profile: profile))
        }
        var out: [String: Tensor] = [:]
        for (k, first) in parts[0] {
            let t = Tensor(zeros: [first.shape.first.map { $0 * n } ?? n] + Array(first.shape.dropFirst()), dtype: first.dtype)
            for (i, p) in parts.enumerated() {
                t.raw.advanced(by: i * first.byteCount).copyMemory(from: p[k]!.raw, byteCount: first.byteCount)
            }
            out[k] = t
        }
        return out
    }

    /// Convenience for single-input models.
    public func run(_ x: Tensor) throws -> [String: Tensor] {
        guard graph.inputs.count == 1 else {
            throw EngineError.badInput("the model has \(graph.inputs.count) inputs; name them")
        }
        return try run([graph.inputs[0].name: x])
    }

    /// Reverse mode: the gradient of a scalar target built from `output` with respect to `wrt`
    /// (graph inputs and/or intermediate values; default: every graph input). `rules` replaces the
    /// backward rule of elementwise activation types (guided backprop swaps Relu's).
    public func gradient(_ feeds: [String: Tensor], output: String? = nil, target: GradientTarget,
                         wrt: [String]? = nil, rules: BackwardRules = .standard) throws -> GradientResult {
        let descs = try check(feeds)
        let out = output ?? outputNames[0]
        let wrtNames = wrt ?? inputNames
        let p: Plan
        do {
            if dynamicRunner() != nil { throw EngineError.dataDependent(node: "", opType: "", what: "") }
            p = try plan(descs, fetch: outputNames.contains(out) ? outputNames : outputNames + [out],
                         mode: .gradient(output: out, wrt: wrtNames), rules: rules)
        } catch EngineError.dataDependent {
            throw EngineError.gradient("this model's shapes depend on its data (detection post-processing, If/Loop); "
                + "gradients are computed only for graphs with static shapes, such as classifiers")
        }
        p.lock.lock()
        defer { p.lock.unlock() }
        p.runForward(feeds)
        let y = p.outputs.first { $0.name == out }!.view
        let seed = try Model.seed(target, y: y)
        try p.runBackward(output: out, seed: seed)
        var outs: [String: Tensor] = [:]
        for (n, v) in p.outputs { outs[n] = v.copy() }
        var grads: [String: Tensor] = [:]
        for w in wrtNames { grads[w] = p.gradViews[w]!.copy() }
        var vals: [String: Tensor] = [:]
        for (n, v) in p.values { vals[n] = v.copy() }
        return GradientResult(outputs: outs, gradients: grads, values: vals)
    }

    static func seed(_ target: GradientTarget, y: Tensor) throws -> Tensor {
        switch target {
        case .seed(let s):
            guard s.shape == y.shape, s.dtype == .float32 else {
                throw EngineError.gradient("seed shape \(s.shape) differs from the output's \(y.shape)")
            }
            return s
        case .logits(let cls), .probabilities(let cls):
            guard y.rank == 2, cls.count == y.shape[0] else {
                throw EngineError.gradient("a per-item class target needs an [N, C] output with N = \(cls.count); the output is \(y.shape)")
            }
            let c = y.shape[1]
            let s = Tensor(zeros: y.shape)
            for (n, k) in cls.enumerated() {
                guard k >= 0 && k < c else { throw EngineError.gradient("class \(k) is outside 0..<\(c)") }
                if case .logits = target {
                    s.f32[n * c + k] = 1
                } else {
                    let row = y.f32 + n * c
                    var m = -Float.infinity
                    for i in 0..<c { m = max(m, row[i]) }
                    var sum: Float = 0
                    for i in 0..<c { sum += expf(row[i] - m) }
                    let pk = expf(row[k] - m) / sum
                    for i in 0..<c { s.f32[n * c + i] = -pk * expf(row[i] - m) / sum }
                    s.f32[n * c + k] += pk
                }
            }
            return s
        }
    }

    /// Drops cached plans (all, or only reverse-mode ones) so that their arenas go back to the system: a serving
    /// instance keeps its inference plan small between explanations.
    public func releasePlans(gradientOnly: Bool = true) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        for k in planOrder where !gradientOnly || k.contains("gradient(") { plans[k] = nil }
        planOrder.removeAll { plans[$0] == nil }
    }

    /// Bytes held by the cached plans (arena + scratch + gradients).
    public var planBytes: Int {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return plans.values.reduce(0) { $0 + $1.arenaBytes }
    }
}

import Foundation
import FoveaTensor

/// One scheduled node: its op, the arena views it reads and writes, and (in gradient plans) its backward.
final class Step {
    let node: Node
    let op: Operator
    let forward: ForwardArgs
    var backward: BackwardArgs?
    /// gradient buffers to zero before this backward step (their first accumulation)
    var zeroGradients: [Tensor] = []
    init(node: Node, op: Operator, forward: ForwardArgs) {
        self.node = node
        self.op = op
        self.forward = forward
    }
}

/// What a plan computes besides the forward pass.
enum PlanMode: Hashable {
    case inference
    /// Reverse mode: gradients of `output` with respect to `wrt` values.
    case gradient(output: String, wrt: [String])
}

/// An execution plan for fixed input shapes: topological steps over one preallocated arena whose
/// buffers are reused once a value is dead; constant subgraphs were evaluated while planning.
/// Running a plan allocates nothing but the returned output copies. Not re-entrant: callers lock.
final class Plan {
    let inputs: [(name: String, view: Tensor)]
    let outputs: [(name: String, view: Tensor)]
    let steps: [Step]
    let backwardSteps: [Step]
    let gradViews: [String: Tensor]
    let values: [String: Tensor]
    let lock = NSLock()
    private let arena: Storage
    private let scratch: Storage
    private let gradArena: Storage?

    init(graph: Graph, ops: [Operator], feeds: [String: TensorDesc], fetch: [String], mode: PlanMode,
         rules: BackwardRules) throws {
        var descs: [String: TensorDesc] = [:]
        var consts: [String: Tensor] = graph.initializers
        for (k, v) in consts { descs[k] = TensorDesc(v.shape, v.dtype) }
        for (k, v) in feeds { descs[k] = v; consts[k] = nil }

        // 1. Shapes, and constant evaluation of everything that depends on constants and shapes only.
        var runtime: [Int] = []          // node indices that run at run time
        var stepOutDescs: [[TensorDesc]] = []
        for (i, node) in graph.nodes.enumerated() {
            let op = ops[i]
            var inDescs: [TensorDesc?] = []
            var inConsts: [Tensor?] = []
            for name in node.inputs {
                if name.isEmpty { inDescs.append(nil); inConsts.append(nil); continue }
                guard let d = descs[name] else {
                    throw EngineError.invalidModel("node '\(node.label)' uses '\(name)', which is never produced")
                }
                inDescs.append(d)
                inConsts.append(consts[name])
            }
            let outDescs = try op.outputs(inDescs, constants: inConsts)
            guard outDescs.count >= node.outputs.count else {
                throw EngineError.shape(node: node.label, opType: node.opType,
                                        message: "produces \(outDescs.count) outputs, the node names \(node.outputs.count)")
            }
            let foldable = (op is ShapeOp) || zip(node.inputs, inConsts).allSatisfy { $0.0.isEmpty || $0.1 != nil }
            if foldable {
                let values = try Plan.evaluate(op, inputs: inConsts, inDescs: inDescs, outDescs: outDescs)
                for (j, name) in node.outputs.enumerated() where !name.isEmpty {
                    consts[name] = values[j]
                    descs[name] = outDescs[j]
                }
            } else {
                for (j, name) in node.outputs.enumerated() where !name.isEmpty { descs[name] = outDescs[j] }
                runtime.append(i)
                stepOutDescs.append(outDescs)
            }
        }
        for name in fetch where descs[name] == nil {
            throw EngineError.badInput("no value named '\(name)' in the graph (after its optimisation passes)")
        }

        // 2. Gradient bookkeeping: which values carry a gradient back to the output.
        var needed = Set<String>()
        var activeBackward = Set<Int>()   // positions in `runtime`
        var keepAlive = Set<String>(fetch)
        if case .gradient(let output, let wrt) = mode {
            var requires = Set<String>()
            for w in wrt {
                guard let d = descs[w] else { throw EngineError.gradient("no value named '\(w)' in the graph") }
                guard d.dtype == .float32 else { throw EngineError.gradient("'\(w)' is \(d.dtype), not float32") }
                guard consts[w] == nil || feeds[w] != nil else {
                    throw EngineError.gradient("'\(w)' is a constant of the graph; it has no gradient")
                }
                requires.insert(w)
                keepAlive.insert(w)
            }
            for (p, i) in runtime.enumerated() {
                let node = graph.nodes[i]
                if ops[i].differentiable, node.inputs.contains(where: { requires.contains($0) }) {
                    for (j, o) in node.outputs.enumerated() where stepOutDescs[p][j].dtype == .float32 { requires.insert(o) }
                }
            }
            guard requires.contains(output) else {
                throw EngineError.gradient("output '\(output)' does not depend on \(wrt.joined(separator: ", "))")
            }
            needed.insert(output)
            for (p, i) in runtime.enumerated().reversed() {
                let node = graph.nodes[i]
                guard node.outputs.contains(where: { needed.contains($0) }) else { continue }
                let ins = node.inputs.filter { requires.contains($0) }
                guard !ins.isEmpty else { continue }
                activeBackward.insert(p)
                for n in ins { needed.insert(n) }
                for n in node.inputs where !n.isEmpty && consts[n] == nil { keepAlive.insert(n) }
                for n in node.outputs where !n.isEmpty { keepAlive.insert(n) }
            }
            for w in wrt { needed.insert(w) }
        }

        // 3. Lifetimes of run-time values and arena placement.
        struct Life { var size: Int; var start: Int; var end: Int; var offset = -1 }
        var lives: [String: Life] = [:]
        let endOfPlan = runtime.count
        for (name, d) in feeds { lives[name] = Life(size: d.count * d.dtype.byteSize, start: -1, end: -1) }
        for (p, i) in runtime.enumerated() {
            let node = graph.nodes[i]
            for n in node.inputs where lives[n] != nil { lives[n]!.end = max(lives[n]!.end, p) }
            for (j, n) in node.outputs.enumerated() {
                let d = stepOutDescs[p][j]
                let key = n.isEmpty ? "\u{0}unused:\(i):\(j)" : n
                lives[key] = Life(size: d.count * d.dtype.byteSize, start: p, end: p)
            }
        }
        for n in keepAlive where lives[n] != nil { lives[n]!.end = endOfPlan }
        let (liveOffsets, arenaSize) = Plan.placeFirstFit(lives.mapValues { ($0.size, $0.start, $0.end) })
        for (name, off) in liveOffsets { lives[name]!.offset = off }
        let arena = Storage(byteCount: arenaSize)
        self.arena = arena

        func view(_ name: String) -> Tensor? {
            if name.isEmpty { return nil }
            if let c = consts[name] { return c }
            guard let l = lives[name], let d = descs[name] else { return nil }
            return Tensor(shape: d.shape, dtype: d.dtype, storage: arena, offset: l.offset)
        }

        // 4. Scratch and steps.
        var scratchSize = 0
        for (p, i) in runtime.enumerated() {
            let inDescs = graph.nodes[i].inputs.map { $0.isEmpty ? nil : descs[$0] }
            scratchSize = max(scratchSize, ops[i].forwardScratch(inDescs))
            if activeBackward.contains(p) { scratchSize = max(scratchSize, ops[i].backwardScratch(inDescs)) }
        }
        let scratch = Storage(byteCount: scratchSize)
        self.scratch = scratch
        var steps: [Step] = []
        for (p, i) in runtime.enumerated() {
            let node = graph.nodes[i]
            let outs = node.outputs.enumerated().map { j, n -> Tensor in
                let key = n.isEmpty ? "\u{0}unused:\(i):\(j)" : n
                let d = stepOutDescs[p][j]
                return Tensor(shape: d.shape, dtype: d.dtype, storage: arena, offset: lives[key]!.offset)
            }
            steps.append(Step(node: node, op: ops[i],
                              forward: ForwardArgs(inputs: node.inputs.map(view), outputs: outs, scratch: scratch.base)))
        }
        self.steps = steps

        // 5. Gradient buffers and backward arguments. A value's gradient lives from the backward step of its
        //    first consumer (in reverse order) to its producer's backward step; buffers whose lives do not
        //    overlap share arena space (first fit, largest first, as for the forward arena) and each is
        //    zeroed just before its first accumulation. The gradients asked for live to the end.
        var gviews: [String: Tensor] = [:]
        var zeroBefore: [[String]] = []
        let backOrder = runtime.indices.reversed().filter { activeBackward.contains($0) }
        if !needed.isEmpty {
            let q = Dictionary(uniqueKeysWithValues: backOrder.enumerated().map { ($1, $0) })
            let endQ = backOrder.count
            let seedName: String? = { if case .gradient(let o, _) = mode { return o }; return nil }()
            var gl: [String: (start: Int, end: Int)] = [:]
            for n in needed { gl[n] = (n == seedName ? -1 : endQ, endQ) }
            for p in backOrder {
                let node = graph.nodes[runtime[p]], t = q[p]!
                for n in node.inputs where gl[n] != nil { gl[n]!.start = min(gl[n]!.start, t) }
            }
            let wrtSet: Set<String> = { if case .gradient(_, let w) = mode { return Set(w) }; return [] }()
            for p in backOrder {
                let node = graph.nodes[runtime[p]], t = q[p]!
                for n in node.outputs where gl[n] != nil && !wrtSet.contains(n) { gl[n]!.end = t }
            }
            // a gradient no step accumulates into (an unused output of a multi-output op) is zero from the start
            for n in needed where gl[n]!.start == endQ { gl[n]!.start = 0 }
            let (offsets, total) = Plan.placeFirstFit(Dictionary(uniqueKeysWithValues: needed.map {
                ($0, (size: descs[$0]!.count * 4, start: gl[$0]!.start, end: gl[$0]!.end))
            }))
            let g = Storage(byteCount: max(total, 64))
            self.gradArena = g
            for (n, o) in offsets { gviews[n] = Tensor(shape: descs[n]!.shape, storage: g, offset: o) }
            zeroBefore = Array(repeating: [], count: endQ)
            for n in needed.sorted() where gl[n]!.start >= 0 && gl[n]!.start < endQ { zeroBefore[gl[n]!.start].append(n) }
        } else {
            self.gradArena = nil
        }
        gradViews = gviews
        var back: [Step] = []
        for (t, p) in backOrder.enumerated() {
            let s = steps[p]
            s.zeroGradients = zeroBefore[t].map { gviews[$0]! }
            s.backward = BackwardArgs(inputs: s.forward.inputs, outputs: s.forward.outputs,
                                      gradOutputs: s.node.outputs.map { gviews[$0] },
                                      gradInputs: s.node.inputs.map { $0.isEmpty ? nil : gviews[$0] },
                                      scratch: scratch.base, rules: rules)
            back.append(s)
        }
        backwardSteps = back
        inputs = feeds.keys.sorted().map { ($0, view($0)!) }
        outputs = fetch.map { ($0, view($0)!) }
        var vals: [String: Tensor] = [:]
        if case .gradient(_, let wrt) = mode { for w in wrt { vals[w] = view(w) } }
        values = vals
    }

    /// Arena offsets for buffers alive over [start, end] (steps, inclusive): largest first, each at the lowest
    /// 64-byte-aligned offset that no buffer alive at the same time overlaps. Returns the offsets and the size.
    static func placeFirstFit(_ items: [String: (size: Int, start: Int, end: Int)]) -> ([String: Int], Int) {
        var placed: [(offset: Int, size: Int, start: Int, end: Int)] = []
        var offsets: [String: Int] = [:]
        var total = 0
        for name in items.keys.sorted(by: { (items[$0]!.size, $0) > (items[$1]!.size, $1) }) {
            let l = items[name]!, size = (l.size + 63) / 64 * 64
            let clashes = placed.filter { $0.start <= l.end && l.start <= $0.end }.sorted { $0.offset < $1.offset }
            var off = 0
            for c in clashes {
                if off + size <= c.offset { break }
                off = max(off, c.offset + c.size)
            }
            offsets[name] = off
            placed.append((off, size, l.start, l.end))
            total = max(total, off + size)
        }
        return (offsets, total)
    }

    /// Runs one op on freshly allocated tensors (constant folding while planning).
    static func evaluate(_ op: Operator, inputs: [Tensor?], inDescs: [TensorDesc?], outDescs: [TensorDesc]) throws -> [Tensor] {
        let outs = outDescs.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }
        let s = Storage(byteCount: op.forwardScratch(inDescs))
        let ins: [Tensor?] = zip(inputs, inDescs).map { t, d in
            if let t { return t }
            if let d { return Tensor(zeros: d.shape, dtype: d.dtype) }   // Shape reads only the shape
            return nil
        }
        op.forward(ForwardArgs(inputs: ins, outputs: outs, scratch: s.base))
        return outs
    }

    /// Copies the feeds in and runs every step.
    func runForward(_ feeds: [String: Tensor], profile: Profile? = nil) {
        for (name, v) in inputs { v.raw.copyMemory(from: feeds[name]!.raw, byteCount: v.byteCount) }
        guard let profile else {
            for s in steps { s.op.forward(s.forward) }
            return
        }
        for s in steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            s.op.forward(s.forward)
            profile.add(s.node, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
    }

    /// Seeds the output's gradient and runs the backward steps, zeroing each gradient buffer before the
    /// first step that accumulates into it (buffers are shared between gradients whose lives do not overlap).
    func runBackward(output: String, seed: Tensor) throws {
        gradViews[output]!.copy(from: seed)
        for s in backwardSteps {
            for z in s.zeroGradients { z.raw.initializeMemory(as: UInt8.self, repeating: 0, count: z.byteCount) }
            try s.op.backward(s.backward!)
        }
    }

    var arenaBytes: Int { arena.byteCount + scratch.byteCount + (gradArena?.byteCount ?? 0) }
}

/// Time per op type and per node, summed over runs (`fovea onnx bench --profile`).
public final class Profile: @unchecked Sendable {
    public private(set) var byOpType: [String: Double] = [:]
    public private(set) var byNode: [String: Double] = [:]
    public private(set) var runs = 0
    public init() {}
    func add(_ node: Node, _ ms: Double) {
        let key = node.opType + (node.attributes["__activation"].map { if case .string(let s) = $0 { return "+" + s }; return "" } ?? "")
        byOpType[key, default: 0] += ms
        byNode[node.label + " (" + key + ")", default: 0] += ms
    }
    func finishRun() { runs += 1 }
}

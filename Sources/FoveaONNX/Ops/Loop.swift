import FoveaTensor

/// Loop: runs its body up to M times while the condition holds. Body inputs (iteration, condition,
/// carried...), outputs (condition, carried..., scan...); the op returns the final carried values and
/// each scan output stacked along a new first axis. The body reads outer values by name.
final class LoopOp: ControlFlowOperator {
    let ctx: OpContext
    let body: Interpreter
    /// Iterations beyond this are refused (a malformed model must not spin forever).
    static let maxIterations = 10_000_000
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        body = try Interpreter(subgraph: ctx.graph("body"), opset: ctx.opset)
        guard body.graph.inputs.count >= 2, body.graph.outputs.count >= body.graph.inputs.count - 1 else {
            throw ctx.unsupported("the body must take (iteration, condition, carried...) and return (condition, carried..., scans...)")
        }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { throw ctx.needsConstant("the iteration count") }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }

    func run(_ inputs: [Tensor?], scope: Scope) throws -> [Tensor] {
        let maxTrip: Int? = (inputs.first ?? nil).map { Int($0.i64[0]) }
        var cond: Bool = inputs.count > 1 ? (inputs[1].map { NonZeroOp.isNonZero($0, 0) } ?? true) : true
        var carried: [Tensor] = inputs.count > 2 ? inputs[2...].map { $0! } : []
        let nCarried = carried.count
        let bin = body.graph.inputs, bout = body.graph.outputs
        guard bin.count == nCarried + 2 else {
            throw ctx.shapeError("the body takes \(bin.count - 2) carried values, the node gives \(nCarried)")
        }
        let nScan = bout.count - 1 - nCarried
        var scans: [[Tensor]] = Array(repeating: [], count: nScan)
        var i = 0
        while cond && (maxTrip.map { i < $0 } ?? true) {
            guard i < LoopOp.maxIterations else { throw ctx.shapeError("more than \(LoopOp.maxIterations) iterations") }
            var feeds: [String: Tensor] = [bin[0].name: Tensor(shape: [], int64s: [Int64(i)]),
                                           bin[1].name: Tensor(shape: [], bools: [cond])]
            for k in 0..<nCarried { feeds[bin[k + 2].name] = carried[k] }
            let out = try body.run(feeds, outer: scope)
            cond = NonZeroOp.isNonZero(out[bout[0].name]!, 0)
            for k in 0..<nCarried { carried[k] = out[bout[k + 1].name]! }
            for k in 0..<nScan { scans[k].append(out[bout[k + 1 + nCarried].name]!) }
            i += 1
        }
        var result = carried
        for k in 0..<nScan {
            let parts = scans[k]
            guard let first = parts.first else {
                // no iteration: an empty stack shaped as the body declares its output (unknown sizes as 0)
                let info = bout[k + 1 + nCarried]
                let dims = (info.dims ?? []).map { d -> Int in if case .fixed(let n) = d { return n }; return 0 }
                result.append(Tensor(zeros: [0] + dims, dtype: info.dtype ?? .float32))
                continue
            }
            guard parts.allSatisfy({ $0.shape == first.shape && $0.dtype == first.dtype }) else {
                throw ctx.shapeError("scan output \(k) changes shape between iterations")
            }
            let t = Tensor(uninitialized: [parts.count] + first.shape, dtype: first.dtype)
            for (j, p) in parts.enumerated() { (t.raw + j * first.byteCount).copyMemory(from: p.raw, byteCount: first.byteCount) }
            result.append(t)
        }
        return result
    }
}

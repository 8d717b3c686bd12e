import FoveaTensor

/// If: runs the then or else branch (subgraphs that read outer values by name) on a bool scalar.
final class IfOp: ControlFlowOperator {
    let ctx: OpContext
    let thenBranch: Interpreter, elseBranch: Interpreter
    init(_ ctx: OpContext) throws {
        self.ctx = ctx
        thenBranch = try Interpreter(subgraph: ctx.graph("then_branch"), opset: ctx.opset)
        elseBranch = try Interpreter(subgraph: ctx.graph("else_branch"), opset: ctx.opset)
        guard thenBranch.graph.outputs.count == elseBranch.graph.outputs.count else {
            throw ctx.unsupported("the branches have \(thenBranch.graph.outputs.count) and \(elseBranch.graph.outputs.count) outputs")
        }
    }
    func outputs(_ i: [TensorDesc?], constants: [Tensor?]) throws -> [TensorDesc] { throw ctx.needsConstant("the branch taken") }
    func backward(_ a: BackwardArgs) throws { throw noBackward(ctx) }
    func run(_ inputs: [Tensor?], scope: Scope) throws -> [Tensor] {
        guard let c = inputs.first ?? nil, c.count == 1 else { throw ctx.shapeError("the condition must be one value") }
        let taken = NonZeroOp.isNonZero(c, 0) ? thenBranch : elseBranch
        let out = try taken.run([:], outer: scope)
        return taken.graph.outputs.map { out[$0.name]! }
    }
}

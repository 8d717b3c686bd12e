import Foundation
import FoveaTensor

/// Graph rewrites applied once at load. Each keeps the function and what backward needs:
/// BatchNorm folding is exact algebra, and a fused Conv+Relu/Clip still differentiates its
/// activation with the (overridable) activation rule. Constant shape subgraphs are folded per
/// plan, when input shapes are known (see Plan).
public enum Passes {
    public static func run(_ graph: Graph) -> Graph {
        var g = graph
        g = constantsToInitializers(g)
        g = dropIdentities(g)
        g = foldConstants(g)
        g = foldBatchNorm(g)
        g = foldChannelAffine(g)
        g = fuseActivations(g)
        return g
    }

    /// Nodes whose inputs are all initializers are evaluated once and become initializers (torchvision's
    /// FrozenBatchNorm computes its scale and shift from constants this way). Outputs over 4M elements stay nodes.
    static func foldConstants(_ graph: Graph) -> Graph {
        var g = graph
        let outputs = Set(g.outputs.map(\.name))
        var kept: [Node] = []
        for n in g.nodes {
            guard !n.inputs.isEmpty, n.subgraphs.isEmpty, n.inputs.allSatisfy({ !$0.isEmpty && g.initializers[$0] != nil }),
                  !n.outputs.contains(where: { outputs.contains($0) }),
                  let op = try? OpRegistry.make(n, opset: g.opset) else { kept.append(n); continue }
            let ins: [Tensor?] = n.inputs.map { g.initializers[$0] }
            let descs = ins.map { $0.map { TensorDesc($0.shape, $0.dtype) } }
            guard let outs = try? op.outputs(descs, constants: ins), outs.count >= n.outputs.count,
                  outs.allSatisfy({ $0.count <= 4 << 20 }),
                  let values = try? Plan.evaluate(op, inputs: ins, inDescs: descs, outDescs: outs) else { kept.append(n); continue }
            for (j, name) in n.outputs.enumerated() where !name.isEmpty { g.initializers[name] = values[j] }
        }
        g.nodes = kept
        return g
    }

    /// Conv followed by a Mul or Add with a per-output-channel constant ([C,1,1], [1,C,1,1] or one value), the
    /// Conv's only reader: folded into the Conv's weights and bias (FrozenBatchNorm after folding constants).
    static func foldChannelAffine(_ graph: Graph) -> Graph {
        var g = graph
        let outputs = Set(g.outputs.map(\.name))
        var changed = true
        while changed {
            changed = false
            let consumers = g.consumers()
            var producer: [String: Int] = [:]
            for (i, n) in g.nodes.enumerated() { for o in n.outputs { producer[o] = i } }
            for (mi, m) in g.nodes.enumerated() where (m.opType == "Mul" || m.opType == "Add") && m.inputs.count == 2 {
                let (xi, ci) = g.initializers[m.inputs[1]] != nil ? (0, 1) : (1, 0)
                guard let k = g.initializers[m.inputs[ci]], k.dtype == .float32, let pi = producer[m.inputs[xi]],
                      g.nodes[pi].opType == "Conv", g.nodes[pi].attributes["__activation"] == nil,
                      consumers[m.inputs[xi]]?.count == 1, !outputs.contains(m.inputs[xi]),
                      let w = g.initializers[g.nodes[pi].inputs[1]], w.dtype == .float32, w.rank == 4 else { continue }
                let conv = g.nodes[pi]
                let cout = w.shape[0]
                let perChannel = k.count == cout && (k.shape == [cout, 1, 1] || k.shape == [1, cout, 1, 1])
                guard perChannel || k.count == 1 else { continue }
                let oldBias: Tensor? = conv.inputs.count > 2 && !conv.inputs[2].isEmpty ? g.initializers[conv.inputs[2]] : nil
                if conv.inputs.count > 2 && !conv.inputs[2].isEmpty && oldBias == nil { continue }
                let nw = w.copy(), nb = Tensor(zeros: [cout])
                let per = w.count / max(cout, 1)
                for o in 0..<cout {
                    let v = k.f32[perChannel ? o : 0]
                    let b0 = oldBias?.f32[o] ?? 0
                    if m.opType == "Mul" {
                        for q in 0..<per { nw.f32[o * per + q] *= v }
                        nb.f32[o] = b0 * v
                    } else {
                        nb.f32[o] = b0 + v
                    }
                }
                let base = m.outputs[0]
                g.initializers[base + "::affine.W"] = nw
                g.initializers[base + "::affine.B"] = nb
                var c = conv
                c.inputs = [conv.inputs[0], base + "::affine.W", base + "::affine.B"]
                c.outputs = m.outputs
                g.nodes[pi] = c
                g.nodes.remove(at: mi)
                changed = true
                break
            }
        }
        return g
    }

    /// `Constant` nodes become initializers (at every level of If/Loop bodies too).
    static func constantsToInitializers(_ graph: Graph) -> Graph {
        var g = graph
        g.nodes = g.nodes.filter { n in
            guard n.opType == "Constant", n.outputs.count == 1 else { return true }
            guard let t = ConstantOp.value(of: n) else { return true }
            g.initializers[n.outputs[0]] = t
            return false
        }
        for k in g.nodes.indices where !g.nodes[k].subgraphs.isEmpty {
            for (name, sub) in g.nodes[k].subgraphs { g.nodes[k].attributes[name] = .graph(constantsToInitializers(sub)) }
        }
        return g
    }

    /// Identity and inference-mode Dropout pass their input through: rewire consumers to the input.
    static func dropIdentities(_ graph: Graph) -> Graph {
        var g = graph
        // values read inside If/Loop bodies keep their names
        let outputs = Set(g.outputs.map(\.name)).union(g.nodes.flatMap(\.outerReads))
        var rename: [String: String] = [:]
        var kept: [Node] = []
        for var n in g.nodes {
            n.inputs = n.inputs.map { rename[$0] ?? $0 }
            let passThrough = n.opType == "Identity" || (n.opType == "Dropout" && (n.outputs.count < 2 || n.outputs[1].isEmpty))
            if passThrough, !outputs.contains(n.outputs[0]), !n.inputs[0].isEmpty {
                rename[n.outputs[0]] = n.inputs[0]
                continue
            }
            kept.append(n)
        }
        g.nodes = kept
        return g
    }

    /// Conv → BatchNormalization (inference) becomes one Conv with scaled weights and a new bias.
    static func foldBatchNorm(_ graph: Graph) -> Graph {
        var g = graph
        let outputs = Set(g.outputs.map(\.name))
        var consumers = g.consumers()
        var removed = Set<Int>()
        for (bi, bn) in g.nodes.enumerated() where bn.opType == "BatchNormalization" && bn.outputs.count == 1 {
            guard bn.inputs.count == 5,
                  let ci = g.nodes.firstIndex(where: { $0.outputs.first == bn.inputs[0] }),
                  g.nodes[ci].opType == "Conv", !removed.contains(ci),
                  consumers[bn.inputs[0]]?.count == 1, !outputs.contains(bn.inputs[0]),
                  let w = g.initializers[g.nodes[ci].inputs[1]], w.dtype == .float32,
                  let scale = g.initializers[bn.inputs[1]], let shift = g.initializers[bn.inputs[2]],
                  let mean = g.initializers[bn.inputs[3]], let variance = g.initializers[bn.inputs[4]]
            else { continue }
            var conv = g.nodes[ci]
            let cout = w.shape[0]
            guard scale.count == cout, shift.count == cout, mean.count == cout, variance.count == cout else { continue }
            var eps: Float = 1e-5
            if case .float(let e)? = bn.attributes["epsilon"] { eps = e }
            let oldBias: Tensor? = conv.inputs.count > 2 && !conv.inputs[2].isEmpty ? g.initializers[conv.inputs[2]] : nil
            if conv.inputs.count > 2 && !conv.inputs[2].isEmpty && oldBias == nil { continue }
            let nw = w.copy()
            let nb = Tensor(zeros: [cout])
            let per = w.count / max(cout, 1)
            for o in 0..<cout {
                let s = scale.f32[o] / (variance.f32[o] + eps).squareRoot()
                for k in 0..<per { nw.f32[o * per + k] *= s }
                nb.f32[o] = ((oldBias?.f32[o] ?? 0) - mean.f32[o]) * s + shift.f32[o]
            }
            let base = bn.outputs[0]
            g.initializers[base + "::bnfold.W"] = nw
            g.initializers[base + "::bnfold.B"] = nb
            conv.inputs = [conv.inputs[0], base + "::bnfold.W", base + "::bnfold.B"]
            conv.outputs = bn.outputs
            g.nodes[ci] = conv
            removed.insert(bi)
            consumers = [:]   // recomputed lazily below
            var tmp = g
            tmp.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
            consumers = tmp.consumers()
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return g
    }

    /// Conv → Relu or Clip with constant bounds becomes one Conv that applies the activation
    /// while its output is in cache.
    static func fuseActivations(_ graph: Graph) -> Graph {
        var g = graph
        let outputs = Set(g.outputs.map(\.name))
        let consumers = g.consumers()
        var removed = Set<Int>()
        for (ai, act) in g.nodes.enumerated() where act.opType == "Relu" || act.opType == "Clip" {
            guard let ci = g.nodes.firstIndex(where: { $0.opType == "Conv" && $0.outputs.first == act.inputs[0] }),
                  g.nodes[ci].attributes["__activation"] == nil,
                  consumers[act.inputs[0]]?.count == 1, !outputs.contains(act.inputs[0]) else { continue }
            var conv = g.nodes[ci]
            if act.opType == "Clip" {
                guard let (lo, hi) = ClipOp.constantBounds(act, initializers: g.initializers, opset: g.opset) else { continue }
                conv.attributes["__clip"] = .floats([lo, hi])
            }
            conv.attributes["__activation"] = .string(act.opType)
            conv.outputs = act.outputs
            g.nodes[ci] = conv
            removed.insert(ai)
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return g
    }
}

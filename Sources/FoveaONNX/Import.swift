import Foundation
import FoveaTensor
import SwiftProtobuf

/// Reads an ONNX file into a `Graph`.
public enum ONNXImport {
    public static let minOpset = 7
    public static let maxOpset = 21

    public static func load(path: String) throws -> Graph {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw EngineError.unreadable("cannot read '\(path)': \(error.localizedDescription)")
        }
        return try load(data: data, name: path, baseDirectory: url.deletingLastPathComponent())
    }

    /// `baseDirectory` is where external-data files (`location` keys, as `onnx.save(..., save_as_external_data=True)`
    /// and mlflow write them) are looked up; without one, external data is an error.
    public static func load(data: Data, name: String = "model", baseDirectory: URL? = nil) throws -> Graph {
        if data.isEmpty { throw EngineError.invalidModel("'\(name)' is empty") }
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw EngineError.invalidModel("'\(name)' is not an ONNX protobuf (truncated or another format): \(error)")
        }
        guard model.hasGraph, !model.graph.node.isEmpty || !model.graph.output.isEmpty else {
            throw EngineError.invalidModel("'\(name)' has no graph (is it an ONNX model file?)")
        }
        var opset = 0
        for o in model.opsetImport where o.domain == "" || o.domain == "ai.onnx" { opset = Int(o.version) }
        if opset == 0 {
            if model.opsetImport.isEmpty { opset = 1 } else {
                throw EngineError.invalidModel("'\(name)' imports no default-domain opset")
            }
        }
        if opset < minOpset || opset > maxOpset {
            throw EngineError.invalidModel("'\(name)' uses opset \(opset); Fovea supports opsets \(minOpset) to \(maxOpset)")
        }
        return try graph(model.graph, opset: opset, producer: model.producerName, baseDirectory: baseDirectory)
    }

    /// `subgraph`: the body of an If/Loop, whose nodes may read values of the enclosing graphs.
    static func graph(_ g: Onnx_GraphProto, opset: Int, producer: String, baseDirectory: URL?,
                      subgraph: Bool = false) throws -> Graph {
        var inits: [String: Tensor] = [:]
        for t in g.initializer { inits[t.name] = try tensor(t, baseDirectory: baseDirectory) }
        if !g.sparseInitializer.isEmpty { throw EngineError.invalidModel("sparse initializers are not supported") }
        var nodes: [Node] = []
        for n in g.node {
            var attrs: [String: Attribute] = [:]
            for a in n.attribute {
                if a.type == .graph || a.hasG {
                    attrs[a.name] = .graph(try graph(a.g, opset: opset, producer: producer, baseDirectory: baseDirectory,
                                                     subgraph: true))
                } else {
                    attrs[a.name] = try attribute(a, baseDirectory: baseDirectory)
                }
            }
            nodes.append(Node(name: n.name, opType: n.opType, domain: n.domain, inputs: n.input, outputs: n.output,
                              attributes: attrs))
        }
        let inputs = g.input.filter { inits[$0.name] == nil }.map(valueInfo)
        let outputs = g.output.map(valueInfo)
        var available = Set(inits.keys).union(inputs.map(\.name))
        if subgraph {
            // names no node of the body produces come from the enclosing graphs
            let produced = Set(nodes.flatMap(\.outputs))
            for n in nodes { for i in n.inputs + Array(n.outerReads) where !produced.contains(i) { available.insert(i) } }
        }
        let sorted = try topoSort(nodes, available: available)
        return Graph(nodes: sorted, initializers: inits, inputs: inputs, outputs: outputs, opset: opset,
                     producer: producer)
    }

    static func valueInfo(_ v: Onnx_ValueInfoProto) -> ValueInfo {
        guard v.hasType, case .tensorType(let tt)? = v.type.value else { return ValueInfo(name: v.name, dtype: nil, dims: nil) }
        let dims: [Dim]? = tt.hasShape ? tt.shape.dim.map { d in
            switch d.value {
            case .dimValue(let n)?: return .fixed(Int(n))
            case .dimParam(let s)?: return .symbolic(s)
            case nil: return .symbolic("")
            }
        } : nil
        return ValueInfo(name: v.name, dtype: dtypeFor(Int(tt.elemType)), dims: dims)
    }

    static func dtypeFor(_ code: Int) -> DType? {
        switch code {
        case 1, 10, 11, 16: return .float32            // FLOAT, FLOAT16, DOUBLE, BFLOAT16
        case 2, 3, 4, 5, 6, 7, 12, 13: return .int64   // the integer types
        case 9: return .bool
        default: return nil
        }
    }

    /// Converts a TensorProto (raw_data or the typed fields) to a Tensor.
    public static func tensor(_ t: Onnx_TensorProto, baseDirectory: URL? = nil) throws -> Tensor {
        if t.dataLocation == .external || !t.externalData.isEmpty {
            guard let base = baseDirectory else { throw EngineError.externalData(tensor: t.name) }
            var inline = t
            inline.rawData = try externalBytes(t, base: base)
            inline.dataLocation = .default
            inline.externalData = []
            return try tensor(inline)
        }
        let shape = t.dims.map { Int($0) }
        if shape.contains(where: { $0 < 0 }) { throw EngineError.invalidModel("tensor '\(t.name)' has a negative dimension") }
        let n = shape.product
        let code = Int(t.dataType)
        guard let dtype = dtypeFor(code) else {
            throw EngineError.invalidModel("tensor '\(t.name)' has data type \(code), which Fovea does not support "
                + "(float, float16, double, bfloat16, integers and bool are supported)")
        }
        let out = Tensor(zeros: shape, dtype: dtype)
        let sizes: [Int: Int] = [1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2]
        if t.hasRawData {
            let size = sizes[code]!
            guard t.rawData.count == n * size else {
                throw EngineError.invalidModel("tensor '\(t.name)' has \(t.rawData.count) bytes of raw data, shape \(shape) needs \(n * size)")
            }
            t.rawData.withUnsafeBytes { (p: UnsafeRawBufferPointer) in
                let b = p.baseAddress!
                for i in 0..<n {
                    let o = i * size
                    switch code {
                    case 1: out.f32[i] = b.loadUnaligned(fromByteOffset: o, as: Float.self)
                    case 10: out.f32[i] = Float(Float16(bitPattern: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                    case 16: out.f32[i] = Float(bitPattern: UInt32(b.loadUnaligned(fromByteOffset: o, as: UInt16.self)) << 16)
                    case 11: out.f32[i] = Float(b.loadUnaligned(fromByteOffset: o, as: Double.self))
                    case 2, 9: out.u8[i] = b.load(fromByteOffset: o, as: UInt8.self)
                    case 3: out.i64[i] = Int64(b.load(fromByteOffset: o, as: Int8.self))
                    case 4: out.i64[i] = Int64(b.loadUnaligned(fromByteOffset: o, as: UInt16.self))
                    case 5: out.i64[i] = Int64(b.loadUnaligned(fromByteOffset: o, as: Int16.self))
                    case 6: out.i64[i] = Int64(b.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    case 7: out.i64[i] = b.loadUnaligned(fromByteOffset: o, as: Int64.self)
                    case 12: out.i64[i] = Int64(b.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                    default: out.i64[i] = Int64(bitPattern: b.loadUnaligned(fromByteOffset: o, as: UInt64.self))
                    }
                }
            }
            if code == 2 { // uint8 was copied as bytes into an int64 tensor's first bytes: widen
                let bytes = (0..<n).map { out.u8[$0] }
                for i in 0..<n { out.i64[i] = Int64(bytes[i]) }
            }
            return out
        }
        func check(_ c: Int) throws {
            guard c == n else {
                throw EngineError.invalidModel("tensor '\(t.name)' holds \(c) values, shape \(shape) needs \(n)")
            }
        }
        switch code {
        case 1: try check(t.floatData.count); for i in 0..<n { out.f32[i] = t.floatData[i] }
        case 11: try check(t.doubleData.count); for i in 0..<n { out.f32[i] = Float(t.doubleData[i]) }
        case 10: try check(t.int32Data.count)
            for i in 0..<n { out.f32[i] = Float(Float16(bitPattern: UInt16(truncatingIfNeeded: t.int32Data[i]))) }
        case 16: try check(t.int32Data.count)
            for i in 0..<n { out.f32[i] = Float(bitPattern: UInt32(truncatingIfNeeded: t.int32Data[i]) << 16) }
        case 7: try check(t.int64Data.count); for i in 0..<n { out.i64[i] = t.int64Data[i] }
        case 12, 13: try check(t.uint64Data.count); for i in 0..<n { out.i64[i] = Int64(truncatingIfNeeded: t.uint64Data[i]) }
        case 9: try check(t.int32Data.count); for i in 0..<n { out.u8[i] = t.int32Data[i] != 0 ? 1 : 0 }
        default: try check(t.int32Data.count); for i in 0..<n { out.i64[i] = Int64(t.int32Data[i]) }
        }
        return out
    }

    /// Reads a tensor's bytes from its external file: a relative path inside the model's folder.
    static func externalBytes(_ t: Onnx_TensorProto, base: URL) throws -> Data {
        var kv: [String: String] = [:]
        for e in t.externalData { kv[e.key] = e.value }
        guard let loc = kv["location"], !loc.isEmpty, !loc.hasPrefix("/"), !loc.split(separator: "/").contains("..") else {
            throw EngineError.invalidModel("tensor '\(t.name)': external data location must be a relative path inside the model's folder")
        }
        let url = base.appendingPathComponent(loc)
        guard let fh = try? FileHandle(forReadingFrom: url) else {
            throw EngineError.invalidModel("tensor '\(t.name)': external data file '\(loc)' is missing beside the model")
        }
        defer { try? fh.close() }
        let offset = UInt64(kv["offset"] ?? "0") ?? 0
        try fh.seek(toOffset: offset)
        let data: Data
        if let l = kv["length"], let n = Int(l) { data = try fh.read(upToCount: n) ?? Data() } else { data = try fh.readToEnd() ?? Data() }
        if let l = kv["length"], let n = Int(l), data.count != n {
            throw EngineError.invalidModel("tensor '\(t.name)': external data file '\(loc)' is truncated (\(data.count) of \(n) bytes)")
        }
        return data
    }

    static func attribute(_ a: Onnx_AttributeProto, baseDirectory: URL? = nil) throws -> Attribute {
        switch a.type {
        case .int: return .int(Int(a.i))
        case .float: return .float(a.f)
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .ints: return .ints(a.ints.map { Int($0) })
        case .floats: return .floats(a.floats)
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor: return .tensor(try tensor(a.t, baseDirectory: baseDirectory))
        default:
            // Older exporters may omit `type`; infer it from the field that is set.
            if a.hasI { return .int(Int(a.i)) }
            if a.hasF { return .float(a.f) }
            if a.hasS { return .string(String(decoding: a.s, as: UTF8.self)) }
            if a.hasT { return .tensor(try tensor(a.t)) }
            if !a.ints.isEmpty { return .ints(a.ints.map { Int($0) }) }
            if !a.floats.isEmpty { return .floats(a.floats) }
            return .unsupported("attribute type \(a.type)")
        }
    }

    /// Orders nodes so that every input is produced before use (ONNX requires it; some exporters slip).
    static func topoSort(_ nodes: [Node], available: Set<String>) throws -> [Node] {
        var have = available
        have.insert("")
        var done = [Bool](repeating: false, count: nodes.count)
        var out: [Node] = []
        out.reserveCapacity(nodes.count)
        var progress = true
        // a node whose subgraphs read outer values runs after their producers too
        let deps = nodes.map { $0.subgraphs.isEmpty ? $0.inputs : $0.inputs + Array($0.outerReads) }
        while out.count < nodes.count && progress {
            progress = false
            for (i, n) in nodes.enumerated() where !done[i] {
                if deps[i].allSatisfy({ have.contains($0) }) {
                    done[i] = true
                    out.append(n)
                    for o in n.outputs { have.insert(o) }
                    progress = true
                }
            }
        }
        if out.count < nodes.count {
            let stuck = nodes.indices.first { !done[$0] }!
            let missing = deps[stuck].filter { !have.contains($0) }
            throw EngineError.invalidModel("node '\(nodes[stuck].label)' (\(nodes[stuck].opType)) uses "
                + "\(missing.joined(separator: ", ")), which no node, input or initializer provides (or the graph has a cycle)")
        }
        return out
    }
}

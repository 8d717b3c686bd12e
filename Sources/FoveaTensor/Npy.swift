import Foundation

public enum NpyError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): return "invalid .npy file: \(m)" }
    }
}

/// Reads and writes NumPy `.npy` files (format 1.0/2.0/3.0, C order, little endian).
/// float32/int64/bool are stored as they are; float64/float16 become float32, other integers int64.
public enum Npy {
    public static func read(_ url: URL) throws -> Tensor {
        try decode(Data(contentsOf: url))
    }

    public static func decode(_ data: Data) throws -> Tensor {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw NpyError.invalid("missing the \\x93NUMPY magic")
        }
        let major = bytes[6]
        var headerLen: Int
        var start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw NpyError.invalid("truncated header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard start + headerLen <= bytes.count,
              let header = String(bytes: bytes[start..<start + headerLen], encoding: .utf8) else {
            throw NpyError.invalid("truncated header")
        }
        let descr = try field(header, "descr")
        let fortran = try field(header, "fortran_order")
        guard fortran.hasPrefix("False") else { throw NpyError.invalid("Fortran order is not supported") }
        let shapeText = try field(header, "shape")
        guard let open = shapeText.firstIndex(of: "("), let close = shapeText.firstIndex(of: ")") else {
            throw NpyError.invalid("bad shape in header")
        }
        let shape = try shapeText[shapeText.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { s -> Int in
                guard let v = Int(s), v >= 0 else { throw NpyError.invalid("bad dimension '\(s)'") }
                return v
            }
        let d = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        guard d.first != ">" || d.dropFirst().first == "1" else {
            throw NpyError.invalid("big-endian data (\(d)) is not supported")
        }
        let code = String(d.drop(while: { "<>|=".contains($0) }))
        let body = start + headerLen
        let n = shape.product
        func need(_ size: Int) throws {
            guard bytes.count - body >= n * size else {
                throw NpyError.invalid("data holds \(bytes.count - body) bytes, shape \(shape) needs \(n * size)")
            }
        }
        return try bytes.withUnsafeBytes { raw -> Tensor in
            let p = raw.baseAddress! + body
            switch code {
            case "f4":
                try need(4); let t = Tensor(zeros: shape, dtype: .float32)
                t.raw.copyMemory(from: p, byteCount: n * 4); return t
            case "f8":
                try need(8); let t = Tensor(zeros: shape, dtype: .float32)
                for i in 0..<n { t.f32[i] = Float(p.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
                return t
            case "f2":
                try need(2); let t = Tensor(zeros: shape, dtype: .float32)
                for i in 0..<n {
                    t.f32[i] = Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
                return t
            case "i8":
                try need(8); let t = Tensor(zeros: shape, dtype: .int64)
                t.raw.copyMemory(from: p, byteCount: n * 8); return t
            case "i4", "u4", "i2", "u2", "i1", "u1":
                let size = Int(code.dropFirst())!
                try need(size); let t = Tensor(zeros: shape, dtype: .int64)
                for i in 0..<n {
                    let o = i * size
                    switch code {
                    case "i4": t.i64[i] = Int64(p.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    case "u4": t.i64[i] = Int64(p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
                    case "i2": t.i64[i] = Int64(p.loadUnaligned(fromByteOffset: o, as: Int16.self))
                    case "u2": t.i64[i] = Int64(p.loadUnaligned(fromByteOffset: o, as: UInt16.self))
                    case "i1": t.i64[i] = Int64(p.loadUnaligned(fromByteOffset: o, as: Int8.self))
                    default: t.i64[i] = Int64(p.load(fromByteOffset: o, as: UInt8.self))
                    }
                }
                return t
            case "b1":
                try need(1); let t = Tensor(zeros: shape, dtype: .bool)
                t.raw.copyMemory(from: p, byteCount: n); return t
            default:
                throw NpyError.invalid("dtype '\(d)' is not supported (float32/float64/float16/int/bool are)")
            }
        }
    }

    private static func field(_ header: String, _ key: String) throws -> String {
        guard let r = header.range(of: "'\(key)':") else { throw NpyError.invalid("header has no '\(key)'") }
        return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
            .components(separatedBy: key == "shape" ? "\n" : ",")[0]
    }

    public static func encode(_ t: Tensor) -> Data {
        let descr: String
        switch t.dtype {
        case .float32: descr = "<f4"
        case .int64: descr = "<i8"
        case .bool: descr = "|b1"
        }
        let shapeText = t.shape.isEmpty ? "()" : t.shape.count == 1 ? "(\(t.shape[0]),)"
            : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let len = header.utf8.count
        data.append(contentsOf: [UInt8(len & 0xff), UInt8(len >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(bytes: t.raw, count: t.byteCount))
        return data
    }

    public static func write(_ t: Tensor, to url: URL) throws {
        try encode(t).write(to: url, options: .atomic)
    }
}

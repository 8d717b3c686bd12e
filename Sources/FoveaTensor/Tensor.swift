import Foundation

/// Element types the engine stores. Integer ONNX types are widened to int64 and floating types
/// narrowed/widened to float32 on import; bool is one byte per element.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32, int64, bool
    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .int64: return 8
        case .bool: return 1
        }
    }
    public var description: String { rawValue }
}

/// Owns one block of 64-byte aligned memory; freed when the last tensor viewing it goes away.
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    public init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
    }
    deinit { base.deallocate() }
}

/// A dense row-major tensor: a typed view into a `Storage` at a byte offset.
/// Copying a `Tensor` copies the view, not the data; kernels write through the pointers.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public var shape: [Int]
    public let dtype: DType
    public let storage: Storage
    public let offset: Int

    public init(shape: [Int], dtype: DType = .float32, storage: Storage, offset: Int = 0) {
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.offset = offset
        precondition(offset + shape.product * dtype.byteSize <= max(storage.byteCount, 64),
                     "tensor view exceeds its storage")
    }

    /// A new zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .float32) {
        let bytes = shape.product * dtype.byteSize
        let s = Storage(byteCount: bytes)
        s.base.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 64))
        self.init(shape: shape, dtype: dtype, storage: s)
    }

    /// A new tensor whose contents are not initialised (the caller writes every element).
    public init(uninitialized shape: [Int], dtype: DType = .float32) {
        self.init(shape: shape, dtype: dtype, storage: Storage(byteCount: shape.product * dtype.byteSize))
    }

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.product == floats.count, "shape \(shape) does not hold \(floats.count) values")
        self.init(zeros: shape, dtype: .float32)
        floats.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { self.f32.update(from: b, count: floats.count) }
        }
    }

    public init(shape: [Int], int64s: [Int64]) {
        precondition(shape.product == int64s.count, "shape \(shape) does not hold \(int64s.count) values")
        self.init(zeros: shape, dtype: .int64)
        int64s.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { self.i64.update(from: b, count: int64s.count) }
        }
    }

    public init(shape: [Int], bools: [Bool]) {
        precondition(shape.product == bools.count)
        self.init(zeros: shape, dtype: .bool)
        for (i, b) in bools.enumerated() { self.u8[i] = b ? 1 : 0 }
    }

    public var count: Int { shape.product }
    public var rank: Int { shape.count }
    public var byteCount: Int { count * dtype.byteSize }
    public var raw: UnsafeMutableRawPointer { storage.base + offset }
    public var f32: UnsafeMutablePointer<Float> { raw.assumingMemoryBound(to: Float.self) }
    public var i64: UnsafeMutablePointer<Int64> { raw.assumingMemoryBound(to: Int64.self) }
    public var u8: UnsafeMutablePointer<UInt8> { raw.assumingMemoryBound(to: UInt8.self) }

    public var floats: [Float] { Array(UnsafeBufferPointer(start: f32, count: count)) }
    public var int64s: [Int64] { Array(UnsafeBufferPointer(start: i64, count: count)) }
    public var bools: [Bool] { (0..<count).map { u8[$0] != 0 } }

    /// Integer view of a small int64 (or bool) tensor, used for shapes, axes and indices.
    public var ints: [Int] {
        switch dtype {
        case .int64: return (0..<count).map { Int(i64[$0]) }
        case .bool: return (0..<count).map { Int(u8[$0]) }
        case .float32: return (0..<count).map { Int(f32[$0]) }
        }
    }

    /// Same data, another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.product == count)
        return Tensor(shape: newShape, dtype: dtype, storage: storage, offset: offset)
    }

    /// A deep copy in fresh storage.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape, dtype: dtype)
        t.raw.copyMemory(from: raw, byteCount: byteCount)
        return t
    }

    public func zero() { raw.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }

    public func copy(from other: Tensor) {
        precondition(other.byteCount == byteCount && other.dtype == dtype)
        raw.copyMemory(from: other.raw, byteCount: byteCount)
    }

    public var description: String { "Tensor<\(dtype)>\(shape)" }
}

extension Array where Element == Int {
    /// Product of the elements (1 for an empty shape: a scalar holds one value).
    @inlinable public var product: Int { reduce(1, *) }
}

/// Strides of a row-major shape.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        s[i] = acc
        acc *= shape[i]
    }
    return s
}

/// Numpy broadcasting of two shapes; nil when they are incompatible.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

import Foundation

/// CRC-32C (Castagnoli), as TFRecord frames use it.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
    /// TFRecord's masked CRC: rotate right by 15 and add a constant.
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

/// One TFRecord file read record by record. A frame is `uint64 length, uint32 masked_crc(length), data,
/// uint32 masked_crc(data)` (little-endian). A record whose data CRC fails is reported and skipped; a length whose
/// CRC fails makes the reader search forward for the next frame whose length and data CRCs both hold.
public struct TFRecordReader {
    public struct Record { public var index: Int; public var offset: Int; public var data: Data }
    public struct Problem { public var offset: Int; public var reason: String }

    public static func read(_ bytes: Data) -> (records: [Record], problems: [Problem]) {
        var records: [Record] = [], problems: [Problem] = []
        let b = [UInt8](bytes)
        var pos = 0
        var index = 0
        func u32(_ p: Int) -> UInt32 { UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24 }
        func u64(_ p: Int) -> UInt64 { UInt64(u32(p)) | UInt64(u32(p + 4)) << 32 }
        /// A complete, valid frame at p: its data length.
        func validFrame(_ p: Int) -> Int? {
            guard p + 12 <= b.count, CRC32C.masked(b[p..<p + 8]) == u32(p + 8) else { return nil }
            let len = u64(p)
            guard len <= UInt64(b.count - p - 16) else { return nil }
            let n = Int(len)
            return CRC32C.masked(b[p + 12..<p + 12 + n]) == u32(p + 12 + n) ? n : nil
        }
        while pos < b.count {
            guard pos + 12 <= b.count else {
                problems.append(Problem(offset: pos, reason: "record \(index) at byte \(pos): truncated frame header (\(b.count - pos) bytes left)"))
                break
            }
            if CRC32C.masked(b[pos..<pos + 8]) == u32(pos + 8) {
                let len = u64(pos)
                if len > UInt64(b.count - pos - 12) || b.count - pos - 12 - Int(len) < 4 {
                    problems.append(Problem(offset: pos, reason: "record \(index) at byte \(pos): truncated (length \(len), \(b.count - pos - 12) bytes left)"))
                    break
                }
                let n = Int(len)
                if CRC32C.masked(b[pos + 12..<pos + 12 + n]) == u32(pos + 12 + n) {
                    records.append(Record(index: index, offset: pos + 12, data: Data(b[pos + 12..<pos + 12 + n])))
                } else {
                    problems.append(Problem(offset: pos, reason: "record \(index) at byte \(pos): data CRC32C mismatch; record skipped"))
                }
                index += 1
                pos += 16 + n
                continue
            }
            // the length is corrupt: find the next frame that checks out whole
            var next = pos + 1
            while next + 16 <= b.count && validFrame(next) == nil { next += 1 }
            if next + 16 > b.count {
                problems.append(Problem(offset: pos, reason: "record \(index) at byte \(pos): length CRC32C mismatch and no valid record after it"))
                break
            }
            problems.append(Problem(offset: pos, reason: "record \(index) at byte \(pos): length CRC32C mismatch; skipped \(next - pos) bytes to the next valid record"))
            index += 1
            pos = next
        }
        return (records, problems)
    }
}

/// The parts of a `tf.Example` a classifier dataset uses: bytes and int64 features by key, with the byte offset
/// of each bytes value inside the record (so a worker can read an image straight from the file).
public struct TFExample {
    public var bytes: [String: [(offset: Int, value: Data)]] = [:]
    public var int64s: [String: [Int64]] = [:]

    public init(parsing d: Data) throws {
        let b = [UInt8](d)
        var r = ProtoReader(b, 0, b.count)
        while let (field, wire) = try r.tag() {
            if field == 1 && wire == 2 {  // Example.features
                let (s, e) = try r.lengthDelimited()
                var f = ProtoReader(b, s, e)
                while let (ff, fw) = try f.tag() {
                    if ff == 1 && fw == 2 {  // Features.feature map entry
                        let (ms, me) = try f.lengthDelimited()
                        try parseEntry(b, ms, me)
                    } else { try f.skip(fw) }
                }
            } else { try r.skip(wire) }
        }
    }

    private mutating func parseEntry(_ b: [UInt8], _ s: Int, _ e: Int) throws {
        var r = ProtoReader(b, s, e)
        var key = ""
        var feature: (Int, Int)?
        while let (f, w) = try r.tag() {
            if f == 1 && w == 2 { let (a, z) = try r.lengthDelimited(); key = String(decoding: b[a..<z], as: UTF8.self) }
            else if f == 2 && w == 2 { feature = try r.lengthDelimited() }
            else { try r.skip(w) }
        }
        guard let (fs, fe) = feature else { return }
        var fr = ProtoReader(b, fs, fe)
        while let (f, w) = try fr.tag() {
            guard w == 2 else { try fr.skip(w); continue }
            let (ls, le) = try fr.lengthDelimited()
            var lr = ProtoReader(b, ls, le)
            switch f {
            case 1:  // BytesList
                while let (vf, vw) = try lr.tag() {
                    if vf == 1 && vw == 2 { let (a, z) = try lr.lengthDelimited(); bytes[key, default: []].append((a, Data(b[a..<z]))) }
                    else { try lr.skip(vw) }
                }
            case 3:  // Int64List, packed or not
                while let (vf, vw) = try lr.tag() {
                    if vf == 1 && vw == 2 {
                        let (a, z) = try lr.lengthDelimited()
                        var pr = ProtoReader(b, a, z)
                        while pr.pos < z { int64s[key, default: []].append(Int64(bitPattern: try pr.varint())) }
                    } else if vf == 1 && vw == 0 {
                        int64s[key, default: []].append(Int64(bitPattern: try lr.varint()))
                    } else { try lr.skip(vw) }
                }
            default: break  // FloatList and unknown kinds are not used here
            }
        }
    }
}

/// Protocol-buffer wire format, just enough for tf.Example.
struct ProtoReader {
    let b: [UInt8]
    var pos: Int
    let end: Int
    init(_ b: [UInt8], _ s: Int, _ e: Int) { self.b = b; pos = s; end = e }
    struct Malformed: Error, CustomStringConvertible { let description: String }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < end, shift < 64 else { throw Malformed(description: "not a tf.Example (bad varint)") }
            let c = b[pos]; pos += 1
            v |= UInt64(c & 0x7F) << shift
            if c & 0x80 == 0 { return v }
            shift += 7
        }
    }
    mutating func tag() throws -> (Int, Int)? {
        guard pos < end else { return nil }
        let t = try varint()
        return (Int(t >> 3), Int(t & 7))
    }
    mutating func lengthDelimited() throws -> (Int, Int) {
        let n = try varint()
        guard n <= UInt64(end - pos) else { throw Malformed(description: "not a tf.Example (a field runs past the record)") }
        let s = pos; pos += Int(n)
        return (s, pos)
    }
    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard pos + 8 <= end else { throw Malformed(description: "not a tf.Example") }; pos += 8
        case 2: _ = try lengthDelimited()
        case 5: guard pos + 4 <= end else { throw Malformed(description: "not a tf.Example") }; pos += 4
        default: throw Malformed(description: "not a tf.Example (wire type \(wire))")
        }
    }
}

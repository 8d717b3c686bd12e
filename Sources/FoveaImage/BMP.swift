import Foundation

/// BMP (Windows and OS/2 headers): 1/4/8-bit palettes, 16-bit 5-5-5 or bit fields, 24-bit BGR,
/// 32-bit BGRX or bit fields, bottom-up or top-down. Alpha is dropped as Pillow's convert("RGB") does.
/// RLE and embedded JPEG/PNG compression are rejected with a clear error.
enum BMPDecoder {
    static func decode(_ data: Data, maxPixels: Int) throws -> RGBImage {
        let b = [UInt8](data)
        func fail(_ m: String) -> ImageError { .corrupt(format: "BMP", message: m) }
        func u16(_ o: Int) throws -> Int {
            guard o + 2 <= b.count else { throw fail("header is truncated") }
            return Int(b[o]) | Int(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int {
            guard o + 4 <= b.count else { throw fail("header is truncated") }
            return Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24
        }
        func i32(_ o: Int) throws -> Int { Int(Int32(bitPattern: UInt32(try u32(o)))) }

        let dataOffset = try u32(10)
        let headerSize = try u32(14)
        var width: Int, height: Int, bpp: Int, compression = 0, colorsUsed = 0
        var paletteEntrySize = 4
        switch headerSize {
        case 12:
            width = try u16(18); height = Int(Int16(bitPattern: UInt16(try u16(20)))); bpp = try u16(24)
            paletteEntrySize = 3
        case 40, 52, 56, 64, 108, 124:
            width = try i32(18); height = try i32(22); bpp = try u16(28)
            compression = try u32(30); colorsUsed = try u32(46)
        default:
            throw fail("unknown header size \(headerSize)")
        }
        let topDown = height < 0
        height = abs(height)
        guard width > 0, height > 0 else { throw fail("image size \(width)x\(height)") }
        if max(1, width) * max(1, height) > maxPixels {
            throw ImageError.tooLarge(width: width, height: height, limit: maxPixels)
        }
        switch compression {
        case 0, 3, 6: break
        case 1, 2: throw ImageError.unsupported(format: "BMP", message: "RLE compression is not supported")
        case 4, 5: throw ImageError.unsupported(format: "BMP", message: "embedded JPEG/PNG compression is not supported")
        default: throw fail("unknown compression \(compression)")
        }
        guard [1, 4, 8, 16, 24, 32].contains(bpp) else { throw ImageError.unsupported(format: "BMP", message: "\(bpp) bits per pixel") }

        // channel masks for 16/32-bit
        var masks: [Int] = bpp == 16 ? [0x7C00, 0x03E0, 0x001F] : [0xFF0000, 0x00FF00, 0x0000FF]
        if compression == 3 || compression == 6 {
            let base = headerSize >= 52 ? 14 + 40 : 14 + headerSize
            masks = [try u32(base), try u32(base + 4), try u32(base + 8)]
            if masks == [0, 0, 0] { masks = [0xFF0000, 0x00FF00, 0x0000FF] }
        }
        let shifts = masks.map { m -> Int in m == 0 ? 0 : m.trailingZeroBitCount }
        let maxes = zip(masks, shifts).map { m, s in m >> s }

        var palette: [(UInt8, UInt8, UInt8)] = []
        if bpp <= 8 {
            let n = colorsUsed > 0 ? min(colorsUsed, 1 << bpp) : 1 << bpp
            let start = 14 + headerSize + ((compression == 3 && headerSize == 40) ? 12 : 0)
            for i in 0..<n {
                let o = start + i * paletteEntrySize
                guard o + 3 <= b.count else { break }
                palette.append((b[o + 2], b[o + 1], b[o]))
            }
        }
        let stride = ((bpp * width + 31) / 32) * 4
        guard dataOffset >= 0, dataOffset + stride * height <= b.count else {
            throw fail("pixel data is truncated (\(b.count) bytes, \(dataOffset + stride * height) needed)")
        }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let src = dataOffset + (topDown ? row : height - 1 - row) * stride
            var d = row * width * 3
            for x in 0..<width {
                var r: UInt8 = 0, g: UInt8 = 0, bl: UInt8 = 0
                switch bpp {
                case 24:
                    let o = src + x * 3
                    bl = b[o]; g = b[o + 1]; r = b[o + 2]
                case 32, 16:
                    let v = bpp == 32 ? Int(b[src + x * 4]) | Int(b[src + x * 4 + 1]) << 8 | Int(b[src + x * 4 + 2]) << 16
                        | Int(b[src + x * 4 + 3]) << 24 : Int(b[src + x * 2]) | Int(b[src + x * 2 + 1]) << 8
                    var c = [UInt8](repeating: 0, count: 3)
                    for k in 0..<3 where maxes[k] > 0 {
                        let raw = (v & masks[k]) >> shifts[k]
                        c[k] = UInt8(maxes[k] == 255 ? raw : raw * 255 / maxes[k])
                    }
                    r = c[0]; g = c[1]; bl = c[2]
                default:
                    let bitPos = x * bpp
                    let byte = Int(b[src + bitPos / 8])
                    let idx = (byte >> (8 - bpp - bitPos % 8)) & ((1 << bpp) - 1)
                    if idx < palette.count { (r, g, bl) = palette[idx] }
                }
                out[d] = r; out[d + 1] = g; out[d + 2] = bl
                d += 3
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

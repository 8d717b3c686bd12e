import CImageShim
import Foundation

/// Decodes JPEG, PNG and BMP bytes (the format is sniffed from the bytes, never from a file name)
/// to RGB exactly as Pillow's `Image.open(...).convert("RGB")` does.
public enum ImageDecoder {
    /// Pillow's MAX_IMAGE_PIXELS.
    public static let defaultMaxPixels = 89_478_485

    public enum Format: String, Sendable { case jpeg, png, bmp }

    public static func sniff(_ data: Data) -> Format? {
        let b = [UInt8](data.prefix(8))
        if b.count >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF { return .jpeg }
        if b.count >= 8 && b == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if b.count >= 2 && b[0] == 0x42 && b[1] == 0x4D { return .bmp }
        return nil
    }

    public static func decode(_ data: Data, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        if data.isEmpty { throw ImageError.empty }
        guard let format = sniff(data) else {
            let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageError.unknownFormat(firstBytes: head)
        }
        switch format {
        case .bmp: return try BMPDecoder.decode(data, maxPixels: maxPixels)
        case .jpeg, .png:
            return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
                let p = raw.bindMemory(to: UInt8.self).baseAddress!
                var out: UnsafeMutablePointer<UInt8>? = nil
                var w: Int32 = 0, h: Int32 = 0
                var msg = [CChar](repeating: 0, count: 256)
                let rc = format == .jpeg
                    ? fovea_decode_jpeg(p, data.count, UInt64(maxPixels), &out, &w, &h, &msg, msg.count)
                    : fovea_decode_png(p, data.count, UInt64(maxPixels), &out, &w, &h, &msg, msg.count)
                defer { fovea_free(out) }
                if rc == -2 { throw ImageError.tooLarge(width: Int(w), height: Int(h), limit: maxPixels) }
                guard rc == 0, let out else {
                    let m = msg.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                    throw ImageError.corrupt(format: format.rawValue.uppercased(), message: m.isEmpty ? "decoding failed" : m)
                }
                return RGBImage(width: Int(w), height: Int(h), pixels: Array(UnsafeBufferPointer(start: out, count: Int(w) * Int(h) * 3)))
            }
        }
    }

    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(Data(contentsOf: url), maxPixels: maxPixels)
    }
}

/// PNG encoding (for the explanation figures and tests).
public enum PNGEncoder {
    public static func encode(_ img: RGBImage) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var len = 0
        var msg = [CChar](repeating: 0, count: 256)
        let rc = img.pixels.withUnsafeBufferPointer {
            fovea_encode_png($0.baseAddress, Int32(img.width), Int32(img.height), 3, &out, &len, &msg, msg.count)
        }
        defer { fovea_free(out) }
        guard rc == 0, let out else {
            throw ImageError.corrupt(format: "PNG", message: msg.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        return Data(bytes: out, count: len)
    }
}

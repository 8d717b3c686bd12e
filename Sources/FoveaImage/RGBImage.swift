import Foundation

/// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel (what Pillow's `convert("RGB")` holds).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB buffer size does not match \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Why an image could not be used; each says what to do about it.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case empty
    case unknownFormat(firstBytes: String)
    case tooLarge(width: Int, height: Int, limit: Int)
    case corrupt(format: String, message: String)
    case unsupported(format: String, message: String)

    public var description: String {
        switch self {
        case .empty: return "the image is empty (0 bytes)"
        case .unknownFormat(let b): return "not a JPEG, PNG or BMP image (it starts with \(b))"
        case .tooLarge(let w, let h, let limit):
            return "image is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit) pixels (a decompression-bomb guard; raise it with --max-pixels)"
        case .corrupt(let f, let m): return "corrupt \(f) image: \(m)"
        case .unsupported(let f, let m): return "unsupported \(f) image: \(m)"
        }
    }
}

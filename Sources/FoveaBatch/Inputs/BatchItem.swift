import Foundation

/// One image of a batch job, as the input listing found it. Items are numbered in input order; mini-batch m holds
/// items [m*B, (m+1)*B), so a job's work is fixed once its manifest is written.
public struct BatchItem: Codable, Equatable, Sendable {
    /// The image's name in output lines (`filename`): the path as the input gave it.
    public var name: String
    /// The file that holds the bytes (absolute).
    public var path: String
    /// A slice of `path` (a TFRecord value, a Google JSON line); nil = the whole file.
    public var offset: Int?
    public var length: Int?
    /// nil: raw image bytes; "google-json": a Google batch-prediction line whose `image_bytes.b64` holds the image.
    public var encoding: String?
    /// Ground truth: label names (one for multiclass, several for multilabel).
    public var labels: [String]?
    /// Ground truth as a class index (TFRecord `image/class/label` k is class k-1), named at finalize time.
    public var labelIndex: Int?
    /// Google's `key`, as raw JSON text so it is written back exactly as given.
    public var key: String?
    /// AutoML JSONL: the `image_url` and `image_details` as given (pre-label output keeps them).
    public var imageURL: String?
    public var imageDetails: String?
    /// Detection ground truth (COCO, VOC, AutoML JSONL boxes), kept for detection metrics.
    public var boxes: [GroundTruthBox]?
    /// Unique output stem for explanation files (`explanations/<stem>.png`).
    public var stem: String
    /// Where the item came from, for messages: "file.jsonl:12", "train.tfrecord record 3".
    public var origin: String?

    public init(name: String, path: String, stem: String = "") {
        self.name = name
        self.path = path
        self.stem = stem
    }
}

/// A ground-truth box, normalised to [0, 1] by the image size (as AutoML writes boxes), with its label.
public struct GroundTruthBox: Codable, Equatable, Sendable {
    public var label: String
    public var x1: Double, y1: Double, x2: Double, y2: Double
    public var difficult: Bool?
    public var crowd: Bool?
}

/// Something the input listing could not turn into an item (or noticed about one): one line of job.json.
public struct InputProblem: Codable, Equatable, Sendable {
    /// "skipped" (not an image: not counted as a failure) or "failed" (counted toward --error-threshold) or "warning".
    public var kind: String
    public var source: String
    public var reason: String
}

/// The listing of a job's inputs: the items and the problems found while listing them.
public struct Manifest: Codable, Equatable, Sendable {
    public var format: String
    public var items: [BatchItem]
    public var problems: [InputProblem]
}

import Foundation

/// Detection quality from ground-truth boxes and a job's boxes: COCO's mAP@[.5:.95], AP50 and AP75 exactly as
/// pycocotools' COCOeval computes them for bounding boxes (area "all", 100 detections per image and class,
/// crowd and VOC "difficult" boxes ignored, 101 recall points), and Pascal VOC's mAP@0.5 (all-points
/// interpolation, difficult boxes ignored). Boxes are normalised to [0, 1]: IoU does not change when x and y
/// are scaled by the image width and height.
public enum DetectionMetrics {
    public struct Box {
        public var x1, y1, x2, y2: Double
        public var area: Double { max(0, x2 - x1) * max(0, y2 - y1) }
    }
    public struct Truth { public var box: Box; public var cls: Int; public var ignore: Bool; public var crowd: Bool }
    public struct Detection { public var box: Box; public var cls: Int; public var score: Double }

    /// One image's ground truth and detections.
    public struct Image { public var truth: [Truth]; public var detections: [Detection] }

    static func iou(_ d: Box, _ g: Box, crowd: Bool) -> Double {
        let w = min(d.x2, g.x2) - max(d.x1, g.x1), h = min(d.y2, g.y2) - max(d.y1, g.y1)
        if w <= 0 || h <= 0 { return 0 }
        let inter = w * h
        let union = crowd ? d.area : d.area + g.area - inter
        return union <= 0 ? 0 : inter / union
    }

    public static let iouThresholds: [Double] = (0..<10).map { 0.5 + 0.05 * Double($0) }
    static let recallPoints: [Double] = (0...100).map { Double($0) / 100 }

    /// COCOeval.evaluate + accumulate for one class: precision[t][r] (nil when the class has no ground truth).
    static func cocoPrecision(_ images: [Image], cls: Int, maxDets: Int = 100) -> [[Double]]? {
        var scores: [Double] = [], matched: [[Bool]] = [], ignoredDet: [[Bool]] = []
        var positives = 0
        let nT = iouThresholds.count
        for img in images {
            // ground truth: not ignored first (stable), as COCOeval sorts by its ignore flag
            let gts = img.truth.filter { $0.cls == cls }
            let gt = gts.filter { !$0.ignore } + gts.filter { $0.ignore }
            let dets = img.detections.enumerated().filter { $0.element.cls == cls }
                .sorted { $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset }
                .prefix(maxDets).map(\.element)
            if gt.isEmpty && dets.isEmpty { continue }
            positives += gt.filter { !$0.ignore }.count
            var dtm = Array(repeating: Array(repeating: false, count: dets.count), count: nT)
            var dtIg = dtm
            var gtm = Array(repeating: Array(repeating: false, count: gt.count), count: nT)
            let ious = dets.map { d in gt.map { g in iou(d.box, g.box, crowd: g.crowd) } }
            for t in 0..<nT {
                for (di, _) in dets.enumerated() {
                    var best = min(iouThresholds[t], 1 - 1e-10)
                    var m = -1
                    for (gi, g) in gt.enumerated() {
                        if gtm[t][gi] && !g.crowd { continue }
                        if m > -1 && !gt[m].ignore && g.ignore { break }
                        if ious[di][gi] < best { continue }
                        best = ious[di][gi]
                        m = gi
                    }
                    if m == -1 { continue }
                    dtIg[t][di] = gt[m].ignore
                    dtm[t][di] = true
                    gtm[t][m] = true
                }
            }
            for (di, d) in dets.enumerated() {
                scores.append(d.score)
                matched.append((0..<nT).map { dtm[$0][di] })
                ignoredDet.append((0..<nT).map { dtIg[$0][di] })
            }
        }
        guard positives > 0 else { return nil }
        // all detections of the class by score (numpy's mergesort on -score: stable)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var precision: [[Double]] = []
        for t in 0..<nT {
            var tp = 0.0, fp = 0.0
            var rc: [Double] = [], pr: [Double] = []
            for k in order {
                if ignoredDet[k][t] { rc.append(tp / Double(positives)); pr.append(tp / (tp + fp + Double.ulpOfOne)); continue }
                if matched[k][t] { tp += 1 } else { fp += 1 }
                rc.append(tp / Double(positives))
                pr.append(tp / (tp + fp + Double.ulpOfOne))
            }
            if pr.count > 1 { for i in stride(from: pr.count - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
            precision.append(recallPoints.map { r in
                // numpy.searchsorted(rc, r, side="left")
                var lo = 0, hi = rc.count
                while lo < hi { let mid = (lo + hi) / 2; if rc[mid] < r { lo = mid + 1 } else { hi = mid } }
                return lo < pr.count ? pr[lo] : 0
            })
        }
        return precision
    }

    /// Pascal VOC AP at IoU 0.5 for one class (all-points interpolation); nil without ground truth.
    static func vocAP(_ images: [Image], cls: Int) -> Double? {
        var dets: [(img: Int, d: Detection)] = []
        var positives = 0
        for (i, img) in images.enumerated() {
            positives += img.truth.filter { $0.cls == cls && !$0.ignore }.count
            for d in img.detections where d.cls == cls { dets.append((i, d)) }
        }
        guard positives > 0 else { return nil }
        dets = dets.enumerated().sorted { $0.element.d.score != $1.element.d.score ? $0.element.d.score > $1.element.d.score : $0.offset < $1.offset }.map(\.element)
        var used = images.map { img in [Bool](repeating: false, count: img.truth.count) }
        var tp = 0.0, fp = 0.0
        var rec: [Double] = [], prec: [Double] = []
        for (i, d) in dets {
            var best = -1.0, j = -1
            for (gi, g) in images[i].truth.enumerated() where g.cls == cls {
                let o = iou(d.box, g.box, crowd: false)
                if o > best { best = o; j = gi }
            }
            if best > 0.5 {
                if images[i].truth[j].ignore { continue }
                if !used[i][j] { tp += 1; used[i][j] = true } else { fp += 1 }
            } else { fp += 1 }
            rec.append(tp / Double(positives))
            prec.append(tp / max(tp + fp, Double.leastNonzeroMagnitude))
        }
        let mrec = [0] + rec + [1]
        var mpre = [0] + prec + [0]
        for i in stride(from: mpre.count - 2, through: 0, by: -1) { mpre[i] = max(mpre[i], mpre[i + 1]) }
        var ap = 0.0
        for i in 1..<mrec.count where mrec[i] != mrec[i - 1] { ap += (mrec[i] - mrec[i - 1]) * mpre[i] }
        return ap
    }

    /// metrics.json for a detection job.
    public static func evaluate(_ images: [Image], labels: [String]) -> [String: Any] {
        var perClass: [[String: Any]] = []
        var all: [Double] = [], at50: [Double] = [], at75: [Double] = [], voc: [Double] = []
        for c in labels.indices {
            guard let p = cocoPrecision(images, cls: c) else { continue }
            let ap = p.flatMap { $0 }.reduce(0, +) / Double(p.count * recallPoints.count)
            let ap50 = p[0].reduce(0, +) / Double(recallPoints.count), ap75 = p[5].reduce(0, +) / Double(recallPoints.count)
            let v = vocAP(images, cls: c) ?? 0
            all.append(contentsOf: p.flatMap { $0 }); at50.append(contentsOf: p[0]); at75.append(contentsOf: p[5]); voc.append(v)
            let support = images.reduce(0) { $0 + $1.truth.filter { $0.cls == c && !$0.ignore }.count }
            perClass.append(["label": labels[c], "index": c, "ap": ap, "ap50": ap50, "ap75": ap75, "voc_ap50": v, "support": support])
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? -1 : v.reduce(0, +) / Double(v.count) }
        return ["task": "object-detection", "images": images.count,
                "map": mean(all), "map_50": mean(at50), "map_75": mean(at75), "voc_map_50": mean(voc),
                "classes_evaluated": perClass.count, "per_class": perClass,
                "definition": "map/map_50/map_75: COCOeval bbox (pycocotools) at IoU .50:.95/.50/.75, area all, 100 detections; "
                    + "voc_map_50: Pascal VOC all-points AP at IoU > 0.5; crowd and difficult boxes ignored"]
    }
}

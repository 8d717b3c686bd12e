import Foundation

/// Quality metrics from ground truth and predicted probabilities, defined as scikit-learn defines them
/// (`accuracy_score`, `top_k_accuracy_score`, `precision_recall_fscore_support` with zero_division=0,
/// `confusion_matrix` over the sorted union of true and predicted classes).
public enum Metrics {
    public struct PerClass: Codable, Equatable {
        public var label: String
        public var index: Int
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    static func prf(tp: Int, fp: Int, fn: Int) -> (Double, Double, Double) {
        let p = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
        let r = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
        let f = p + r == 0 ? 0 : 2 * p * r / (p + r)
        return (p, r, f)
    }

    /// Multiclass: `truth[k]` is the true class of image k, `probs[k]` its probabilities.
    public static func multiclass(truth: [Int], probs: [[Double]], labels: [String]) -> [String: Any] {
        let n = truth.count
        let pred = probs.map(argmax)
        let correct = zip(truth, pred).filter { $0 == $1 }.count
        // top-5 as sklearn ranks: the true class's score beaten by fewer than 5 others (ties counted against it)
        let k = min(5, labels.count)
        let top5 = zip(truth, probs).filter { t, p in p.filter { $0 > p[t] }.count < k }.count
        let classes = Array(Set(truth).union(pred)).sorted()
        let pos = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var cm = Array(repeating: Array(repeating: 0, count: classes.count), count: classes.count)
        for (t, p) in zip(truth, pred) { cm[pos[t]!][pos[p]!] += 1 }
        var per: [PerClass] = []
        for (ci, c) in classes.enumerated() {
            let tp = cm[ci][ci]
            let fp = (0..<classes.count).reduce(0) { $0 + ($1 == ci ? 0 : cm[$1][ci]) }
            let fn = (0..<classes.count).reduce(0) { $0 + ($1 == ci ? 0 : cm[ci][$1]) }
            let (p, r, f) = prf(tp: tp, fp: fp, fn: fn)
            per.append(PerClass(label: c < labels.count ? labels[c] : String(c), index: c, precision: p, recall: r, f1: f, support: tp + fn))
        }
        let macro = per.isEmpty ? (0.0, 0.0, 0.0) : (per.map(\.precision).reduce(0, +) / Double(per.count),
                                                     per.map(\.recall).reduce(0, +) / Double(per.count),
                                                     per.map(\.f1).reduce(0, +) / Double(per.count))
        return ["task": "image-classification", "images": n,
                "accuracy": n == 0 ? 0 : Double(correct) / Double(n),
                "top5_accuracy": n == 0 ? 0 : Double(top5) / Double(n), "top_k": k,
                "macro": ["precision": macro.0, "recall": macro.1, "f1": macro.2],
                "per_class": per.map(encode),
                "confusion_matrix": ["labels": classes.map { $0 < labels.count ? labels[$0] : String($0) }, "indices": classes, "matrix": cm]]
    }

    /// Multilabel: `truth[k]` is the set of true classes of image k; a class is predicted when its probability is
    /// >= threshold. Per class over every label of the model; micro over all decisions; macro the mean over labels.
    public static func multilabel(truth: [Set<Int>], probs: [[Double]], labels: [String], threshold: Double) -> [String: Any] {
        var per: [PerClass] = []
        var TP = 0, FP = 0, FN = 0, exact = 0
        for (t, p) in zip(truth, probs) {
            let predicted = Set(p.indices.filter { p[$0] >= threshold })
            if predicted == t { exact += 1 }
        }
        for c in labels.indices {
            var tp = 0, fp = 0, fn = 0
            for (t, p) in zip(truth, probs) {
                let yes = p[c] >= threshold, truly = t.contains(c)
                if yes && truly { tp += 1 } else if yes { fp += 1 } else if truly { fn += 1 }
            }
            TP += tp; FP += fp; FN += fn
            let (pr, r, f) = prf(tp: tp, fp: fp, fn: fn)
            per.append(PerClass(label: labels[c], index: c, precision: pr, recall: r, f1: f, support: tp + fn))
        }
        let (mp, mr, mf) = prf(tp: TP, fp: FP, fn: FN)
        let m = Double(max(1, per.count))
        return ["task": "image-classification-multilabel", "images": truth.count, "threshold": threshold,
                "subset_accuracy": truth.isEmpty ? 0 : Double(exact) / Double(truth.count),
                "micro": ["precision": mp, "recall": mr, "f1": mf],
                "macro": ["precision": per.map(\.precision).reduce(0, +) / m, "recall": per.map(\.recall).reduce(0, +) / m,
                          "f1": per.map(\.f1).reduce(0, +) / m],
                "per_class": per.map(encode)]
    }

    /// The first index of the largest value (numpy's argmax).
    public static func argmax(_ p: [Double]) -> Int {
        var b = 0
        for i in p.indices where p[i] > p[b] { b = i }
        return b
    }

    static func encode(_ p: PerClass) -> [String: Any] {
        ["label": p.label, "index": p.index, "precision": p.precision, "recall": p.recall, "f1": p.f1, "support": p.support]
    }

    /// A readable summary: the headline numbers and the classes with the most support (all of them in metrics.json).
    public static func table(_ m: [String: Any], rows: Int = 20) -> String {
        var out: [String] = []
        let images = m["images"] as? Int ?? 0
        if let map = m["map"] as? Double {
            out.append(String(format: "detection metrics over %d labelled images: mAP@[.5:.95] %.4f   mAP@.5 %.4f   mAP@.75 %.4f   VOC mAP@.5 %.4f",
                              images, map, m["map_50"] as? Double ?? 0, m["map_75"] as? Double ?? 0, m["voc_map_50"] as? Double ?? 0))
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            let per = (m["per_class"] as? [[String: Any]] ?? []).sorted { ($0["support"] as? Int ?? 0) > ($1["support"] as? Int ?? 0) }
            if !per.isEmpty { out.append(pad("class", 32) + "         AP       AP50       AP75   VOC AP50   boxes") }
            for r in per.prefix(rows) {
                out.append(pad(r["label"] as? String ?? "?", 32) + String(format: " %10.4f %10.4f %10.4f %10.4f %7d", r["ap"] as? Double ?? 0,
                    r["ap50"] as? Double ?? 0, r["ap75"] as? Double ?? 0, r["voc_ap50"] as? Double ?? 0, r["support"] as? Int ?? 0))
            }
            if per.count > rows { out.append("… \(per.count - rows) more classes in metrics.json") }
            return out.joined(separator: "\n")
        }
        if let a = m["accuracy"] as? Double {
            out.append(String(format: "metrics over %d labelled images: accuracy %.4f   top-%d accuracy %.4f", images, a, m["top_k"] as? Int ?? 5, m["top5_accuracy"] as? Double ?? 0))
        } else if let micro = m["micro"] as? [String: Double] {
            out.append(String(format: "metrics over %d labelled images at threshold %.2f: micro P %.4f R %.4f F1 %.4f   subset accuracy %.4f",
                              images, m["threshold"] as? Double ?? 0.5, micro["precision"] ?? 0, micro["recall"] ?? 0, micro["f1"] ?? 0,
                              m["subset_accuracy"] as? Double ?? 0))
        }
        if let macro = m["macro"] as? [String: Double] {
            out.append(String(format: "macro: precision %.4f   recall %.4f   F1 %.4f", macro["precision"] ?? 0, macro["recall"] ?? 0, macro["f1"] ?? 0))
        }
        let per = (m["per_class"] as? [[String: Any]] ?? []).sorted { ($0["support"] as? Int ?? 0) > ($1["support"] as? Int ?? 0) }
        let shown = per.filter { ($0["support"] as? Int ?? 0) > 0 }.prefix(rows)
        if !shown.isEmpty {
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            out.append(pad("class", 32) + "  precision     recall         f1   support")
            for r in shown {
                var l = r["label"] as? String ?? "?"
                if l.count > 32 { l = String(l.prefix(31)) + "…" }
                out.append(pad(l, 32) + String(format: " %10.4f %10.4f %10.4f %9d", r["precision"] as? Double ?? 0, r["recall"] as? Double ?? 0,
                                               r["f1"] as? Double ?? 0, r["support"] as? Int ?? 0))
            }
            let more = per.filter { ($0["support"] as? Int ?? 0) > 0 }.count - shown.count
            if more > 0 { out.append("… \(more) more classes in metrics.json") }
        }
        return out.joined(separator: "\n")
    }
}

#!/usr/bin/env python3
"""Recomputes a batch job's metrics.json with scikit-learn from its predictions.jsonl and the labelled JSONL it
scored, and exits 1 naming every number that differs (tolerance 1e-9).

usage: check_metrics.py OUTPUT_DIR INPUT_JSONL [--multilabel THRESHOLD]
"""
import json, sys
import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

out, src = sys.argv[1], sys.argv[2]
multilabel = "--multilabel" in sys.argv
threshold = float(sys.argv[sys.argv.index("--multilabel") + 1]) if multilabel else None
m = json.load(open(f"{out}/metrics.json"))
preds = [json.loads(l) for l in open(f"{out}/predictions.jsonl")]
labels = preds[0]["labels"]
# predictions are in input order: pair each with the next input line of the same image (an image may be listed twice)
entries = []
for line in open(src):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    entries.append((o["image_url"], o.get("label")))
pairs, k = [], 0
for p in preds:
    while entries[k][0] != p["filename"]:
        k += 1
    pairs.append((p, entries[k][1]))
    k += 1
bad = []

def same(name, a, b):
    if isinstance(a, (list, np.ndarray)):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape or np.max(np.abs(a - b), initial=0) > 1e-9:
            bad.append(f"{name}: sklearn {a.tolist()} vs fovea {b.tolist()}")
    elif abs(a - b) > 1e-9:
        bad.append(f"{name}: sklearn {a} vs fovea {b}")

if not multilabel:
    pairs = [(p, t) for p, t in pairs if t in labels]
    rows = [p for p, _ in pairs]
    y = np.array([labels.index(t) for _, t in pairs])
    P = np.array([p["probs"] for p in rows])
    yhat = P.argmax(1)
    same("accuracy", accuracy_score(y, yhat), m["accuracy"])
    same("top5_accuracy", top_k_accuracy_score(y, P, k=5, labels=np.arange(len(labels))), m["top5_accuracy"])
    classes = sorted(set(y) | set(yhat))
    p, r, f, s = precision_recall_fscore_support(y, yhat, labels=classes, zero_division=0)
    per = {c["index"]: c for c in m["per_class"]}
    same("classes", classes, sorted(per))
    same("precision", p, [per[c]["precision"] for c in classes])
    same("recall", r, [per[c]["recall"] for c in classes])
    same("f1", f, [per[c]["f1"] for c in classes])
    same("support", s, [per[c]["support"] for c in classes])
    mp, mr, mf, _ = precision_recall_fscore_support(y, yhat, labels=classes, average="macro", zero_division=0)
    same("macro precision", mp, m["macro"]["precision"]); same("macro recall", mr, m["macro"]["recall"]); same("macro f1", mf, m["macro"]["f1"])
    same("confusion matrix", confusion_matrix(y, yhat, labels=classes).ravel(), np.asarray(m["confusion_matrix"]["matrix"]).ravel())
else:
    pairs = [(p, t) for p, t in pairs if t is not None and all(x in labels for x in t)]
    rows = [p for p, _ in pairs]
    Y = np.zeros((len(rows), len(labels)), dtype=int)
    for i, (p, ts) in enumerate(pairs):
        for t in ts:
            Y[i, labels.index(t)] = 1
    Yhat = (np.array([p["probs"] for p in rows]) >= threshold).astype(int)
    p, r, f, s = precision_recall_fscore_support(Y, Yhat, zero_division=0)
    per = sorted(m["per_class"], key=lambda c: c["index"])
    same("precision", p, [c["precision"] for c in per]); same("recall", r, [c["recall"] for c in per])
    same("f1", f, [c["f1"] for c in per]); same("support", s, [c["support"] for c in per])
    for avg in ("micro", "macro"):
        ap, ar, af, _ = precision_recall_fscore_support(Y, Yhat, average=avg, zero_division=0)
        same(f"{avg} precision", ap, m[avg]["precision"]); same(f"{avg} recall", ar, m[avg]["recall"]); same(f"{avg} f1", af, m[avg]["f1"])
    same("subset accuracy", accuracy_score(Y, Yhat), m["subset_accuracy"])
same("images", len(rows), m["images"])
if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"metrics match scikit-learn over {len(rows)} images")

#!/usr/bin/env python3
"""A small COCO detection set for Fovea's batch metrics test, and pycocotools' COCOeval as the reference.

    python3 scripts/detection/coco_map.py make OUT_DIR          # OUT_DIR/instances.json + images/
    python3 scripts/detection/coco_map.py eval OUT_DIR JOB_DIR  # COCOeval on JOB_DIR/predictions.jsonl -> JSON on stdout

The set: the sample photos (and flipped / cropped copies, so the detector's scores spread) with hand-drawn boxes of
what they show (a person, a cup, a cat), a few boxes the detector misses, a crowd box and a category with no
ground truth, so every branch of COCOeval's matching is exercised."""
import json, os, sys
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SAMPLES = os.path.join(ROOT, "Tests", "Fixtures", "images", "samples")
LABELS = json.load(open(os.path.join(ROOT, "models", "yolov3-tiny-coco", "1", "labels.json")))


def make(out):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    cats = ["person", "cup", "cat", "dog", "mouse", "dining table"]
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(cats)]}
    # boxes in [0, 1] (x1, y1, x2, y2) on the original photos, drawn by hand from the pictures
    truth = {
        "astronaut": [("person", 0.05, 0.08, 0.66, 0.98, 0), ("mouse", 0.80, 0.80, 0.95, 0.95, 0)],
        "coffee": [("cup", 0.22, 0.04, 0.70, 0.83, 0), ("dining table", 0.0, 0.0, 1.0, 1.0, 1)],
        "chelsea": [("cat", 0.02, 0.10, 0.98, 0.97, 0), ("dog", 0.1, 0.1, 0.3, 0.3, 0)],
    }
    images = []
    for name, boxes in truth.items():
        im = Image.open(os.path.join(SAMPLES, name + ".png")).convert("RGB")
        images.append((name + ".png", im, boxes))
        images.append((name + "-flipped.png", ImageOps.mirror(im), [(l, 1 - x2, y1, 1 - x1, y2, c) for l, x1, y1, x2, y2, c in boxes]))
        w, h = im.size
        crop = im.crop((0, 0, w * 3 // 4, h))   # the right quarter cut off: boxes clipped to the crop
        cb = [(l, x1 / 0.75, y1, min(x2, 0.75) / 0.75, y2, c) for l, x1, y1, x2, y2, c in boxes if x1 < 0.7]
        images.append((name + "-crop.png", crop, cb))
    aid = 1
    for k, (fn, im, boxes) in enumerate(images):
        im.save(os.path.join(out, "images", fn))
        w, h = im.size
        coco["images"].append({"id": k + 1, "file_name": fn, "width": w, "height": h})
        for l, x1, y1, x2, y2, crowd in boxes:
            bw, bh = (x2 - x1) * w, (y2 - y1) * h
            coco["annotations"].append({"id": aid, "image_id": k + 1, "category_id": cats.index(l) + 1, "iscrowd": crowd,
                                        "bbox": [x1 * w, y1 * h, bw, bh], "area": bw * bh})
            aid += 1
    json.dump(coco, open(os.path.join(out, "instances.json"), "w"))


def evaluate(out, job):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(os.path.join(out, "instances.json"))
    by_name = {i["file_name"]: i for i in gt.dataset["images"]}
    cat = {c["name"]: c["id"] for c in gt.dataset["categories"]}
    results = []
    for line in open(os.path.join(job, "predictions.jsonl")):
        row = json.loads(line)
        img = by_name[row["filename"]]
        for b in row["boxes"]:
            if b["label"] not in cat:
                continue
            x1, y1 = b["box"]["topX"] * img["width"], b["box"]["topY"] * img["height"]
            x2, y2 = b["box"]["bottomX"] * img["width"], b["box"]["bottomY"] * img["height"]
            results.append({"image_id": img["id"], "category_id": cat[b["label"]], "bbox": [x1, y1, x2 - x1, y2 - y1], "score": b["score"]})
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        e = COCOeval(gt, dt, "bbox")
        e.evaluate(); e.accumulate(); e.summarize()
    print(json.dumps({"map": e.stats[0], "map_50": e.stats[1], "map_75": e.stats[2], "detections": len(results)}))


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else evaluate(sys.argv[2], sys.argv[3])

#!/usr/bin/env python3
"""Independent references for Fovea's detection tests, written with the libraries AutoML itself uses:
OpenCV (YOLO letterbox), Pillow (R-CNN resize), onnxruntime (raw outputs), NumPy transcriptions of AutoML's
YOLO post-processing, scikit-image find_contours + the `simplification` package's RDP (Mask R-CNN polygons).

    python3 scripts/detection/reference.py OUT_DIR

For each model M and sample image I it writes OUT_DIR/M/I/input.npy (the reference input tensor), ort_<k>.npy
(onnxruntime's outputs, k = output index) and expected.json (AutoML's answer: boxes normalised to [0, 1],
label, score[, polygon]); YOLO models also get OUT_DIR/M/batch/ (both images in one batch).
"""
import json, os, sys
import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image
from skimage import measure
from simplification.cutil import simplify_coords

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "Tests", "Fixtures", "detection")
IMAGES = os.path.join(ROOT, "Tests", "Fixtures", "images", "samples")
MODELS = {
    "yolov3-tiny-coco": os.path.join(ROOT, "models", "yolov3-tiny-coco", "1"),
    "yolov5like_3cls": os.path.join(FIX, "yolov5like_3cls"),
    "fasterrcnn_resnet18_fpn": os.path.join(FIX, "fasterrcnn_resnet18_fpn"),
    "retinanet_resnet18_fpn": os.path.join(FIX, "retinanet_resnet18_fpn"),
    "maskrcnn_resnet18_fpn": os.path.join(FIX, "maskrcnn_resnet18_fpn"),
}
SAMPLES = ["astronaut", "coffee", "chelsea"]


def yolo_input(path, s):
    """AutoML's YOLOv5 scorer: cv2 load (BGR), resize longer side to s (INTER_AREA shrinking, INTER_LINEAR growing),
    letterbox with 114 (top = round(dh - 0.1), bottom = round(dh + 0.1)), BGR -> RGB, CHW, /255."""
    img = cv2.imread(path)
    h0, w0 = img.shape[:2]
    r = s / max(h0, w0)
    if r != 1:
        img = cv2.resize(img, (int(w0 * r), int(h0 * r)), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    dw, dh = (s - w) / 2, (s - h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)).astype(np.float32)[None] / 255.0
    return x, dict(resized_hw=[h, w], pad_top_left=[top, left])


def rcnn_input(path, w=800, h=600):
    """The documented consumer of AutoML's R-CNN export: Pillow resize to the input size (BICUBIC), ImageNet norm."""
    a = np.asarray(Image.open(path).convert("RGB").resize((w, h)), dtype=np.float32) / 255
    a = (a - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return a.transpose(2, 0, 1)[None].astype(np.float32)


def torch_nms(boxes, scores, iou):
    """torchvision.ops.nms in float32 as torch computes it: descending score, suppress IoU > iou (a NaN IoU of two
    empty boxes suppresses nothing)."""
    boxes = boxes.astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0]); yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2]); yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        a = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
        b = (boxes[rest, 2] - boxes[rest, 0]) * (boxes[rest, 3] - boxes[rest, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            order = rest[~(inter / (a + b - inter) > np.float32(iou))]
    return np.array(keep, dtype=np.int64)


def yolo_post(out, meta, thresh, iou, labels, max_det=300):
    """AutoML's non_max_suppression (best class, 4096 class offset, max 300) + unpad_bbox."""
    out = out[out[:, 4] > thresh]
    conf_all = out[:, 4:5] * out[:, 5:]
    cls = conf_all.argmax(1); conf = conf_all.max(1)
    m = conf > thresh
    out, cls, conf = out[m], cls[m], conf[m]
    xyxy = np.stack([out[:, 0] - out[:, 2] / 2, out[:, 1] - out[:, 3] / 2,
                     out[:, 0] + out[:, 2] / 2, out[:, 1] + out[:, 3] / 2], 1)
    keep = torch_nms(xyxy + (cls * 4096.0).astype(np.float32)[:, None], conf, iou)[:max_det]  # float32, as torch adds it
    xyxy, cls, conf = xyxy[keep], cls[keep], conf[keep]
    top, left = meta["pad_top_left"]; h, w = meta["resized_hw"]
    xyxy = xyxy - np.array([left, top, left, top], np.float32)
    xyxy = np.clip(xyxy, 0, [w, h, w, h]) / np.array([w, h, w, h], np.float32)
    return [box(b, labels[c], s) for b, c, s in zip(xyxy, cls, conf)]


def box(b, label, score, polygon=None):
    d = {"box": {"topX": float(b[0]), "topY": float(b[1]), "bottomX": float(b[2]), "bottomY": float(b[3])},
         "label": label, "score": float(score)}
    if polygon is not None:
        d["polygon"] = polygon
    return d


def polygons(mask, thresh=0.5, max_points=100):
    """AutoML masktools.convert_mask_to_polygon on one [H, W] probability mask."""
    m = np.array(mask > thresh, dtype=np.uint8)
    h, w = m.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:h + 1, 1:w + 1] = m
    out = []
    for contour in measure.find_contours(padded, 0.5):
        factor = 0
        while len(contour) > max_points and factor < 25:
            contour = simplify_coords(contour, factor)
            factor += 1
        flat = [0.0] * (2 * len(contour))
        flat[::2] = [float(v) / w for v in (np.ceil(contour[:, 1]) - 1)]
        flat[1::2] = [float(v) / h for v in (np.ceil(contour[:, 0]) - 1)]
        out.append(flat)
    return out


def rcnn_post(outs, names, labels, settings, w=800, h=600, masks=False):
    o = dict(zip(names, outs))
    res = []
    for k in range(len(o["scores"])):
        if not o["scores"][k] > settings["box_score_thresh"]:
            continue
        b = o["boxes"][k] / np.array([w, h, w, h], np.float32)
        poly = polygons(o["masks"][k, 0], settings.get("mask_pixel_score_threshold", 0.5),
                        settings.get("max_number_of_polygon_points", 100)) if masks else None
        res.append(box(b, labels[int(o["labels"][k])], o["scores"][k], poly))
    return res


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    # a small photo (150x100) that YOLO's letterbox must grow (cv2 INTER_LINEAR), and odd sizes for INTER_AREA
    Image.open(os.path.join(IMAGES, "chelsea.png")).convert("RGB").resize((150, 100)).save(os.path.join(out_dir, "small.png"))
    Image.open(os.path.join(IMAGES, "coffee.png")).convert("RGB").resize((333, 517)).save(os.path.join(out_dir, "tall.png"))
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    for name, folder in MODELS.items():
        labels = json.load(open(os.path.join(folder, "labels.json")))
        settings = json.load(open(os.path.join(folder, "artifacts", "settings.json")))
        sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), so, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        yolo = "output" in names
        batch = []
        for s in SAMPLES + (["small", "tall"] if yolo else []):
            d = os.path.join(out_dir, name, s)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(IMAGES, s + ".png") if s in SAMPLES else os.path.join(out_dir, s + ".png")
            if yolo:
                x, meta = yolo_input(path, settings["img_size"])
                outs = sess.run(["output"], {"input": x})
                boxes = yolo_post(outs[0][0], meta, settings["box_score_thresh"], settings["nms_iou_thresh"], labels)
                batch.append((x, meta))
                outs_named = {"output": outs[0]}
            else:
                x = rcnn_input(path)
                outs = sess.run(None, {"input": x})
                boxes = rcnn_post(outs, names, labels, settings, masks="masks" in names)
                outs_named = dict(zip(names, outs))
            np.save(os.path.join(d, "input.npy"), x)
            for k, v in outs_named.items():
                np.save(os.path.join(d, "ort_" + k + ".npy"), v)
            json.dump({"boxes": boxes}, open(os.path.join(d, "expected.json"), "w"))
        if yolo:
            d = os.path.join(out_dir, name, "batch")
            os.makedirs(d, exist_ok=True)
            x = np.concatenate([b[0] for b in batch[:2]])
            np.save(os.path.join(d, "input.npy"), x)
            np.save(os.path.join(d, "ort_output.npy"), sess.run(["output"], {"input": x})[0])
        print(name, "ok")


if __name__ == "__main__":
    main()

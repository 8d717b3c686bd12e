#!/usr/bin/env python3
"""Writes the batch-job test datasets into OUT (made fresh each test run; nothing here is committed):

  images/        a folder of real photos (the 4 CC0/public-domain samples and Pillow-made variants: flips, crops,
                 other formats) in subfolders, plus a text file, a README and a truncated JPEG
  list.txt       a text file of paths (relative to itself), one missing
  automl.jsonl   AutoML's MLTable JSONL with labels (one line that does not parse, one label the model lacks)
  multilabel.jsonl  the same images with label lists (multilabel schema)
  data.tfrecord  tf.Example records (image/encoded, image/class/label counted from 1, image/filename), framed with
                 CRC32C; record 2's data is corrupted and record 5's length, so the reader must skip both and go on
  google.jsonl   Google batch-prediction lines {"image_bytes": {"b64": ...}, "key": ...}
  coco/          COCO detection JSON + images;  voc/  a Pascal VOC folder
  truth.json     the labels each format carries, for the tests

usage: gen_batch_fixtures.py SAMPLES_DIR LABELS_JSON OUT
"""
import base64, io, json, os, struct, sys
from PIL import Image, ImageOps

samples, labels_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
labels = json.load(open(labels_path))
if isinstance(labels, dict):
    labels = [labels[str(i)] for i in range(len(labels))]
os.makedirs(out, exist_ok=True)

# ImageNet classes the samples show (ground truth for the metrics tests; some deliberately "wrong" so the
# confusion matrix has off-diagonal entries)
truth_of = {"chelsea": "Egyptian cat", "coffee": "espresso", "astronaut": "suit", "rocket": "missile"}

base = {n: Image.open(os.path.join(samples, f)).convert("RGB") for n, f in
        [("chelsea", "chelsea.png"), ("coffee", "coffee.png"), ("astronaut", "astronaut.png"), ("rocket", "rocket.jpg")]}

variants = []  # (relative path, image, true label)
for n, im in base.items():
    w, h = im.size
    sub = "cats" if n == "chelsea" else "things"
    variants.append((f"{sub}/{n}.png", im, truth_of[n]))
    variants.append((f"{sub}/{n}_flip.jpg", ImageOps.mirror(im), truth_of[n]))
    variants.append((f"{sub}/{n}_crop.bmp", im.crop((w // 8, h // 8, w - w // 8, h - h // 8)), truth_of[n]))
    variants.append((f"{sub}/deep/{n}_small.jpg", im.resize((max(32, w // 3), max(32, h // 3))), truth_of[n]))

def encode(im, path):
    ext = os.path.splitext(path)[1].lower()
    b = io.BytesIO()
    im.save(b, {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP"}[ext], **({"quality": 90} if ext == ".jpg" else {}))
    return b.getvalue()

img_dir = os.path.join(out, "images")
blobs = {}
for rel, im, _ in variants:
    p = os.path.join(img_dir, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    blobs[rel] = encode(im, rel)
    open(p, "wb").write(blobs[rel])
open(os.path.join(img_dir, "notes.txt"), "w").write("not an image\n")
open(os.path.join(img_dir, "README"), "w").write("a dataset\n")
open(os.path.join(img_dir, "things", "broken.jpg"), "wb").write(blobs["things/coffee_flip.jpg"][:200])  # truncated JPEG

# a text file of paths
with open(os.path.join(out, "list.txt"), "w") as f:
    f.write("# images to score\n")
    for rel, _, _ in variants[:6]:
        f.write(f"images/{rel}\n")
    f.write("images/missing.png\n")

# AutoML JSONL (classification), one bad line and one unknown label
with open(os.path.join(out, "automl.jsonl"), "w") as f:
    for k, (rel, im, t) in enumerate(variants):
        f.write(json.dumps({"image_url": f"images/{rel}", "image_details": {"format": rel.rsplit(".", 1)[1], "width": f"{im.size[0]}px",
                                                                            "height": f"{im.size[1]}px"}, "label": t}) + "\n")
        if k == 3:
            f.write("{this is not json\n")
    f.write(json.dumps({"image_url": "images/cats/chelsea.png", "label": "not-a-class"}) + "\n")

with open(os.path.join(out, "multilabel.jsonl"), "w") as f:
    for rel, im, t in variants:
        f.write(json.dumps({"image_url": f"images/{rel}", "label": [t, "tabby"] if "chelsea" in rel else [t]}) + "\n")

# TFRecord with CRC32C
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF

def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def field(num, wire, payload):
    tag = varint((num << 3) | wire)
    return tag + (varint(len(payload)) + payload if wire == 2 else payload)

def feature_bytes(v):
    return field(1, 2, field(1, 2, v))            # Feature.bytes_list{value}

def feature_int64(v):
    return field(3, 2, field(1, 2, varint(v)))    # Feature.int64_list{value (packed)}

def example(feats):
    entries = b"".join(field(1, 2, field(1, 2, k.encode()) + field(2, 2, v)) for k, v in feats.items())
    return field(1, 2, entries)                   # Example.features{feature map}

records = []
tf_truth = []
for rel, im, t in variants[:8]:
    cls = labels.index(t)
    records.append(example({"image/encoded": feature_bytes(blobs[rel]), "image/class/label": feature_int64(cls + 1),
                            "image/filename": feature_bytes(rel.encode())}))
    tf_truth.append({"name": rel, "class": cls})
with open(os.path.join(out, "data.tfrecord"), "wb") as f:
    for k, r in enumerate(records):
        hdr = struct.pack("<Q", len(r))
        dcrc = masked(r)
        lcrc = masked(hdr)
        if k == 2:
            r = r[:-1] + bytes([r[-1] ^ 0xFF])  # corrupt data: CRC mismatch
        if k == 5:
            lcrc ^= 0x1                          # corrupt length CRC: the reader must resynchronise
        f.write(hdr + struct.pack("<I", lcrc) + r + struct.pack("<I", dcrc))

# Google batch prediction lines
with open(os.path.join(out, "google.jsonl"), "w") as f:
    for k, (rel, _, _) in enumerate(variants[:5]):
        key = f"img-{k}" if k != 3 else 3  # keys are kept as given, numbers too
        f.write(json.dumps({"image_bytes": {"b64": base64.b64encode(blobs[rel]).decode()}, "key": key}) + "\n")
    f.write(json.dumps({"image_bytes": {"b64": "!!!notbase64"}, "key": "bad"}) + "\n")

# COCO
coco_dir = os.path.join(out, "coco")
os.makedirs(os.path.join(coco_dir, "images"), exist_ok=True)
coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "cup"}]}
for k, (rel, im, _) in enumerate(variants[:3]):
    fn = os.path.basename(rel)
    open(os.path.join(coco_dir, "images", fn), "wb").write(blobs[rel])
    w, h = im.size
    coco["images"].append({"id": k + 1, "file_name": fn, "width": w, "height": h})
    coco["annotations"].append({"id": k + 1, "image_id": k + 1, "bbox": [w * 0.1, h * 0.2, w * 0.5, h * 0.4], "category_id": 1, "iscrowd": 0})
json.dump(coco, open(os.path.join(coco_dir, "instances.json"), "w"))

# Pascal VOC
voc = os.path.join(out, "voc")
os.makedirs(os.path.join(voc, "Annotations"), exist_ok=True)
os.makedirs(os.path.join(voc, "JPEGImages"), exist_ok=True)
for k, (rel, im, _) in enumerate(variants[4:6]):
    fn = f"{k:06d}.jpg"
    im.save(os.path.join(voc, "JPEGImages", fn), "JPEG", quality=90)
    w, h = im.size
    open(os.path.join(voc, "Annotations", f"{k:06d}.xml"), "w").write(
        f"<annotation><filename>{fn}</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
        f"<object><name>cup</name><difficult>0</difficult><bndbox><xmin>11</xmin><ymin>21</ymin><xmax>{w // 2}</xmax>"
        f"<ymax>{h // 2}</ymax></bndbox></object></annotation>")

json.dump({"variants": [{"path": f"images/{rel}", "label": t} for rel, _, t in variants], "tfrecord": tf_truth},
          open(os.path.join(out, "truth.json"), "w"), indent=1)
print(f"wrote {len(variants)} images and every input format to {out}")

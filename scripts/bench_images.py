#!/usr/bin/env python3
"""Decode + AutoML preprocessing per image: Fovea (`fovea preprocess --iterations`) vs Pillow 13 + numpy
in the same run, on the sample photos (and the same files for both).
    python3 scripts/bench_images.py --fovea .build/release/fovea [--iterations 20]"""
import argparse, io, json, os, subprocess, time
import numpy as np
from PIL import Image
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ap = argparse.ArgumentParser(); ap.add_argument("--fovea", default=os.path.join(root, ".build/release/fovea"))
ap.add_argument("--iterations", type=int, default=20); args = ap.parse_args()
samples = os.path.join(root, "Tests/Fixtures/images/samples")
files = [os.path.join(samples, f) for f in sorted(os.listdir(samples))]
MEAN = np.array([0.485, 0.456, 0.406], np.float32); STD = np.array([0.229, 0.224, 0.225], np.float32)
def pillow(b):
    im = Image.open(io.BytesIO(b)).convert("RGB"); w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w); nl = int(256 * long_ / short)
    im = im.resize((256, nl) if w <= h else (nl, 256), Image.BILINEAR); w, h = im.size
    l = int(round((w - 224) / 2.0)); t = int(round((h - 224) / 2.0)); im = im.crop((l, t, l + 224, t + 224))
    a = (np.asarray(im, dtype=np.float32) / np.float32(255) - MEAN) / STD
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])
print(f"{'file':16s} {'fovea ms':>9s} {'pillow ms':>10s} {'ratio':>6s}")
tf, tp = [], []
for f in files:
    b = open(f, "rb").read()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    fo = json.loads(subprocess.run([args.fovea, "preprocess", f, "--iterations", str(args.iterations)], capture_output=True, text=True, check=True, env=env).stdout)
    for _ in range(3): pillow(b)
    ts = []
    for _ in range(args.iterations):
        t0 = time.perf_counter(); pillow(b); ts.append((time.perf_counter() - t0) * 1000)
    ts.sort(); p = ts[len(ts) // 2]; fm = fo["median_ms_per_image"]
    tf.append(fm); tp.append(p)
    print(f"{os.path.basename(f):16s} {fm:9.3f} {p:10.3f} {fm / p:6.2f}")
print(f"{'all':16s} {sum(tf):9.3f} {sum(tp):10.3f} {sum(tf) / sum(tp):6.2f}")

#!/usr/bin/env python3
"""Detection benchmark: Fovea vs onnxruntime in the same run, same machine, same inputs (the coffee photo,
preprocessed as AutoML does by scripts/detection/reference.py). One thread (OPENBLAS_NUM_THREADS=1, ORT
intra_op_num_threads=1), two threads beside it. Target: Fovea <= 1.2x onnxruntime for the YOLOv5-like and
Faster R-CNN exports (NMS, RoiAlign, If/Loop included). Also Mask R-CNN's polygon post-processing against its
forward (target < 10%), from `fovea predict --timings`.
    python3 scripts/bench_detection.py --fovea .build/release/fovea [--iterations 10]"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np, onnxruntime as ort

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(root, "scripts", "detection"))
import reference as ref  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--fovea", default=os.path.join(root, ".build/release/fovea"))
ap.add_argument("--iterations", type=int, default=10)
args = ap.parse_args()
tmp = tempfile.mkdtemp(prefix="fovea-bench-det-")
photo = os.path.join(ref.IMAGES, "coffee.png")


def cpu():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def ort_ms(path, x, threads):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {s.get_inputs()[0].name: x}
    for _ in range(2):
        s.run(None, feed)
    ts = []
    for _ in range(args.iterations):
        t0 = time.perf_counter(); s.run(None, feed); ts.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ts))


def fovea_ms(path, npy, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    r = subprocess.run([args.fovea, "onnx", "bench", path, "--input", npy, "--iterations", str(args.iterations), "--warmup", "2",
                        "--threads", str(threads)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"fovea onnx bench failed: {r.stderr}")
    o = json.loads(r.stdout)
    return o["median_ms"], o["peak_rss_mb"]


print(f"detection benchmark — {time.strftime('%Y-%m-%d')}, CPU: {cpu()}, {os.cpu_count()} vCPUs, coffee.png, median of {args.iterations}")
print(f"{'model':28} {'thr':>3} {'fovea ms':>10} {'ort ms':>10} {'ratio':>7} {'target':>7} {'fovea RSS MB':>13}")
for name, folder in ref.MODELS.items():
    path = os.path.join(folder, "model.onnx")
    settings = json.load(open(os.path.join(folder, "artifacts", "settings.json")))
    x = ref.yolo_input(photo, settings["img_size"])[0] if "img_size" in settings else ref.rcnn_input(photo)
    npy = os.path.join(tmp, name + ".npy"); np.save(npy, x)
    target = "1.2x" if name in ("yolov5like_3cls", "fasterrcnn_resnet18_fpn") else "-"
    for threads in (1, 2):
        f, rss = fovea_ms(path, npy, threads)
        o = ort_ms(path, x, threads)
        print(f"{name:28} {threads:>3} {f:>10.1f} {o:>10.1f} {f / o:>6.2f}x {target:>7} {rss:>13.1f}")

# Mask R-CNN: polygons (AutoML's contour + RDP post-processing) against the forward, in one fovea process
reg = os.path.join(tmp, "registry")
subprocess.run([args.fovea, "model", "create", "--name", "mask", "--version", "1", "--registry", reg, "--task", "image-instance-segmentation",
                "--path", ref.MODELS["maskrcnn_resnet18_fpn"]], check=True, capture_output=True)
r = subprocess.run([args.fovea, "predict", "--model", "mask:1", "--registry", reg, "--threads", "1", "--timings", str(max(3, args.iterations // 2)),
                    photo], capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
t = json.loads(r.stderr.strip().splitlines()[-1])
print(f"Mask R-CNN polygons: {t['postprocess_ms']:.1f} ms after a {t['model_ms']:.1f} ms forward = "
      f"{100 * t['postprocess_ms'] / t['model_ms']:.1f}% (target < 10%); decode {t['decode_ms']:.1f} ms, prepare {t['prepare_ms']:.1f} ms")

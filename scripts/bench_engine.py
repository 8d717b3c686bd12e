#!/usr/bin/env python3
"""Engine benchmark: Fovea vs onnxruntime in the same run, same machine, same inputs.
    python3 scripts/bench_engine.py --fovea .build/release/fovea [--iterations 30]
Models: MobileNetV2 and EfficientNet-Lite0 (models/), and a ResNet-50-shaped model this script builds
(random weights). Batch 1 and 8; one thread (OPENBLAS_NUM_THREADS=1, ORT intra_op_num_threads=1), and
two threads beside it. Fovea's forward+backward (input gradient) is printed too. Fixed-batch exports get
a batch-dynamic copy (dim 0 symbolic, Reshape targets [1,-1] → [0,-1]) so both engines run batch 8."""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np, onnx, onnxruntime as ort
from onnx import helper as H, numpy_helper as NH, TensorProto as TP

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ap = argparse.ArgumentParser()
ap.add_argument("--fovea", default=os.path.join(root, ".build/release/fovea"))
ap.add_argument("--iterations", type=int, default=30)
ap.add_argument("--out", default=os.path.join(root, "bench-out"))
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)

def resnet50(path):
    rng = np.random.default_rng(0); nodes, inits = [], []
    def conv(x, cin, cout, k, s, relu=True):
        n = len(nodes); w = f"w{n}"; b = f"b{n}"; y = f"c{n}"
        inits.append(NH.from_array((rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32), w))
        inits.append(NH.from_array(np.zeros(cout, np.float32), b))
        nodes.append(H.make_node("Conv", [x, w, b], [y], kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        if relu:
            nodes.append(H.make_node("Relu", [y], [y + "r"])); return y + "r"
        return y
    x = conv("input", 3, 64, 7, 2)
    nodes.append(H.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])); x = "pool"; cin = 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            a = conv(x, cin, width, 1, 1); b = conv(a, width, width, 3, s); c = conv(b, width, width * 4, 1, 1, relu=False)
            sc = conv(x, cin, width * 4, 1, s, relu=False) if i == 0 else x
            y = f"add{len(nodes)}"; nodes.append(H.make_node("Add", [c, sc], [y])); nodes.append(H.make_node("Relu", [y], [y + "r"]))
            x = y + "r"; cin = width * 4
    nodes += [H.make_node("GlobalAveragePool", [x], ["gap"]), H.make_node("Flatten", ["gap"], ["flat"]),
              H.make_node("Gemm", ["flat", "fcw", "fcb"], ["logits"], transB=1)]
    inits += [NH.from_array((rng.standard_normal((1000, 2048)) * 0.01).astype(np.float32), "fcw"), NH.from_array(np.zeros(1000, np.float32), "fcb")]
    g = H.make_graph(nodes, "resnet50", [H.make_tensor_value_info("input", TP.FLOAT, ["batch", 3, 224, 224])],
                     [H.make_tensor_value_info("logits", TP.FLOAT, ["batch", 1000])], initializer=inits)
    m = H.make_model(g, opset_imports=[H.make_opsetid("", 17)]); m.ir_version = 8
    onnx.save(m, path)

def dynamic_copy(src, dst):
    m = onnx.load(src)
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    reshape_targets = {n.input[1] for n in m.graph.node if n.op_type == "Reshape"}
    for i in m.graph.initializer:
        if i.name in reshape_targets:
            t = NH.to_array(i)
            if t.ndim == 1 and len(t) == 2 and t[0] == 1:
                i.CopyFrom(NH.from_array(np.array([0, t[1]], np.int64), i.name))
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    t = NH.to_array(a.t)
                    if t.dtype == np.int64 and t.ndim == 1 and len(t) == 2 and t[0] == 1:
                        a.t.CopyFrom(NH.from_array(np.array([0, t[1]], np.int64), a.t.name))
    onnx.save(m, dst)

def ort_time(path, batch, threads, iters):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    x = np.random.default_rng(1).uniform(-1, 1, (batch, 3, 224, 224)).astype(np.float32)
    for _ in range(3): s.run(None, {name: x})
    ts = []
    for _ in range(iters):
        t = time.perf_counter(); s.run(None, {name: x}); ts.append((time.perf_counter() - t) * 1000)
    ts.sort(); return ts[len(ts) // 2]

def fovea_time(path, batch, threads, iters, backward=False):
    cmd = [args.fovea, "onnx", "bench", path, "--batch", str(batch), "--iterations", str(iters), "--threads", str(threads)]
    if backward: cmd.append("--backward")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)

models = {}
r50 = os.path.join(args.out, "resnet50.onnx")
if not os.path.exists(r50): resnet50(r50)
models["ResNet-50 (built)"] = r50
for name, rel in [("MobileNetV2", "models/mobilenetv2-imagenet/1/model.onnx"), ("EfficientNet-Lite0", "models/efficientnet-lite0-imagenet/1/model.onnx")]:
    dst = os.path.join(args.out, os.path.basename(os.path.dirname(os.path.dirname(rel))) + "-dynamic.onnx")
    dynamic_copy(os.path.join(root, rel), dst); models[name] = dst

print(f"onnxruntime {ort.__version__}; iterations {args.iterations}; median ms")
print(f"{'model':22s} {'batch':>5s} {'thr':>3s} {'fovea':>9s} {'ort':>9s} {'ratio':>6s} {'fwd+bwd':>9s} {'rss MB':>7s}")
rows = []
for name, path in models.items():
    for batch in (1, 8):
        for threads in (1, 2):
            iters = max(5, args.iterations // (4 if batch == 8 else 1))
            f = fovea_time(path, batch, threads, iters, backward=(threads == 1))
            o = ort_time(path, batch, threads, iters)
            fb = f.get("forward_backward_median_ms")
            print(f"{name:22s} {batch:5d} {threads:3d} {f['median_ms']:9.2f} {o:9.2f} {f['median_ms'] / o:6.2f} "
                  f"{(f'{fb:9.2f}' if fb else '        -')} {f['peak_rss_mb']:7.1f}", flush=True)
            rows.append({"model": name, "batch": batch, "threads": threads, "fovea_ms": f["median_ms"], "ort_ms": o,
                         "ratio": f["median_ms"] / o, "fovea_fwd_bwd_ms": fb, "fovea_peak_rss_mb": f["peak_rss_mb"]})
json.dump(rows, open(os.path.join(args.out, "engine.json"), "w"), indent=1)

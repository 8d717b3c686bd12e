#!/usr/bin/env python3
"""onnxruntime reference logits for the default model on the committed input tensors.
    python3 scripts/gen_mobilenet_reference.py
Reads models/mobilenetv2-imagenet/1/model.onnx and Tests/Fixtures/mobilenetv2/inputs/*.npy,
writes Tests/Fixtures/mobilenetv2/logits/<name>.npy (float32 [1,1000])."""
import os, numpy as np, onnxruntime as ort
root = os.path.join(os.path.dirname(__file__), "..")
model = os.path.join(root, "models/mobilenetv2-imagenet/1/model.onnx")
src = os.path.join(root, "Tests/Fixtures/mobilenetv2/inputs"); dst = os.path.join(root, "Tests/Fixtures/mobilenetv2/logits")
os.makedirs(dst, exist_ok=True)
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
for f in sorted(os.listdir(src)):
    y = s.run(None, {"input": np.load(os.path.join(src, f))})[0]
    np.save(os.path.join(dst, f), y.astype(np.float32))
    print(f, int(y.argmax()))

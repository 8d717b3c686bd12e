#!/usr/bin/env python3
"""Writes Tests/Fixtures/mlflow_classifier/: a small 4-class image classifier saved by the real
mlflow.onnx.save_model (mlflow-skinny), plus AutoML's labels.json and artifacts/settings.json, and
expected.json: onnxruntime's probabilities on the sample images with AutoML's (Pillow) preprocessing.
    pip install mlflow-skinny pandas && python3 scripts/gen_mlflow_fixture.py"""
import json, os, shutil, sys
import numpy as np, onnx, onnxruntime as ort
from onnx import helper as H, numpy_helper as NH, TensorProto as TP
sys.path.insert(0, os.path.dirname(__file__))
from pillow_reference import automl
from PIL import Image
import mlflow.onnx

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out = os.path.join(root, "Tests/Fixtures/mlflow_classifier")
rng = np.random.default_rng(3)
w1 = (rng.standard_normal((8, 3, 5, 5)) * 0.2).astype(np.float32)
fc = (rng.standard_normal((4, 8)) * 0.5).astype(np.float32)
nodes = [H.make_node("Conv", ["input1", "w1", "b1"], ["c"], strides=[4, 4], pads=[2, 2, 2, 2]),
         H.make_node("Relu", ["c"], ["r"]), H.make_node("GlobalAveragePool", ["r"], ["g"]),
         H.make_node("Flatten", ["g"], ["f"]), H.make_node("Gemm", ["f", "fc", "fcb"], ["output1"], transB=1)]
g = H.make_graph(nodes, "tiny", [H.make_tensor_value_info("input1", TP.FLOAT, ["batch", 3, 160, 160])],
                 [H.make_tensor_value_info("output1", TP.FLOAT, ["batch", 4])],
                 initializer=[NH.from_array(w1, "w1"), NH.from_array(np.zeros(8, np.float32) + 0.1, "b1"),
                              NH.from_array(fc, "fc"), NH.from_array(np.array([0.1, -0.2, 0.3, 0.0], np.float32), "fcb")])
m = H.make_model(g, opset_imports=[H.make_opsetid("", 17)]); m.ir_version = 8
shutil.rmtree(out, ignore_errors=True)
mlflow.onnx.save_model(m, out, metadata={"finetuning_task": "image-classification", "base_model_name": "tiny_cnn",
                                         "is_automl_model": True})
# note: mlflow saves tensors over 1 KiB as external data (<uuid>.data beside model.onnx); Fovea reads it
labels = ["can", "carton", "milk_bottle", "water_bottle"]
json.dump(labels, open(os.path.join(out, "labels.json"), "w"))
os.makedirs(os.path.join(out, "artifacts"), exist_ok=True)
json.dump({"valid_resize_size": 180, "valid_crop_size": 160, "train_crop_size": 160}, open(os.path.join(out, "artifacts/settings.json"), "w"))
sess = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
exp = {}
samples = os.path.join(root, "Tests/Fixtures/images/samples")
for f in sorted(os.listdir(samples)):
    _, t = automl(Image.open(os.path.join(samples, f)).convert("RGB"), resize=180, crop=160)
    z = sess.run(None, {"input1": t})[0][0].astype(np.float64)
    p = np.exp(z - z.max()); p /= p.sum()
    exp[f] = [float(v) for v in p]
json.dump(exp, open(os.path.join(out, "expected.json"), "w"), indent=1)
print("wrote", out, sorted(os.listdir(out)))

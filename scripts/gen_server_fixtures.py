#!/usr/bin/env python3
"""Writes Tests/Fixtures/broken_model: an AutoML-style plain export (model.onnx + labels.json) that loads and
validates but fails at inference (a Reshape to 5 rows of a 3x224x224 image cannot divide 150528 elements).
The server tests use it for a deployment whose instances answer 500 (→ 424 from the endpoint).
Made with onnx.helper; no weights; licence: same as the project."""
import json
import os

import onnx
from onnx import TensorProto, helper

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "broken_model")
os.makedirs(out, exist_ok=True)
x = helper.make_tensor_value_info("input1", TensorProto.FLOAT, ["batch", 3, 224, 224])
y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
s1 = helper.make_tensor("rows5", TensorProto.INT64, [2], [5, -1])
s2 = helper.make_tensor("cols3", TensorProto.INT64, [2], [-1, 3])
g = helper.make_graph([helper.make_node("Reshape", ["input1", "rows5"], ["r"], name="bad_reshape"),
                       helper.make_node("Reshape", ["r", "cols3"], ["logits"], name="to_logits")],
                      "broken", [x], [y], [s1, s2])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="fovea-fixtures")
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, os.path.join(out, "model.onnx"))
with open(os.path.join(out, "labels.json"), "w") as f:
    json.dump(["a", "b", "c"], f)
print("wrote", out)

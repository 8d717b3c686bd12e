#!/usr/bin/env python3
"""Generates the engine's test fixtures: small ONNX models built with onnx.helper, random inputs
(numpy, fixed seeds) and onnxruntime's outputs as the independent reference.

    python3 scripts/gen_fixtures.py [OUT_DIR]   (default Tests/Fixtures/onnx)

Each case is a folder with model.onnx, in_<i>.npy, out_<i>.npy; manifest.json lists the cases,
their input/output names and which float inputs the gradient checks differentiate."""
import json, os, shutil, sys
import numpy as np
import onnx
from onnx import helper as H, TensorProto as TP, numpy_helper as NH
import onnxruntime as ort

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "onnx")
rng = np.random.default_rng(1234)
cases = []

def away(shape, lo=0.1, scale=1.0):
    """Random values kept at least `lo` away from zero (no ReLU/abs kinks within a finite-difference step)."""
    u = rng.standard_normal(shape).astype(np.float32) * scale
    return (np.sign(u) * (np.abs(u) + lo)).astype(np.float32)

def spaced(shape, step=0.05):
    """A random permutation of well-separated values (no ties for MaxPool)."""
    n = int(np.prod(shape))
    v = (np.arange(n, dtype=np.float32) - n / 2) * step
    return rng.permutation(v).reshape(shape).astype(np.float32)

def vinfo(name, arr_or_shape, dtype=TP.FLOAT):
    shape = list(arr_or_shape.shape) if isinstance(arr_or_shape, np.ndarray) else arr_or_shape
    return H.make_tensor_value_info(name, dtype, shape)

def case(name, nodes, inputs, outputs, inits=None, opset=17, grad=None, dims=None, tol=1e-4, out_types=None, fd_eps=1e-2):
    """inputs: list of (name, array); outputs: list of names; inits: dict name->array (initializers);
    grad: names of float inputs the gradient checks use (default: every float input)."""
    inits = inits or {}
    dt = lambda a: TP.INT64 if a.dtype == np.int64 else (TP.BOOL if a.dtype == np.bool_ else TP.FLOAT)
    g_inputs = [vinfo(n, (dims or {}).get(n, a), dt(a)) for n, a in inputs]
    g_outputs = [H.make_tensor_value_info(o, (out_types or {}).get(o, TP.FLOAT), None) for o in outputs]
    graph = H.make_graph(nodes, name, g_inputs, g_outputs,
                         initializer=[NH.from_array(v, k) for k, v in inits.items()])
    model = H.make_model(graph, opset_imports=[H.make_opsetid("", opset)], producer_name="fovea-fixtures")
    model.ir_version = 10 if opset >= 21 else (9 if opset >= 19 else 8)
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    res = sess.run(None, {n: a for n, a in inputs})
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for i, (n, a) in enumerate(inputs):
        np.save(os.path.join(d, f"in_{i}.npy"), a)
    for i, r in enumerate(res):
        np.save(os.path.join(d, f"out_{i}.npy"), np.asarray(r))
    floats = [n for n, a in inputs if a.dtype == np.float32]
    cases.append({"name": name, "inputs": [n for n, _ in inputs], "outputs": outputs,
                  "grad": floats if grad is None else grad, "tol": tol, "opset": opset, "fd_eps": fd_eps})

N = lambda op, ins, outs, **kw: H.make_node(op, ins, outs, name=f"{op.lower()}_{outs[0]}", **kw)

# ---- Conv family ----
x = away((2, 4, 7, 7)); w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32) * 0.3; b = rng.standard_normal(6).astype(np.float32)
case("conv_3x3_pad1", [N("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], [("x", x), ("w", w), ("b", b)], ["y"])
case("conv_stride2_asym_pads", [N("Conv", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[0, 1, 2, 1])], [("x", x), ("w", w), ("b", b)], ["y"])
case("conv_dilated", [N("Conv", ["x", "w"], ["y"], dilations=[2, 2], pads=[2, 2, 2, 2])], [("x", x), ("w", w)], ["y"])
wg = rng.standard_normal((6, 2, 3, 3)).astype(np.float32) * 0.3
case("conv_grouped", [N("Conv", ["x", "w", "b"], ["y"], group=2, pads=[1, 1, 1, 1])], [("x", x), ("w", wg), ("b", b)], ["y"])
wd = rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.3; bd = rng.standard_normal(4).astype(np.float32)
case("conv_depthwise_s2", [N("Conv", ["x", "w", "b"], ["y"], group=4, strides=[2, 2], pads=[1, 1, 1, 1])], [("x", x), ("w", wd), ("b", bd)], ["y"])
wm = rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.3
case("conv_depthwise_mult2", [N("Conv", ["x", "w"], ["y"], group=4, pads=[0, 1, 1, 0])], [("x", x), ("w", wm)], ["y"])
case("conv_autopad_same_upper", [N("Conv", ["x", "w", "b"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])], [("x", x), ("w", w), ("b", b)], ["y"])
w1 = rng.standard_normal((5, 4, 1, 1)).astype(np.float32) * 0.3
case("conv_1x1", [N("Conv", ["x", "w"], ["y"])], [("x", x), ("w", w1)], ["y"])
w5 = rng.standard_normal((3, 4, 5, 5)).astype(np.float32) * 0.2
case("conv_5x5_asym_tf", [N("Conv", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 2, 2])], [("x", x), ("w", w5)], ["y"])

# ---- Gemm / MatMul ----
a = rng.standard_normal((3, 5)).astype(np.float32); bm = rng.standard_normal((4, 5)).astype(np.float32); c = rng.standard_normal(4).astype(np.float32)
case("gemm_transB_bias", [N("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=0.7, beta=1.3)], [("a", a), ("b", bm), ("c", c)], ["y"])
at = rng.standard_normal((5, 3)).astype(np.float32); b2 = rng.standard_normal((5, 4)).astype(np.float32)
case("gemm_transA", [N("Gemm", ["a", "b"], ["y"], transA=1)], [("a", at), ("b", b2)], ["y"])
m1 = rng.standard_normal((2, 3, 4, 5)).astype(np.float32); m2 = rng.standard_normal((3, 5, 6)).astype(np.float32)
case("matmul_batched_broadcast", [N("MatMul", ["a", "b"], ["y"])], [("a", m1), ("b", m2)], ["y"])
case("matmul_shared_rhs", [N("MatMul", ["a", "b"], ["y"])], [("a", m1), ("b", rng.standard_normal((5, 7)).astype(np.float32))], ["y"])
case("matmul_vector", [N("MatMul", ["a", "b"], ["y"])], [("a", rng.standard_normal(5).astype(np.float32)), ("b", m2)], ["y"])

# ---- elementwise with broadcasting ----
p = rng.standard_normal((2, 3, 4, 5)).astype(np.float32); q = rng.standard_normal((3, 1, 5)).astype(np.float32)
case("add_broadcast", [N("Add", ["a", "b"], ["y"])], [("a", p), ("b", q)], ["y"])
case("sub_broadcast", [N("Sub", ["a", "b"], ["y"])], [("a", q), ("b", p)], ["y"])
case("mul_channel", [N("Mul", ["a", "b"], ["y"])], [("a", p), ("b", rng.standard_normal((1, 3, 1, 1)).astype(np.float32))], ["y"])
case("div_broadcast", [N("Div", ["a", "b"], ["y"])], [("a", p), ("b", (np.abs(q) + 0.5).astype(np.float32))], ["y"])
case("pow", [N("Pow", ["a", "b"], ["y"])], [("a", (np.abs(p) + 0.5).astype(np.float32)), ("b", np.array([1.7, 2.0, 0.5, 3.0, 1.1], np.float32))], ["y"])
case("sqrt", [N("Sqrt", ["a"], ["y"])], [("a", (np.abs(p) + 0.5).astype(np.float32))], ["y"])
for op, kw in [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
               ("HardSwish", {}), ("Tanh", {}), ("Erf", {})]:
    v = away((2, 3, 4, 5), scale=2.0)
    if op in ("HardSwish", "HardSigmoid"):   # keep away from the kinks at ±3 and where alpha·x+beta hits 0/1
        v = v[(np.abs(np.abs(v) - 3) > 0.1)] if False else v
        v = np.where(np.abs(np.abs(v) - 3) < 0.1, v + 0.3, v).astype(np.float32)
        if op == "HardSigmoid":
            kink = np.minimum(np.abs(0.3 * v + 0.4), np.abs(0.3 * v + 0.4 - 1))
            v = np.where(kink < 0.05, v + 0.5, v).astype(np.float32)
    case(op.lower(), [N(op, ["x"], ["y"], **kw)], [("x", v)], ["y"], opset=14 if op == "HardSwish" else 17)
v = away((2, 3, 4, 5), scale=3.0); v = np.where(np.abs(v - 6) < 0.1, v + 0.3, v).astype(np.float32)
case("clip_inputs", [N("Clip", ["x", "lo", "hi"], ["y"])], [("x", v)], ["y"], inits={"lo": np.array(0, np.float32), "hi": np.array(1.5, np.float32)})
v2 = np.where(np.abs(np.abs(v) - 1) < 0.1, v + 0.3, v).astype(np.float32)
case("clip_attr_opset10", [N("Clip", ["x"], ["y"], min=-1.0, max=1.0)], [("x", v2)], ["y"], opset=10)
case("gelu_exact", [N("Gelu", ["x"], ["y"])], [("x", away((2, 8)))], ["y"], opset=20)
case("gelu_tanh", [N("Gelu", ["x"], ["y"], approximate="tanh")], [("x", away((2, 8)))], ["y"], opset=20)

# ---- normalisation, softmax ----
case("softmax_last", [N("Softmax", ["x"], ["y"])], [("x", p)], ["y"])
case("softmax_axis1", [N("Softmax", ["x"], ["y"], axis=1)], [("x", p)], ["y"])
case("softmax_opset11_flatten", [N("Softmax", ["x"], ["y"], axis=2)], [("x", p)], ["y"], opset=11)
case("layernorm", [N("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1, epsilon=1e-5)],
     [("x", p), ("s", rng.standard_normal(5).astype(np.float32)), ("b", rng.standard_normal(5).astype(np.float32))], ["y"])
case("layernorm_axis2", [N("LayerNormalization", ["x", "s"], ["y"], axis=2)],
     [("x", p), ("s", rng.standard_normal((4, 5)).astype(np.float32))], ["y"])
case("batchnorm", [N("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
     [("x", p), ("s", rng.standard_normal(3).astype(np.float32)), ("b", rng.standard_normal(3).astype(np.float32))], ["y"],
     inits={"m": rng.standard_normal(3).astype(np.float32), "v": (rng.random(3) + 0.5).astype(np.float32)})

# ---- pooling, reductions ----
s = spaced((2, 3, 9, 9))
case("maxpool_3x3_s2_p1", [N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], [("x", s)], ["y"])
case("maxpool_ceil_indices", [N("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], [("x", s)], ["y", "i"], out_types={"i": TP.INT64})
case("maxpool_dilated", [N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])], [("x", s)], ["y"], opset=12)
case("avgpool_pads_exclude", [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], [("x", p)], ["y"])
case("avgpool_include_pad_ceil", [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1)], [("x", s)], ["y"])
case("globalaveragepool", [N("GlobalAveragePool", ["x"], ["y"])], [("x", p)], ["y"])
case("reducemean_attr", [N("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], [("x", p)], ["y"], opset=13)
case("reducemean_input18", [N("ReduceMean", ["x", "ax"], ["y"], keepdims=0)], [("x", p)], ["y"], opset=18, inits={"ax": np.array([-1, 1], np.int64)})
case("reducesum_input", [N("ReduceSum", ["x", "ax"], ["y"], keepdims=1)], [("x", p)], ["y"], opset=13, inits={"ax": np.array([0, 2], np.int64)})

# ---- shape / data movement ----
case("flatten", [N("Flatten", ["x"], ["y"], axis=2)], [("x", p)], ["y"])
case("reshape", [N("Reshape", ["x", "s"], ["y"])], [("x", p)], ["y"], inits={"s": np.array([0, -1, 5], np.int64)})
case("transpose", [N("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], [("x", p)], ["y"])
case("concat", [N("Concat", ["a", "b", "c"], ["y"], axis=1)], [("a", p), ("b", p[:, :1] * 2), ("c", p[:, :2] - 1)], ["y"])
case("split_input", [N("Split", ["x", "sp"], ["a", "b"], axis=3), N("Mul", ["a", "a"], ["y1"]), N("Add", ["b", "b"], ["y2"])], [("x", p)], ["y1", "y2"], opset=13, inits={"sp": np.array([2, 3], np.int64)})
case("split_attr_opset11", [N("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 1, 1])], [("x", p)], ["a", "b", "c"], opset=11)
case("slice_neg_steps", [N("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", p)], ["y"],
     inits={"st": np.array([-1, 1], np.int64), "en": np.array([-100, 4], np.int64), "ax": np.array([3, 2], np.int64), "sp": np.array([-2, 2], np.int64)})
case("squeeze_unsqueeze", [N("Unsqueeze", ["x", "a1"], ["u"]), N("Squeeze", ["u", "a2"], ["y"])], [("x", p)], ["y"], opset=13,
     inits={"a1": np.array([0, 3], np.int64), "a2": np.array([0], np.int64)})
case("gather_2d_indices", [N("Gather", ["x", "i"], ["y"], axis=2)], [("x", p)], ["y"], inits={"i": np.array([[0, 3], [-1, 1]], np.int64)})
case("shape_subgraph_reshape", [
    N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "zero"], ["n"], axis=0), N("Unsqueeze", ["n", "ax0"], ["n1"]),
    N("Concat", ["n1", "minus1"], ["target"], axis=0), N("Reshape", ["x", "target"], ["flat"]),
    N("ConstantOfShape", ["target2"], ["ones"], value=NH.from_array(np.array([0.5], np.float32))),
    N("Mul", ["flat", "ones"], ["y"])], [("x", p)], ["y"], opset=13,
    inits={"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64), "minus1": np.array([-1], np.int64), "target2": np.array([2, 60], np.int64)})
case("pad_constant", [N("Pad", ["x", "pads", "cv"], ["y"])], [("x", p)], ["y"], opset=13,
     inits={"pads": np.array([0, 0, 1, 2, 0, 1, 0, 1], np.int64), "cv": np.array(0.25, np.float32)})
case("pad_reflect", [N("Pad", ["x", "pads"], ["y"], mode="reflect")], [("x", p)], ["y"], opset=13, inits={"pads": np.array([0, 0, 2, 1, 0, 0, 1, 2], np.int64)})
case("pad_edge", [N("Pad", ["x", "pads"], ["y"], mode="edge")], [("x", p)], ["y"], opset=13, inits={"pads": np.array([0, 0, 1, 3, 0, 0, 2, 0], np.int64)})
case("expand", [N("Expand", ["x", "s"], ["y"])], [("x", q)], ["y"], inits={"s": np.array([2, 3, 4, 5], np.int64)})
case("cast_identity_dropout", [N("Cast", ["x"], ["c"], to=TP.FLOAT), N("Identity", ["c"], ["d"]), N("Dropout", ["d"], ["y"])], [("x", p)], ["y"], opset=13)
case("constant_node", [N("Constant", [], ["k"], value=NH.from_array(np.full((5,), 1.5, np.float32))), N("Mul", ["x", "k"], ["y"])], [("x", p)], ["y"])

# ---- block patterns (weights are initializers, as exporters write them) ----
def conv(name, cin, cout, k, s=1, g=1, bias=True, pad=None, bn=False):
    pad = k // 2 if pad is None else pad
    wt = (rng.standard_normal((cout, cin // g, k, k)) * np.sqrt(2.0 / (cin // g * k * k))).astype(np.float32)
    inits = {f"{name}.w": wt}
    ins = [None, f"{name}.w"]
    if bias:
        inits[f"{name}.b"] = (rng.standard_normal(cout) * 0.1).astype(np.float32); ins.append(f"{name}.b")
    def make(x, out):
        if not bn:
            return [N("Conv", [x] + ins[1:], [out], kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4, group=g)]
        inits.update({f"{name}.bn.s": (rng.random(cout) + 0.5).astype(np.float32), f"{name}.bn.b": (rng.standard_normal(cout) * 0.1).astype(np.float32),
                      f"{name}.bn.m": (rng.standard_normal(cout) * 0.1).astype(np.float32), f"{name}.bn.v": (rng.random(cout) + 0.5).astype(np.float32)})
        return [N("Conv", [x] + ins[1:], [out + ".pre"], kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4, group=g),
                N("BatchNormalization", [out + ".pre", f"{name}.bn.s", f"{name}.bn.b", f"{name}.bn.m", f"{name}.bn.v"], [out])]
    return make, inits

def block(name, x, build, grad=("x",), opset=17, dims=None, tol=1e-4, extra_inputs=()):
    nodes, inits = build()
    # internal ReLU/Clip kinks: a smaller finite-difference step keeps perturbations from crossing them
    case(name, nodes, [("x", x)] + list(extra_inputs), ["y"], inits=inits, grad=list(grad), opset=opset, dims=dims, tol=tol, fd_eps=1e-3)

def resnet_basic():
    c1, i1 = conv("c1", 8, 8, 3, bn=True, bias=False); c2, i2 = conv("c2", 8, 8, 3, bn=True, bias=False)
    nodes = c1("x", "a") + [N("Relu", ["a"], ["ar"])] + c2("ar", "b") + [N("Add", ["b", "x"], ["s"]), N("Relu", ["s"], ["y"])]
    return nodes, {**i1, **i2}
block("block_resnet_basic", away((2, 8, 8, 8)), resnet_basic)

def resnet_bottleneck():
    c1, i1 = conv("c1", 16, 4, 1, bn=True, bias=False); c2, i2 = conv("c2", 4, 4, 3, s=2, bn=True, bias=False)
    c3, i3 = conv("c3", 4, 16, 1, bn=True, bias=False); sc, i4 = conv("sc", 16, 16, 1, s=2, bn=True, bias=False, pad=0)
    nodes = (c1("x", "a") + [N("Relu", ["a"], ["ar"])] + c2("ar", "b") + [N("Relu", ["b"], ["br"])] + c3("br", "c")
             + sc("x", "d") + [N("Add", ["c", "d"], ["s"]), N("Relu", ["s"], ["r"]), N("GlobalAveragePool", ["r"], ["g"]),
                               N("Flatten", ["g"], ["f"]), N("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1)])
    return nodes, {**i1, **i2, **i3, **i4, "fc.w": rng.standard_normal((10, 16)).astype(np.float32) * 0.3, "fc.b": np.zeros(10, np.float32)}
block("block_resnet_bottleneck", away((2, 16, 8, 8)), resnet_bottleneck)

def mbv2_inverted_residual():
    e, i1 = conv("expand", 8, 48, 1, bn=True, bias=False); d, i2 = conv("dw", 48, 48, 3, g=48, bn=True, bias=False)
    pj, i3 = conv("project", 48, 8, 1, bn=True, bias=False)
    six = {"zero": np.array(0, np.float32), "six": np.array(6, np.float32)}
    nodes = (e("x", "a") + [N("Clip", ["a", "zero", "six"], ["ar"])] + d("ar", "b") + [N("Clip", ["b", "zero", "six"], ["br"])]
             + pj("br", "c") + [N("Add", ["c", "x"], ["y"])])
    return nodes, {**i1, **i2, **i3, **six}
block("block_mbv2_inverted_residual", away((2, 8, 10, 10)), mbv2_inverted_residual)

def squeeze_excitation():
    c1, i1 = conv("c1", 8, 16, 3, bias=True)
    f1, i2 = conv("se1", 16, 4, 1, bias=True, pad=0); f2, i3 = conv("se2", 4, 16, 1, bias=True, pad=0)
    nodes = (c1("x", "a") + [N("Sigmoid", ["a"], ["as"]), N("Mul", ["a", "as"], ["silu"]), N("GlobalAveragePool", ["silu"], ["p"])]
             + f1("p", "q") + [N("Relu", ["q"], ["qr"])] + f2("qr", "r") + [N("HardSigmoid", ["r"], ["gate"], alpha=1 / 6, beta=0.5),
                                                                            N("Mul", ["silu", "gate"], ["y"])])
    return nodes, {**i1, **i2, **i3}
block("block_squeeze_excitation", away((2, 8, 6, 6)), squeeze_excitation)

def vit_block():
    D, T, Hh = 16, 5, 2
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    inits = {"ln1.s": (1 + r(D)).astype(np.float32), "ln1.b": r(D), "qkv.w": r(D, 3 * D), "qkv.b": r(3 * D), "proj.w": r(D, D), "proj.b": r(D),
             "ln2.s": (1 + r(D)).astype(np.float32), "ln2.b": r(D), "fc1.w": r(D, 2 * D), "fc1.b": r(2 * D), "fc2.w": r(2 * D, D), "fc2.b": r(D),
             "shape_qkv": np.array([0, 0, 3, Hh, D // Hh], np.int64), "shape_out": np.array([0, 0, D], np.int64),
             "scale": np.array(1 / np.sqrt(D // Hh), np.float32), "sqrt2": np.array(np.sqrt(2), np.float32),
             "half": np.array(0.5, np.float32), "one": np.array(1.0, np.float32), "split3": np.array([1, 1, 1], np.int64), "ax2": np.array([2], np.int64)}
    nodes = [N("LayerNormalization", ["x", "ln1.s", "ln1.b"], ["h1"], axis=-1), N("MatMul", ["h1", "qkv.w"], ["qkv0"]), N("Add", ["qkv0", "qkv.b"], ["qkv1"]),
             N("Reshape", ["qkv1", "shape_qkv"], ["qkv2"]), N("Transpose", ["qkv2"], ["qkv3"], perm=[2, 0, 3, 1, 4]),
             N("Split", ["qkv3", "split3"], ["q0", "k0", "v0"], axis=0), N("Squeeze", ["q0", "zero_ax"], ["q"]), N("Squeeze", ["k0", "zero_ax"], ["k"]),
             N("Squeeze", ["v0", "zero_ax"], ["v"]), N("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), N("MatMul", ["q", "kt"], ["att0"]),
             N("Mul", ["att0", "scale"], ["att1"]), N("Softmax", ["att1"], ["att"], axis=-1), N("MatMul", ["att", "v"], ["o0"]),
             N("Transpose", ["o0"], ["o1"], perm=[0, 2, 1, 3]), N("Reshape", ["o1", "shape_out"], ["o2"]), N("MatMul", ["o2", "proj.w"], ["o3"]),
             N("Add", ["o3", "proj.b"], ["o4"]), N("Add", ["x", "o4"], ["r1"]), N("LayerNormalization", ["r1", "ln2.s", "ln2.b"], ["h2"], axis=-1),
             N("MatMul", ["h2", "fc1.w"], ["f0"]), N("Add", ["f0", "fc1.b"], ["f1"]), N("Div", ["f1", "sqrt2"], ["f2"]), N("Erf", ["f2"], ["f3"]),
             N("Add", ["f3", "one"], ["f4"]), N("Mul", ["f1", "f4"], ["f5"]), N("Mul", ["f5", "half"], ["f6"]), N("MatMul", ["f6", "fc2.w"], ["f7"]),
             N("Add", ["f7", "fc2.b"], ["f8"]), N("Add", ["r1", "f8"], ["y"])]
    inits["zero_ax"] = np.array([0], np.int64)
    del inits["ax2"]
    return nodes, inits
block("block_vit_encoder", rng.standard_normal((2, 5, 16)).astype(np.float32), vit_block)

def automl_dynamic_batch():
    c1, i1 = conv("c1", 3, 8, 3, s=2, bn=True, bias=False)
    nodes = c1("input1", "a") + [N("Relu", ["a"], ["ar"]), N("GlobalAveragePool", ["ar"], ["g"]), N("Shape", ["g"], ["sh"]),
                                 N("Gather", ["sh", "zero"], ["n"], axis=0), N("Unsqueeze", ["n"], ["n1"], axes=[0]),
                                 N("Concat", ["n1", "minus1"], ["t"], axis=0), N("Reshape", ["g", "t"], ["f"]),
                                 N("Gemm", ["f", "fc.w", "fc.b"], ["output1"], transB=1)]
    return nodes, {**i1, "zero": np.array(0, np.int64), "minus1": np.array([-1], np.int64),
                   "fc.w": rng.standard_normal((4, 8)).astype(np.float32), "fc.b": np.zeros(4, np.float32)}
nodes, inits = automl_dynamic_batch()
case("automl_dynamic_batch", nodes, [("input1", away((3, 3, 16, 16)))], ["output1"], inits=inits, grad=["input1"], opset=11, fd_eps=1e-3,
     dims={"input1": ["batch", 3, 16, 16]})

# ---- depthwise kernels: the channel-blocked one (stride 2, 5x5, small planes, a partial block of
# lanes) and the per-plane one (3x3 stride 1 on wide planes), fused activations, weights as inputs ----
xd = away((2, 12, 9, 9)); wd5 = rng.standard_normal((12, 1, 5, 5)).astype(np.float32) * 0.2; bd5 = rng.standard_normal(12).astype(np.float32)
case("conv_depthwise_5x5_s2_asym", [N("Conv", ["x", "w", "b"], ["y"], group=12, strides=[2, 2], pads=[1, 2, 2, 1])],
     [("x", xd), ("w", wd5), ("b", bd5)], ["y"])
def dw_act(cin, k, act):
    c1, i1 = conv("dw", cin, cin, k, g=cin)
    if act == "Clip":
        return c1("x", "a") + [N("Clip", ["a", "lo", "hi"], ["y"])], {**i1, "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    return c1("x", "a") + [N(act, ["a"], ["y"])], i1
block("conv_depthwise_wide_clip", away((1, 10, 6, 20)), lambda: dw_act(10, 3, "Clip"))
block("conv_depthwise_5x5_relu", away((1, 9, 7, 7)), lambda: dw_act(9, 5, "Relu"))

# ---- detection ops (forward only unless noted): NMS with ties and an empty result, RoiAlign in both coordinate
# modes, TopK ties, Resize modes, data-dependent shapes (NonZero, Range, a computed TopK k), empty tensors, If/Loop ----
I64, BOOL = TP.INT64, TP.BOOL
bx = np.array([[[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10], [5, 0, 15, 10]]], np.float32)
sc = np.array([[[0.9, 0.9, 0.8, 0.7, 0.9, 0.6], [0.1, 0.5, 0.5, 0.5, 0.05, 0.3]]], np.float32)   # ties broken by index
nms_in = [("boxes", bx), ("scores", sc), ("max_out", np.array([3], np.int64)), ("iou", np.array([0.5], np.float32)),
          ("thr", np.array([0.2], np.float32))]
case("nms_ties_threshold", [N("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["sel"])], nms_in, ["sel"],
     grad=[], out_types={"sel": I64}, opset=11)
case("nms_center_box", [N("NonMaxSuppression", ["boxes", "scores", "max_out", "iou"], ["sel"], center_point_box=1)], nms_in[:4], ["sel"],
     grad=[], out_types={"sel": I64}, opset=11)
case("nms_nothing_survives", [N("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["sel"])],
     nms_in[:4] + [("thr", np.array([0.95], np.float32))], ["sel"], grad=[], out_types={"sel": I64}, opset=11)
feat = rng.standard_normal((2, 3, 12, 16)).astype(np.float32)
rois = np.array([[1.5, 2.0, 9.3, 7.7], [0, 0, 15, 11], [3.2, 4.1, 3.6, 4.4], [-2, -1, 5, 6]], np.float32)
bidx = np.array([0, 1, 1, 0], np.int64)
case("roialign_output_half_pixel", [N("RoiAlign", ["x", "rois", "bi"], ["y"], output_height=3, output_width=4, sampling_ratio=2, spatial_scale=0.5)],
     [("x", feat), ("rois", rois), ("bi", bidx)], ["y"], grad=[], opset=11)
case("roialign_half_pixel_adaptive_max", [N("RoiAlign", ["x", "rois", "bi"], ["y"], output_height=2, output_width=2, sampling_ratio=0,
     spatial_scale=1.0, mode="max", coordinate_transformation_mode="half_pixel")], [("x", feat), ("rois", rois), ("bi", bidx)], ["y"], grad=[], opset=16)
case("roialign_no_rois", [N("RoiAlign", ["x", "rois", "bi"], ["y"], output_height=2, output_width=2)],
     [("x", feat), ("rois", np.zeros((0, 4), np.float32)), ("bi", np.zeros(0, np.int64))], ["y"], grad=[], opset=11)
tk = np.array([[3, 1, 3, 2, 5, 5], [0, 0, 1, 1, 2, 2]], np.float32)
case("topk_ties_largest", [N("TopK", ["x", "k"], ["v", "i"], axis=1)], [("x", tk)], ["v", "i"], inits={"k": np.array([4], np.int64)},
     grad=[], out_types={"i": I64}, opset=11)
case("topk_grad", [N("TopK", ["x", "k"], ["v", "i"], axis=1)], [("x", spaced((3, 6)))], ["v", "i"], inits={"k": np.array([2], np.int64)},
     grad=["x"], out_types={"i": I64}, opset=11)
case("topk_smallest_axis0", [N("TopK", ["x", "k"], ["v", "i"], axis=0, largest=0)], [("x", away((5, 3))), ("k", np.array([2], np.int64))],
     ["v", "i"], grad=[], out_types={"i": I64}, opset=11)
# k computed from the data (min(3, count of values > 0)): the shape depends on values
xk = away((7,))
case("topk_computed_k", [N("Greater", ["x", "zero"], ["pos"]), N("Cast", ["pos"], ["posi"], to=7), N("ReduceSum", ["posi"], ["npos"], keepdims=1),
                         N("Min", ["npos", "three"], ["k"]), N("TopK", ["x", "k"], ["v", "i"])],
     [("x", xk)], ["v", "i"], inits={"zero": np.array(0, np.float32), "three": np.array([3], np.int64)}, grad=[], out_types={"i": I64}, opset=12)
up = rng.standard_normal((1, 2, 3, 5)).astype(np.float32)
for mode, ctm, nm, scales in [("nearest", "asymmetric", "floor", [1, 1, 2, 2]), ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 2.5, 1.5]),
                              ("nearest", "align_corners", "round_prefer_ceil", [1, 1, 0.7, 1.9]), ("linear", "half_pixel", "round_prefer_floor", [1, 1, 2, 3]),
                              ("linear", "align_corners", "round_prefer_floor", [1, 1, 1.5, 0.6]), ("linear", "pytorch_half_pixel", "floor", [1, 1, 0.34, 2])]:
    case(f"resize_{mode}_{ctm}", [N("Resize", ["x", "roi", "scales"], ["y"], mode=mode, coordinate_transformation_mode=ctm, nearest_mode=nm)],
         [("x", up)], ["y"], inits={"roi": np.zeros(0, np.float32), "scales": np.array(scales, np.float32)}, grad=["x"], opset=11)
case("resize_sizes_nearest", [N("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
     [("x", up)], ["y"], inits={"roi": np.zeros(0, np.float32), "scales": np.zeros(0, np.float32), "sizes": np.array([1, 2, 7, 9], np.int64)}, grad=[], opset=11)
ct = rng.standard_normal((1, 4, 5, 6)).astype(np.float32); wct = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 0.3
case("convtranspose_2x2_s2", [N("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2])], [("x", ct), ("w", wct), ("b", rng.standard_normal(3).astype(np.float32))],
     ["y"], grad=[], opset=11)
wct2 = rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3
case("convtranspose_grouped_pads_outpad", [N("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 0, 1, 1], output_padding=[1, 0], group=2)],
     [("x", ct), ("w", wct2)], ["y"], grad=[], opset=11)
mask = rng.standard_normal((3, 4)) > 0.3
case("nonzero_then_gathernd", [N("NonZero", ["m"], ["nz"]), N("Transpose", ["nz"], ["idx"], perm=[1, 0]), N("GatherND", ["x", "idx"], ["y"])],
     [("m", mask), ("x", away((3, 4, 2)))], ["y"], grad=[], opset=11)
case("nonzero_empty", [N("NonZero", ["m"], ["nz"])], [("m", np.zeros((2, 3), bool))], ["nz"], grad=[], out_types={"nz": I64}, opset=11)
case("range_from_data", [N("ReduceMax", ["n"], ["hi"], keepdims=0), N("Range", ["lo", "hi", "step"], ["y"])],
     [("n", np.array([3, 11, 7], np.int64))], ["y"], inits={"lo": np.array(1, np.int64), "step": np.array(3, np.int64)}, grad=[], out_types={"y": I64}, opset=11)
a3 = rng.standard_normal((2, 3)).astype(np.float32); b3 = np.round(a3, 0).astype(np.float32)
case("compare_logic_where", [N("Equal", ["ai", "bi"], ["e"]), N("Greater", ["a", "b"], ["g"]), N("Less", ["a", "b"], ["l"]),
                              N("Or", ["g", "e"], ["o"]), N("Xor", ["g", "l"], ["xo"]), N("And", ["o", "xo"], ["an"]), N("Not", ["an"], ["nt"]),
                              N("Where", ["nt", "a", "b"], ["y"])],
     [("a", a3), ("b", b3), ("ai", np.array([[1, 2, 3], [4, 5, 6]], np.int64)), ("bi", np.array([1, 0, 3], np.int64))], ["y", "nt"],
     grad=[], out_types={"nt": BOOL}, opset=11)
case("where_broadcast_grad", [N("Where", ["c", "a", "b"], ["y"])],
     [("c", rng.standard_normal((2, 1, 4)) > 0), ("a", away((3, 4))), ("b", away((2, 3, 1)))], ["y"], grad=["a", "b"], opset=11)
case("mod_int_and_fmod", [N("Mod", ["ai", "bi"], ["m"]), N("Mod", ["a", "b"], ["f"], fmod=1)],
     [("ai", np.array([-7, 7, -7, 7, 0], np.int64)), ("bi", np.array([3, -3, -3, 3, 5], np.int64)),
      ("a", np.array([-7.5, 7.5, 2.0], np.float32)), ("b", np.array([2.0, -2.0, 0.75], np.float32))], ["m", "f"], grad=[], out_types={"m": I64}, opset=11)
case("min_max_variadic", [N("Min", ["a", "b", "c"], ["mn"]), N("Max", ["a", "b"], ["mx"])],
     [("a", away((2, 3))), ("b", away((3,))), ("c", away((2, 1)))], ["mn", "mx"], grad=[], opset=11)
rf = rng.standard_normal((2, 3, 4)).astype(np.float32)
case("reduce_max_min_prod", [N("ReduceMax", ["x"], ["mx"], axes=[1]), N("ReduceMin", ["x"], ["mn"], axes=[0, 2], keepdims=0),
                             N("ReduceProd", ["x"], ["pr"], axes=[2])], [("x", rf)], ["mx", "mn", "pr"], grad=[], opset=11)
case("exp_log_floor_ceil", [N("Exp", ["x"], ["e"]), N("Mul", ["x", "x"], ["sq"]),
                            N("Log", ["sq"], ["l"]), N("Floor", ["x"], ["fl"]), N("Ceil", ["x"], ["ce"])],
     [("x", away((3, 4)))], ["e", "l", "fl", "ce"], grad=[], opset=11)
case("exp_log_grad", [N("Exp", ["x"], ["e"]), N("Log", ["e"], ["y"])], [("x", away((2, 5), scale=0.5))], ["y"], grad=["x"], opset=11)
case("scatter_elements_and_nd", [N("ScatterElements", ["x", "i", "u"], ["s"], axis=1), N("ScatterND", ["x", "ind", "upd"], ["n"])],
     [("x", away((3, 4))), ("i", np.array([[0, 3], [1, 1], [2, 0]], np.int64)), ("u", away((3, 2))),
      ("ind", np.array([[2], [0]], np.int64)), ("upd", away((2, 4)))], ["s", "n"], grad=[], opset=11)
case("scatternd_grad", [N("ScatterND", ["x", "ind", "upd"], ["y"])], [("x", away((4, 3))), ("upd", away((2, 3)))], ["y"],
     inits={"ind": np.array([[3], [1]], np.int64)}, grad=["x", "upd"], opset=11)
# empty tensors flowing through ordinary ops (no box survived)
e0 = np.zeros((0, 4), np.float32)
case("empty_tensors_flow", [N("Mul", ["b", "two"], ["m"]), N("Concat", ["m", "b"], ["c"], axis=0), N("Slice", ["c", "s0", "s1", "ax"], ["sl"]),
                            N("Gather", ["sl", "gi"], ["g"], axis=1), N("ReduceMax", ["c"], ["rm"], axes=[1], keepdims=0),
                            N("TopK", ["rm", "k0"], ["tv", "ti"])],
     [("b", e0)], ["g", "rm", "tv"], inits={"two": np.array(2, np.float32), "s0": np.array([0], np.int64), "s1": np.array([2], np.int64),
                                            "ax": np.array([1], np.int64), "gi": np.array([1], np.int64), "k0": np.array([0], np.int64)}, grad=[], opset=11)
# If with outer-scope reads, and a Loop that stacks scan outputs and carries a value (as Mask R-CNN's paste loop)
then_g = H.make_graph([N("Add", ["x", "one"], ["t_out"])], "then", [], [vinfo("t_out", [2, 3])])
else_g = H.make_graph([N("Mul", ["x", "x"], ["e_out"])], "else", [], [vinfo("e_out", [2, 3])])
xi = away((2, 3))
for flag in [True, False]:
    case(f"if_outer_scope_{str(flag).lower()}", [N("ReduceSum", ["c"], ["cs"], keepdims=0), N("Greater", ["cs", "zero"], ["cond"]),
                                                 N("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
         [("x", xi), ("c", np.array([1.0 if flag else -1.0], np.float32))], ["y"], inits={"one": np.array(1, np.float32), "zero": np.array(0, np.float32)},
         grad=[], opset=11)
body = H.make_graph([N("Cast", ["iter"], ["itf"], to=1), N("Mul", ["x", "itf"], ["scan_v"]), N("Add", ["acc_in", "scan_v"], ["acc_out"]),
                     N("Identity", ["cond_in"], ["cond_out"])], "body",
                    [H.make_tensor_value_info("iter", I64, []), H.make_tensor_value_info("cond_in", BOOL, []), vinfo("acc_in", [2, 3])],
                    [H.make_tensor_value_info("cond_out", BOOL, []), vinfo("acc_out", [2, 3]), vinfo("scan_v", [2, 3])])
for trips in [3, 0]:
    case(f"loop_scan_outer_scope_{trips}", [N("Loop", ["m", "", "acc0"], ["acc", "stack"], body=body)],
         [("x", xi), ("acc0", np.zeros((2, 3), np.float32))], ["acc", "stack"], inits={"m": np.array(trips, np.int64)}, grad=[], opset=11)
# ViT with a dynamic batch (torch's export): the class token is expanded with Equal/Where on the input's shape
def vit_cls_token():
    nodes = [N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "zero"], ["n"], axis=0), N("Unsqueeze", ["n"], ["n1"], axes=[0]),
             N("Concat", ["n1", "minus1s"], ["want"], axis=0), N("Equal", ["want", "minus1s3"], ["isneg"]),
             N("Where", ["isneg", "ones3", "want"], ["shape"]), N("Expand", ["cls", "shape"], ["clsx"]),
             N("Concat", ["clsx", "x"], ["y"], axis=1)]
    return nodes, {"zero": np.array(0, np.int64), "minus1s": np.array([-1, -1], np.int64), "minus1s3": np.array([-1, -1, -1], np.int64),
                   "ones3": np.array([1, 1, 1], np.int64), "cls": rng.standard_normal((1, 1, 8)).astype(np.float32)}
nodes, inits = vit_cls_token()
case("vit_dynamic_batch_cls_token", nodes, [("x", away((3, 4, 8)))], ["y"], inits=inits, grad=["x"], opset=12, dims={"x": ["batch", 4, 8]})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"generator": "scripts/gen_fixtures.py", "onnx": onnx.__version__, "onnxruntime": ort.__version__, "cases": cases}, f, indent=1)
print(f"wrote {len(cases)} cases to {OUT}")

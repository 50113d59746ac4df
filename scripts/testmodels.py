#!/usr/bin/python3
"""Build small ONNX detector models whose outputs are known by construction.

Usage:  /usr/bin/python3 scripts/testmodels.py OUTDIR [--selftest]

Every model is built from scratch with onnx.helper (no downloads, no
PyTorch), is byte-for-byte deterministic, passes
onnx.checker.check_model(full_check=True), takes the input "images"
float32 [1,3,640,640] (RGB, 0..1) and has two classes, named in the
metadata the way Ultralytics writes it: names = "{0: 'person', 1: 'car'}",
plus stride, imgsz, task and description.

The detection head is the real Ultralytics (YOLOv8/YOLO11) export head,
with weights chosen so its output is known: with R and B the red and blue
input channels, at stride 32 (20x20 cells)

    person logit = 20 * avgpool32(R) - 10,   car logit = 20 * avgpool32(B) - 10

so a pure red 32x32 cell-aligned square scores sigmoid(10) ~ 0.99995 as a
person and its neighbours sigmoid(-10) ~ 4.5e-5. Strides 8 and 16 exist
(8400 anchors, like a real 640 export) but their logits are a constant -20.
Every cell's box distances are 0.5 stride units on each side (DFL logits 20
on bins 0 and 1), so a cell's box is exactly the cell:
[j*32, i*32, (j+1)*32, (i+1)*32] in input pixels.

Models written:

  yolov8_op17.onnx  opset 17, output "output0" [1,6,8400]: cx, cy, w, h
                    (input pixels), then the class scores (sigmoid). The
                    YOLOv8/YOLO11 layout: box branch + class branch per
                    level, Concat/Reshape, Split, DFL (Softmax + 1x1 Conv),
                    dist2bbox with constant anchors and strides.
  yolov8_op12.onnx  the same head valid at opset 12 (Split attribute, and
                    the Softmax over a non-last axis done as PyTorch exports
                    it: Transpose, Softmax on the last axis, Transpose
                    back). Same numbers as yolov8_op17.onnx.
  yolo_e2e.onnx     opset 17, NMS-free end-to-end output like YOLOv10/YOLO26:
                    "output0" [1,300,6] = x1, y1, x2, y2, score, class (as
                    float), the top 300 anchors by best class score (TopK,
                    sorted). Metadata also has end2end = "True".
  yolov5.onnx       opset 12, YOLOv5 layout: "output" [1,8400,7] = cx, cy,
                    w, h, objectness (sigmoid(20), i.e. 1.0), class scores.
  bench_convnet.onnx  opset 12, for timing ONNX Runtime against OpenCV DNN
                    on a model both can run: a YOLO-like stride-2 3x3
                    Conv + SiLU backbone (3->16->32->64->128->256 channels,
                    640 -> 20) with random seeded weights (~2 GFLOPs), a 1x1
                    head to 7 channels, output "output" [1,400,7].
                    Its numbers mean nothing.

--selftest then checks the written files: the inferred output shapes, that
the builds are deterministic, and the numbers, by running every graph
through a small numpy evaluator of the ops used here (there is no ONNX
runtime for Python on this machine) on a test image (a red square at cell
(7,4), a blue one at cell (10,12)) and comparing with the analytic answer.
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IMG = 640
LEVELS = ((8, 80), (16, 40), (32, 20))  # (stride, grid size) per head level
ANCHORS = sum(g * g for _, g in LEVELS)  # 8400
NC = 2
REG_MAX = 16  # DFL bins per box side
NAMES = "{0: 'person', 1: 'car'}"
IR_VERSION = 8  # pinned so the bytes do not depend on the onnx version
TOP_K = 300  # end-to-end max_det

PERSON_LOGIT_GAIN, PERSON_LOGIT_BIAS = 20.0, -10.0
QUIET_LOGIT = -20.0  # class logits of the stride 8 and 16 levels
DFL_LOGIT = 20.0  # on bins 0 and 1 of each side: expectation 0.5
OBJ_LOGIT = 20.0  # YOLOv5 objectness


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


# ---------------------------------------------------------------- builder


class Graph:
    """Collects nodes and initializers; every node output is named after it."""

    def __init__(self, opset):
        self.opset = opset
        self.nodes = []
        self.inits = []
        self.names = set()

    def _claim(self, name):
        assert name not in self.names, name
        self.names.add(name)
        return name

    def const(self, name, value, dtype=np.float32):
        arr = np.asarray(value, dtype=dtype)
        self.inits.append(numpy_helper.from_array(arr, self._claim(name)))
        return name

    def op(self, op_type, inputs, name, n_out=1, **attrs):
        outs = [name] if n_out == 1 else [f"{name}_{k}" for k in range(n_out)]
        for o in outs:
            self._claim(o)
        self.nodes.append(helper.make_node(op_type, inputs, outs, name="/" + name, **attrs))
        return outs[0] if n_out == 1 else outs

    def split(self, x, sizes, axis, name):
        """Split, with the sizes as an attribute before opset 13, an input after."""
        if self.opset < 13:
            return self.op("Split", [x], name, len(sizes), axis=axis, split=list(sizes))
        s = self.const(name + "/split", sizes, np.int64)
        return self.op("Split", [x, s], name, len(sizes), axis=axis)

    def unsqueeze(self, x, axes, name):
        if self.opset < 13:
            return self.op("Unsqueeze", [x], name, axes=list(axes))
        return self.op("Unsqueeze", [x, self.const(name + "/axes", axes, np.int64)], name)

    def reshape(self, x, shape, name):
        return self.op("Reshape", [x, self.const(name + "/shape", shape, np.int64)], name)


def make_model(g, outputs, description, extra_meta=()):
    """Wrap g into a ModelProto with the Ultralytics-style metadata."""
    graph = helper.make_graph(
        g.nodes,
        "visiongate_test",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, IMG, IMG])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", g.opset)],
        producer_name="visiongate-testmodels",
        ir_version=IR_VERSION,
    )
    meta = [
        ("description", f"visiongate test model ({description})"),
        ("stride", "32"),
        ("task", "detect"),
        ("imgsz", f"[{IMG}, {IMG}]"),
        ("names", NAMES),
    ] + list(extra_meta)
    onnx.helper.set_model_props(model, dict(meta))
    return model


# ------------------------------------------------------- the detection head


def level_features(g, stride):
    """AveragePool with kernel = stride: one pooled RGB pixel per cell."""
    return g.op("AveragePool", ["images"], f"head/p{stride}/AveragePool",
                kernel_shape=[stride, stride], strides=[stride, stride])


def box_branch(g, feat, stride):
    """1x1 Conv to 4 sides x 16 DFL bins: zero weights, logit 20 on bins 0, 1."""
    w = np.zeros((4 * REG_MAX, 3, 1, 1), np.float32)
    b = np.zeros((4, REG_MAX), np.float32)
    b[:, :2] = DFL_LOGIT
    p = f"head/p{stride}/box"
    return g.op("Conv", [feat, g.const(p + "/weight", w), g.const(p + "/bias", b.reshape(-1))],
                p + "/Conv", kernel_shape=[1, 1])


def cls_branch(g, feat, stride):
    """1x1 Conv to the 2 class logits (picks R for person, B for car at stride 32)."""
    w = np.zeros((NC, 3, 1, 1), np.float32)
    b = np.full(NC, QUIET_LOGIT, np.float32)
    if stride == 32:
        w[0, 0] = PERSON_LOGIT_GAIN  # person <- red
        w[1, 2] = PERSON_LOGIT_GAIN  # car <- blue
        b[:] = PERSON_LOGIT_BIAS
    p = f"head/p{stride}/cls"
    return g.op("Conv", [feat, g.const(p + "/weight", w), g.const(p + "/bias", b)],
                p + "/Conv", kernel_shape=[1, 1])


def level_output(g, stride, grid):
    """Concat(box, cls) -> Reshape [1, 66, h*w]."""
    feat = level_features(g, stride)
    cat = g.op("Concat", [box_branch(g, feat, stride), cls_branch(g, feat, stride)],
               f"head/p{stride}/Concat", axis=1)
    return g.reshape(cat, [1, 4 * REG_MAX + NC, grid * grid], f"head/p{stride}/Reshape")


def dfl(g, box):
    """[1,64,8400] -> expected distance per side [1,4,8400]."""
    x = g.reshape(box, [1, 4, REG_MAX, ANCHORS], "dfl/Reshape")
    x = g.op("Transpose", [x], "dfl/Transpose", perm=[0, 2, 1, 3])  # [1,16,4,8400]
    if g.opset >= 13:
        x = g.op("Softmax", [x], "dfl/Softmax", axis=1)
    else:  # Softmax < 13 flattens from axis: move the bins last and back
        x = g.op("Transpose", [x], "dfl/Softmax/Transpose", perm=[0, 3, 2, 1])
        x = g.op("Softmax", [x], "dfl/Softmax", axis=3)
        x = g.op("Transpose", [x], "dfl/Softmax/Transpose_back", perm=[0, 3, 2, 1])
    w = np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1)
    x = g.op("Conv", [x, g.const("dfl/conv/weight", w)], "dfl/conv/Conv", kernel_shape=[1, 1])
    return g.reshape(x, [1, 4, ANCHORS], "dfl/Reshape_out")


def anchor_points():
    """Cell centres in grid units, [1,2,8400], and strides [1,8400]."""
    points, strides = [], []
    for stride, grid in LEVELS:
        sy, sx = np.meshgrid(np.arange(grid) + 0.5, np.arange(grid) + 0.5, indexing="ij")
        points.append(np.stack([sx.ravel(), sy.ravel()]))
        strides.append(np.full(grid * grid, stride))
    return (np.concatenate(points, 1)[None].astype(np.float32),
            np.concatenate(strides)[None].astype(np.float32))


def dist2bbox(g, dist, xywh):
    """Distances [1,4,8400] -> boxes in input pixels, cxcywh or xyxy."""
    anchors, strides = anchor_points()
    a = g.const("decode/anchors", anchors)
    lt, rb = g.split(dist, [2, 2], 1, "decode/Split")
    x1y1 = g.op("Sub", [a, lt], "decode/Sub")
    x2y2 = g.op("Add", [a, rb], "decode/Add")
    if xywh:
        s = g.op("Add", [x1y1, x2y2], "decode/Add_1")
        cxy = g.op("Div", [s, g.const("decode/two", 2.0)], "decode/Div")
        wh = g.op("Sub", [x2y2, x1y1], "decode/Sub_1")
        box = g.op("Concat", [cxy, wh], "decode/Concat", axis=1)
    else:
        box = g.op("Concat", [x1y1, x2y2], "decode/Concat", axis=1)
    return g.op("Mul", [box, g.const("decode/strides", strides)], "decode/Mul")


def decoded_head(g, xywh=True):
    """The whole head: boxes [1,4,8400] in pixels and class scores [1,2,8400]."""
    levels = [level_output(g, s, n) for s, n in LEVELS]
    raw = g.op("Concat", levels, "head/Concat", axis=2)  # [1,66,8400]
    box, cls = g.split(raw, [4 * REG_MAX, NC], 1, "head/Split")
    boxes = dist2bbox(g, dfl(g, box), xywh)
    return boxes, g.op("Sigmoid", [cls], "head/Sigmoid")


# --------------------------------------------------------------- the models


def build_yolov8(opset):
    g = Graph(opset)
    boxes, scores = decoded_head(g)
    g.op("Concat", [boxes, scores], "output0", axis=1)
    return make_model(g, [("output0", [1, 4 + NC, ANCHORS])],
                      f"YOLOv8 layout, opset {opset}, known boxes")


def end2end_select(g, boxes, scores):
    """Top 300 anchors by best class score -> [1,300,6] x1,y1,x2,y2,score,class."""
    best = g.op("ReduceMax", [scores], "e2e/ReduceMax", axes=[1], keepdims=0)  # [1,8400]
    cls = g.op("ArgMax", [scores], "e2e/ArgMax", axis=1, keepdims=0)
    k = g.const("e2e/k", [TOP_K], np.int64)
    top, idx = g.op("TopK", [best, k], "e2e/TopK", 2, axis=1, largest=1, sorted=1)
    idx = g.reshape(idx, [TOP_K], "e2e/Reshape_idx")
    bt = g.op("Transpose", [boxes], "e2e/Transpose", perm=[0, 2, 1])  # [1,8400,4]
    sel_box = g.op("Gather", [bt, idx], "e2e/Gather_box", axis=1)  # [1,300,4]
    clsf = g.op("Cast", [cls], "e2e/Cast", to=TensorProto.FLOAT)
    sel_cls = g.op("Gather", [clsf, idx], "e2e/Gather_cls", axis=1)  # [1,300]
    score = g.unsqueeze(top, [2], "e2e/Unsqueeze_score")
    sel_cls = g.unsqueeze(sel_cls, [2], "e2e/Unsqueeze_cls")
    return g.op("Concat", [sel_box, score, sel_cls], "output0", axis=2)


def build_e2e():
    g = Graph(17)
    boxes, scores = decoded_head(g, xywh=False)
    end2end_select(g, boxes, scores)
    return make_model(g, [("output0", [1, TOP_K, 6])],
                      "end-to-end NMS-free layout, known boxes", [("end2end", "True")])


def build_yolov5():
    g = Graph(12)
    boxes, scores = decoded_head(g)
    # sigmoid(20) rounds to exactly 1.0 in float32. A constant, not Sigmoid of
    # a constant: OpenCV's importer does not fold every op with constant inputs.
    obj = g.const("v5/objectness", np.full((1, 1, ANCHORS), sigmoid(OBJ_LOGIT)))
    cat = g.op("Concat", [boxes, obj, scores], "v5/Concat", axis=1)  # [1,7,8400]
    g.op("Transpose", [cat], "output", perm=[0, 2, 1])
    return make_model(g, [("output", [1, ANCHORS, 5 + NC])], "YOLOv5 layout, known boxes")


# The bench backbone: (out channels, stride) per 3x3 Conv + SiLU.
BENCH_CONVS = ((16, 2), (32, 2), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2))
BENCH_GAIN = 1.75  # weight std x sqrt(fan_in): activations stay ~0.3..1 through SiLU


def bench_conv(g, rng, x, cin, cout, stride, k, name):
    """k x k Conv, weights scaled by 1/sqrt(fan_in) to keep values bounded."""
    w = rng.standard_normal((cout, cin, k, k)) * (BENCH_GAIN / np.sqrt(cin * k * k))
    b = rng.standard_normal(cout) * 0.1
    p = f"bench/{name}"
    return g.op("Conv", [x, g.const(p + "/weight", w), g.const(p + "/bias", b)], p + "/Conv",
                kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)


def silu(g, x):
    s = g.op("Sigmoid", [x], x + "/Sigmoid")
    return g.op("Mul", [x, s], x + "/Mul")


def bench_flops():
    """Multiply-adds x 2 of the bench model's convs (SiLU, bias not counted)."""
    flops, cin, size = 0, 3, IMG
    for cout, stride in BENCH_CONVS:
        size //= stride
        flops += 2 * cout * cin * 9 * size * size
        cin = cout
    return flops + 2 * (5 + NC) * cin * size * size


def build_bench():
    g = Graph(12)
    rng = np.random.default_rng(1)
    x, cin = "images", 3
    for n, (cout, stride) in enumerate(BENCH_CONVS):
        x = silu(g, bench_conv(g, rng, x, cin, cout, stride, 3, f"conv{n}"))
        cin = cout
    x = bench_conv(g, rng, x, cin, 5 + NC, 1, 1, "head")  # [1,7,20,20]
    x = g.reshape(x, [1, 5 + NC, 400], "bench/Reshape")
    g.op("Transpose", [x], "output", perm=[0, 2, 1])
    return make_model(g, [("output", [1, 400, 5 + NC])],
                      "random-weight conv net for speed comparisons, outputs meaningless")


MODELS = {
    "yolov8_op17.onnx": lambda: build_yolov8(17),
    "yolov8_op12.onnx": lambda: build_yolov8(12),
    "yolo_e2e.onnx": build_e2e,
    "yolov5.onnx": build_yolov5,
    "bench_convnet.onnx": build_bench,
}


# ---------------------------------------------------------------- checking


def io_summary(model):
    def dims(v):
        return [d.dim_value for d in v.type.tensor_type.shape.dim]
    return ", ".join(f"{v.name}{dims(v)}" for v in model.graph.output)


def inferred_output_shapes(model):
    """Output shapes that strict shape inference derives with the declared ones erased."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    return {o.name: [d.dim_value if d.HasField("dim_value") else None
                     for d in o.type.tensor_type.shape.dim] for o in m.graph.output}


def check(model):
    onnx.checker.check_model(model, full_check=True)
    got = inferred_output_shapes(model)
    for o in model.graph.output:
        want = [d.dim_value for d in o.type.tensor_type.shape.dim]
        if got[o.name] != want:
            raise SystemExit(f"{o.name}: shape inference gives {got[o.name]}, declared {want}")


def write_all(outdir):
    os.makedirs(outdir, exist_ok=True)
    for name, build in MODELS.items():
        model = build()
        check(model)
        path = os.path.join(outdir, name)
        data = model.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        ops = model.opset_import[0].version
        extra = f", {bench_flops() / 1e9:.2f} GFLOPs" if name == "bench_convnet.onnx" else ""
        print(f"{path}: opset {ops}, images[1, 3, {IMG}, {IMG}] -> {io_summary(model)}, "
              f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}{extra}")


# ------------------------------------------------- numpy evaluator (selftest)


def conv2d(x, w, b, strides, pads):
    n, cin, h, wd = x.shape
    cout, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // strides[1] + 1
    cols = np.empty((n, cin, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
    y = np.einsum("ok,nkp->nop", w.reshape(cout, -1), cols.reshape(n, cin * kh * kw, oh * ow))
    y = y.reshape(n, cout, oh, ow)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def softmax(x, axis, opset):
    if opset < 13:  # coerce to 2D at axis
        shape = x.shape
        return softmax(x.reshape(int(np.prod(shape[:axis])), -1), 1, 13).reshape(shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def topk(x, k, axis):
    order = np.argsort(-x, axis=axis, kind="stable")  # ties: lower index first
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx


def run_node(node, ins, opset):
    a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
    t = node.op_type
    if t == "Conv":
        k = len(ins[1].shape) - 2
        return [conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                       a.get("strides", [1] * k), a.get("pads", [0] * 2 * k))]
    if t == "AveragePool":
        (kh, kw), x = a["kernel_shape"], ins[0]
        assert a["strides"] == [kh, kw] and x.shape[2] % kh == 0 and x.shape[3] % kw == 0
        n, c, h, w = x.shape
        return [x.reshape(n, c, h // kh, kh, w // kw, kw).mean(axis=(3, 5))]
    if t == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if t == "Reshape":
        return [ins[0].reshape(ins[1])]
    if t == "Split":
        sizes = a["split"] if opset < 13 else ins[1]
        return np.split(ins[0], np.cumsum(sizes)[:-1], axis=a.get("axis", 0))
    if t == "Transpose":
        return [ins[0].transpose(a["perm"])]
    if t == "Softmax":
        return [softmax(ins[0], a.get("axis", 1 if opset < 13 else -1), opset)]
    if t == "Sigmoid":
        return [1 / (1 + np.exp(-ins[0]))]
    if t in ("Add", "Sub", "Mul", "Div"):
        return [getattr(np, {"Add": "add", "Sub": "subtract", "Mul": "multiply",
                             "Div": "divide"}[t])(ins[0], ins[1])]
    if t == "ReduceMax":
        return [ins[0].max(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))]
    if t == "ArgMax":
        return [ins[0].argmax(axis=a["axis"]) if not a.get("keepdims", 1)
                else np.expand_dims(ins[0].argmax(axis=a["axis"]), a["axis"])]
    if t == "TopK":
        assert a.get("largest", 1) == 1 and a.get("sorted", 1) == 1
        return list(topk(ins[0], int(ins[1][0]), a.get("axis", -1)))
    if t == "Gather":
        return [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
    if t == "Cast":
        assert a["to"] == TensorProto.FLOAT
        return [ins[0].astype(np.float32)]
    if t == "Unsqueeze":
        return [np.expand_dims(ins[0], tuple(a["axes"] if opset < 13 else ins[1]))]
    raise NotImplementedError(t)


def run_graph(model, image):
    """Evaluate model on image in float32 numpy; returns {output name: array}."""
    opset = model.opset_import[0].version
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env["images"] = image
    for node in model.graph.node:
        outs = run_node(node, [env[i] for i in node.input], opset)
        for name, v in zip(node.output, outs):
            env[name] = np.asarray(v).astype(v.dtype if v.dtype == np.int64 else np.float32)
    return {o.name: env[o.name] for o in model.graph.output}


# ------------------------------------------------ analytic answer (selftest)

RED_CELL, BLUE_CELL = (7, 4), (10, 12)  # (row i, column j) at stride 32


def test_image():
    img = np.zeros((1, 3, IMG, IMG), np.float32)
    for ch, (i, j) in ((0, RED_CELL), (2, BLUE_CELL)):
        img[0, ch, i * 32:(i + 1) * 32, j * 32:(j + 1) * 32] = 1.0
    return img


def expected_head(img):
    """Analytic boxes (xyxy, pixels) [8400,4] and scores [8400,2], in float64."""
    boxes, scores = [], []
    for stride, grid in LEVELS:
        i, j = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        i, j = i.ravel(), j.ravel()
        boxes.append(np.stack([j, i, j + 1, i + 1], 1) * float(stride))
        if stride == 32:
            pool = img[0].astype(np.float64).reshape(3, grid, 32, grid, 32).mean(axis=(2, 4))
            logits = np.stack([20 * pool[0] - 10, 20 * pool[2] - 10], -1).reshape(-1, 2)
        else:
            logits = np.full((grid * grid, 2), QUIET_LOGIT)
        scores.append(sigmoid(logits))
    return np.concatenate(boxes), np.concatenate(scores)


def xywh(b):
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                     b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def anchor_index(cell):
    return ANCHORS - 400 + cell[0] * 20 + cell[1]


def compare(what, got, want, atol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    ok = err <= atol
    print(f"  {'ok ' if ok else 'BAD'} {what}: max |error| {err:.3g} (tolerance {atol:g})")
    return ok


def selftest_yolo_v8(out, boxes, scores):
    o = out["output0"][0].T  # [8400, 6]
    ok = compare("all 8400 boxes cxcywh", o[:, :4], xywh(boxes), 1e-3)
    ok &= compare("all 8400 class scores", o[:, 4:], scores, 1e-6)
    p, c = anchor_index(RED_CELL), anchor_index(BLUE_CELL)
    ok &= compare(f"person anchor {p}", o[p], [144, 240, 32, 32, sigmoid(10), sigmoid(-10)], 1e-4)
    ok &= compare(f"car anchor {c}", o[c], [400, 336, 32, 32, sigmoid(-10), sigmoid(10)], 1e-4)
    return ok


def selftest_e2e(out, boxes, scores):
    o = out["output0"][0]  # [300, 6]
    ok = compare("row 0 = person", o[0], [128, 224, 160, 256, sigmoid(10), 0], 1e-4)
    ok &= compare("row 1 = car", o[1], [384, 320, 416, 352, sigmoid(10), 1], 1e-4)
    best = np.sort(scores.max(1))[::-1][:TOP_K]
    ok &= compare("scores = the 300 best, descending", o[:, 4], best, 1e-6)
    return ok and bool(np.all(np.diff(o[:, 4]) <= 0))


def selftest_yolov5(out, boxes, scores):
    o = out["output"][0]  # [8400, 7]
    ok = compare("all boxes cxcywh", o[:, :4], xywh(boxes), 1e-3)
    ok &= compare("objectness = 1", o[:, 4], 1.0, 1e-6)
    ok &= compare("class scores", o[:, 5:], scores, 1e-6)
    p = anchor_index(RED_CELL)
    ok &= compare(f"person anchor {p}", o[p], [144, 240, 32, 32, 1, sigmoid(10), sigmoid(-10)], 1e-4)
    return ok


def selftest_bench(model):
    img = np.random.default_rng(2).random((1, 3, IMG, IMG), dtype=np.float32)
    out = run_graph(model, img)["output"]
    print(f"  output {list(out.shape)}, range [{out.min():.3g}, {out.max():.3g}], "
          f"std {out.std():.3g} on a uniform random image")
    return out.shape == (1, 400, 7) and bool(np.all(np.isfinite(out))) and np.abs(out).max() < 1e3


def selftest(outdir):
    img = test_image()
    boxes, scores = expected_head(img)
    ok = True
    results = {}
    for name, build in MODELS.items():
        path = os.path.join(outdir, name)
        with open(path, "rb") as f:
            data = f.read()
        print(f"{name}:")
        same = data == build().SerializeToString()
        print(f"  {'ok ' if same else 'BAD'} rebuild gives the same bytes")
        model = onnx.load_from_string(data)
        check(model)
        print(f"  ok  check_model(full_check) and inferred shapes: {inferred_output_shapes(model)}")
        ok &= same
        if name == "bench_convnet.onnx":
            ok &= selftest_bench(model)
            continue
        out = run_graph(model, img)
        results[name] = out
        check_fn = {"yolo_e2e.onnx": selftest_e2e, "yolov5.onnx": selftest_yolov5}.get(name, selftest_yolo_v8)
        ok &= check_fn(out, boxes, scores)
    ok &= compare("yolov8_op12 == yolov8_op17", results["yolov8_op12.onnx"]["output0"],
                  results["yolov8_op17.onnx"]["output0"], 1e-6)
    print("selftest", "passed" if ok else "FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--selftest", action="store_true",
                    help="afterwards, check the written models' numbers with a numpy evaluator")
    args = ap.parse_args()
    write_all(args.outdir)
    if args.selftest and not selftest(args.outdir):
        sys.exit(1)


if __name__ == "__main__":
    main()

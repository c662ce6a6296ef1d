"""Converts the pinned model packages into the ONNX files Selo's local engines run.

Run by `selo models install` (never at build or run time) with an interpreter that has the
pinned conversion packages (CONVERTER_PYTHON_PACKAGES in crates/selo-engine/src/catalogue.rs):

    python3 convert.py blazeface  SRC.tflite OUT.onnx
    python3 convert.py dlib       MANIFEST.json WEIGHTS.bin OUT.onnx

The output is reproducible: the same inputs give the same ONNX bytes (the converter's
unordered initializers and value infos are sorted by name, producer fields are fixed).
"""

import json
import logging
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def canonical(model):
    """Sorts what converters emit in hash order, so the bytes depend on the inputs only."""
    graph = model.graph
    inits = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = sorted(graph.value_info, key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(infos)
    model.producer_name = "selo-models"
    model.producer_version = "1"
    model.doc_string = ""
    return model


def blazeface(src, out):
    """BlazeFace (MediaPipe short-range) TFLite -> ONNX with tflite2onnx (fp16 weights become
    fp32). Input [1,3,128,128] in [-1, 1]; outputs regressors [1,896,16], classificators
    [1,896,1]."""
    import os
    import tempfile

    import tflite2onnx

    # It warns once per fp16 tensor; the weights are widened to fp32 and checked by the tests.
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        tflite2onnx.convert(src, raw)
        model = onnx.load(raw)
    onnx.checker.check_model(model)
    onnx.save(canonical(model), out)


def dequantised(manifest_path, weights_path):
    """The TF.js weight manifest's tensors, dequantised (value = q * scale + min)."""
    with open(manifest_path) as f:
        manifest = json.load(f)
    with open(weights_path, "rb") as f:
        blob = f.read()
    tensors, offset = {}, 0
    for entry in manifest[0]["weights"]:
        count = int(np.prod(entry["shape"]))
        q = entry.get("quantization")
        if q:
            assert q["dtype"] == "uint8", q
            raw = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset)
            offset += count
            values = raw.astype(np.float64) * q["scale"] + q["min"]
        else:
            raw = np.frombuffer(blob, dtype=np.float32, count=count, offset=offset)
            offset += count * 4
            values = raw.astype(np.float64)
        tensors[entry["name"]] = values.reshape(entry["shape"])
    assert offset == len(blob), (offset, len(blob))
    return tensors


def dlib(manifest_path, weights_path, out_path):
    """face-api.js's FaceRecognitionNet (dlib's ResNet-29) rebuilt as ONNX, NCHW.

    Input [1,3,150,150]: an aligned RGB face, (pixel - meanRgb) / 255 with meanRgb
    (122.782, 117.001, 104.298). Output [1,128]. Each conv's scale layer (x * w + b) is folded
    into the convolution."""
    w = dequantised(manifest_path, weights_path)
    nodes, inits = [], []
    counter = [0]

    def fresh(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(name, array, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def conv(x, prefix, stride, relu, same):
        filters = w[f"{prefix}/conv/filters"]  # [kh, kw, in, out]
        bias = w[f"{prefix}/conv/bias"]
        scale_w = w[f"{prefix}/scale/weights"]
        scale_b = w[f"{prefix}/scale/biases"]
        kernel = np.transpose(filters, (3, 2, 0, 1)) * scale_w[:, None, None, None]
        folded_bias = bias * scale_w + scale_b
        k = filters.shape[0]
        pad = (k - 1) // 2 if same else 0
        y = fresh(prefix.replace("/", "_"))
        nodes.append(
            helper.make_node(
                "Conv",
                [x, const(y + "_W", kernel), const(y + "_B", folded_bias)],
                [y],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad, pad, pad, pad],
            )
        )
        if relu:
            r = fresh("relu")
            nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    def add_relu(a, b):
        s = fresh("add")
        nodes.append(helper.make_node("Add", [a, b], [s]))
        r = fresh("relu")
        nodes.append(helper.make_node("Relu", [s], [r]))
        return r

    def residual(x, name):
        out = conv(x, f"{name}/conv1", 1, True, True)
        out = conv(out, f"{name}/conv2", 1, False, True)
        return add_relu(out, x)

    # Spatial size and channels, tracked to reproduce face-api's zero padding.
    def residual_down(x, name, size, channels):
        out = conv(x, f"{name}/conv1", 2, True, False)
        out = conv(out, f"{name}/conv2", 1, False, True)
        out_size = (size - 3) // 2 + 1
        out_channels = w[f"{name}/conv2/conv/filters"].shape[3]
        pooled = fresh("pool")
        nodes.append(
            helper.make_node("AveragePool", [x], [pooled], kernel_shape=[2, 2], strides=[2, 2])
        )
        pooled_size = size // 2
        if pooled_size != out_size:
            grow = pooled_size - out_size
            padded = fresh("pad")
            pads = const(padded + "_pads", [0, 0, 0, 0, 0, 0, grow, grow], np.int64)
            nodes.append(helper.make_node("Pad", [out, pads], [padded]))
            out = padded
        if channels != out_channels:
            padded = fresh("chpad")
            pads = const(padded + "_pads", [0, 0, 0, 0, 0, out_channels - channels, 0, 0], np.int64)
            nodes.append(helper.make_node("Pad", [pooled, pads], [padded]))
            pooled = padded
        return add_relu(pooled, out), pooled_size, out_channels

    x = "input"
    out = conv(x, "conv32_down", 2, True, False)  # 150 -> 72
    pooled = fresh("maxpool")
    nodes.append(helper.make_node("MaxPool", [out], [pooled], kernel_shape=[3, 3], strides=[2, 2]))
    out, size, channels = pooled, 35, 32
    for name in ("conv32_1", "conv32_2", "conv32_3"):
        out = residual(out, name)
    out, size, channels = residual_down(out, "conv64_down", size, channels)
    for name in ("conv64_1", "conv64_2", "conv64_3"):
        out = residual(out, name)
    out, size, channels = residual_down(out, "conv128_down", size, channels)
    for name in ("conv128_1", "conv128_2"):
        out = residual(out, name)
    out, size, channels = residual_down(out, "conv256_down", size, channels)
    for name in ("conv256_1", "conv256_2"):
        out = residual(out, name)
    out, size, channels = residual_down(out, "conv256_down_out", size, channels)
    avg = fresh("avg")
    nodes.append(helper.make_node("GlobalAveragePool", [out], [avg]))
    flat = fresh("flat")
    nodes.append(helper.make_node("Flatten", [avg], [flat], axis=1))
    nodes.append(helper.make_node("MatMul", [flat, const("fc", w["fc"])], ["embedding"]))

    graph = helper.make_graph(
        nodes,
        "dlib_resnet29",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 150, 150])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 128])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(canonical(model), out_path)


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "blazeface":
        blazeface(sys.argv[2], sys.argv[3])
    elif kind == "dlib":
        dlib(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown model kind {kind!r}: expected blazeface or dlib")

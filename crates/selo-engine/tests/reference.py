"""The reference implementation for the engine tests: onnxruntime on the same ONNX files.

    python reference.py MODEL.onnx IN.f32 OUT.f32 D0 D1 D2 D3

Reads the input tensor (little-endian float32, shape D0..D3), runs the model with one thread
and writes every output, concatenated, as little-endian float32.
"""
import sys

import numpy as np
import onnxruntime as ort

model, src, dst = sys.argv[1:4]
shape = [int(d) for d in sys.argv[4:]]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
x = np.fromfile(src, dtype="<f4").reshape(shape)
outputs = session.run(None, {session.get_inputs()[0].name: x})
np.concatenate([o.astype("<f4").ravel() for o in outputs]).tofile(dst)

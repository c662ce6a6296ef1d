"""The local engines' reference (perf-limits §7): onnxruntime, one thread, on the same models and
the same inputs as Selo's pipeline.

    python ort_timing.py DETECTOR.onnx EMBEDDER.onnx DET.f32 EMB.f32 N ROUNDS

DET.f32 holds N detector inputs (1×3×128×128 each), EMB.f32 N embedder inputs (1×3×150×150
each), little-endian float32. After one untimed round, runs detect + embed on every input ROUNDS
times and prints one JSON line: the process CPU seconds per selfie for each model and in all.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

detector_path, embedder_path, det_path, emb_path = sys.argv[1:5]
n, rounds = int(sys.argv[5]), int(sys.argv[6])


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


detector, embedder = session(detector_path), session(embedder_path)
det_in, emb_in = detector.get_inputs()[0].name, embedder.get_inputs()[0].name
dets = np.fromfile(det_path, dtype="<f4").reshape(n, 1, 3, 128, 128)
embs = np.fromfile(emb_path, dtype="<f4").reshape(n, 1, 3, 150, 150)
for i in range(n):
    detector.run(None, {det_in: dets[i]})
    embedder.run(None, {emb_in: embs[i]})
detect_s = embed_s = 0.0
for _ in range(rounds):
    for i in range(n):
        t0 = time.process_time()
        detector.run(None, {det_in: dets[i]})
        t1 = time.process_time()
        embedder.run(None, {emb_in: embs[i]})
        t2 = time.process_time()
        detect_s += t1 - t0
        embed_s += t2 - t1
runs = n * rounds
print(json.dumps({
    "onnxruntime": ort.__version__,
    "detect_s": detect_s / runs,
    "embed_s": embed_s / runs,
    "total_s": (detect_s + embed_s) / runs,
}))

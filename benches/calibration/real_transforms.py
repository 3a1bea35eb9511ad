#!/usr/bin/env python3
"""Applies the adversarial transforms to a real model (all-MiniLM-L6-v2 from the corpus).

usage: real_transforms.py CORPUS_DIR OUT_DIR
Writes OUT_DIR/<transform>.safetensors and appends `derived`/`re-encoded`/`same-weights`
expectations against the original to OUT_DIR/pairs.tsv (paths relative to OUT_DIR).
"""
import os
import sys

import ml_dtypes
import numpy as np
from safetensors.numpy import load_file, save_file

src = os.path.join(sys.argv[1], "minilm-l6-v2.fp32.safetensors")
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
base = load_file(src)
rng = np.random.default_rng(0)
os.symlink(os.path.abspath(src), os.path.join(out, "original.safetensors")) if not os.path.exists(os.path.join(out, "original.safetensors")) else None
pairs = []


def emit(name, tensors, expected):
    save_file(tensors, os.path.join(out, name + ".safetensors"))
    pairs.append(f"original.safetensors\t{name}.safetensors\t{expected}")


layers = sorted({k.split(".")[2] for k in base if k.startswith("encoder.layer.")}, key=int)
# Hidden-unit permutation in every FFN: intermediate rows (and bias), output columns.
t = dict(base)
for l in layers:
    p = rng.permutation(base[f"encoder.layer.{l}.intermediate.dense.weight"].shape[0])
    t[f"encoder.layer.{l}.intermediate.dense.weight"] = base[f"encoder.layer.{l}.intermediate.dense.weight"][p]
    t[f"encoder.layer.{l}.intermediate.dense.bias"] = base[f"encoder.layer.{l}.intermediate.dense.bias"][p]
    t[f"encoder.layer.{l}.output.dense.weight"] = np.ascontiguousarray(base[f"encoder.layer.{l}.output.dense.weight"][:, p])
emit("ffn-permuted", t, "derived")
# Fine-tuning noise at 10% and 30% of each tensor's standard deviation.
for level in (0.1, 0.3):
    emit(f"noise-{level}", {k: (v + level * v.std() * rng.standard_normal(v.shape)).astype(np.float32) for k, v in base.items()}, "derived")
# Casts and 8-bit quantization (per-row symmetric, dequantized to f32 is lossy: derived or re-encoded).
emit("bf16", {k: v.astype(ml_dtypes.bfloat16) for k, v in base.items()}, "re-encoded")
emit("f16", {k: v.astype(np.float16) for k, v in base.items()}, "re-encoded")
# Renamed and transposed.
emit("renamed-transposed", {f"w{i}": (np.ascontiguousarray(v.T) if v.ndim == 2 else v) for i, (k, v) in enumerate(sorted(base.items()))}, "same-weights")
# Every other layer dropped.
keep = {k: v for k, v in base.items() if not (k.startswith("encoder.layer.") and int(k.split(".")[2]) % 2 == 1)}
emit("half-the-layers", keep, "derived")
with open(os.path.join(out, "pairs.tsv"), "w") as f:
    f.write("\n".join(pairs) + "\n")

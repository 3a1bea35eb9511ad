#!/usr/bin/env bash
# `mlprov scan` of a folder of models against `b3sum` reading the same files, in one run.
# Issue 12's target: a scan is bounded by reading samples, not whole files (< 0.5x b3sum).
#
# The folder: COUNT models of SIZE_MIB each (default 8 x 512 MiB = 4 GiB), half safetensors
# (F16) and half GGUF (F16), Llama-shaped random weights; the first one is registered, so
# the scan also runs the lineage test on the copy of it the folder holds. Files are read
# once before timing (both tools then read from the page cache, as on a warm server).
#
# usage: benches/scan.sh [DIR]   (SIZE_MIB=.. COUNT=.. to change the folder)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d)}
SIZE_MIB=${SIZE_MIB:-512}
COUNT=${COUNT:-8}
mkdir -p "$DIR/models"

python3 - "$DIR/models" "$SIZE_MIB" "$COUNT" <<'PY'
import os, sys
import numpy as np
from gguf import GGUFWriter
from safetensors.numpy import save_file
out, size_mib, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = 2048
for i in range(count):
    ext = "safetensors" if i % 2 == 0 else "gguf"
    path = os.path.join(out, f"model{i}.{ext}")
    if os.path.exists(path):
        continue
    rng = np.random.default_rng(i)
    rows = size_mib * (1 << 20) // (2 * d) // 16  # 16 tensors of F16
    tensors = {f"model.layers.{l}.mlp.up_proj.weight": (rng.standard_normal((rows, d), dtype=np.float32) * 0.02).astype(np.float16)
               for l in range(16)}
    if ext == "safetensors":
        save_file(tensors, path)
    else:
        w = GGUFWriter(path, "llama")
        for k, v in tensors.items():
            w.add_tensor(k.replace("model.layers.", "blk.").replace(".mlp.up_proj", ".ffn_up"), v)
        w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY

cargo build --release -q -p mlprov-cli
MLPROV=$PWD/target/release/mlprov
REG=$DIR/registry.sqlite
rm -f "$REG"
"$MLPROV" register "$DIR/models/model0.safetensors" --registry "$REG" >/dev/null
cat "$DIR"/models/* >/dev/null
du -sh "$DIR/models"
hyperfine --warmup 1 --runs 5 -i \
  "b3sum $DIR/models/*" \
  "$MLPROV scan $DIR/models --registry $REG --json"

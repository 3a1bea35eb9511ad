#!/usr/bin/env bash
# The base-aware lineage test (`compare A B --base P`) on the real corpus:
#  1. the smallest change of A from its base P still found in a child of A at p < 1e-6,
#     per storage of the child (BF16, int8 per row, 4-bit blocks), on all-MiniLM-L6-v2;
#  2. the cost of the extra model: `mlprov compare A B` against `mlprov compare A B --base P`.
#
# usage: MLPROV_CORPUS=DIR benches/own_changes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MLPROV_CORPUS:?set MLPROV_CORPUS to the corpus folder (../shared/corpus/fetch_dev_models.sh DIR)}"
export MLPROV_CORPUS

cargo test --release -q -p mlprov --test real_model_transforms minilm_smallest_detectable_change \
  -- --ignored --nocapture 2>&1 | grep '^\[smallest change\]'

cargo build --release -q -p mlprov-cli
MLPROV=$PWD/target/release/mlprov
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A and a sibling B: MiniLM plus independent changes of 1% of each tensor's spread.
python3 - "$MLPROV_CORPUS/minilm-l6-v2.fp32.safetensors" "$work" <<'PY'
import sys, numpy as np
from safetensors.numpy import load_file, save_file
src, out = sys.argv[1], sys.argv[2]
p = load_file(src)
for name, seed in (("a", 1), ("b", 2)):
    rng = np.random.default_rng(seed)
    save_file({k: (v + 0.01 * v.std() * rng.standard_normal(v.shape)).astype(v.dtype)
               if v.dtype.kind == "f" else v for k, v in p.items()}, f"{out}/{name}.safetensors")
PY
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
plain=$(time_it "$MLPROV" compare "$work/a.safetensors" "$work/b.safetensors")
based=$(time_it "$MLPROV" compare "$work/a.safetensors" "$work/b.safetensors" --base "$MLPROV_CORPUS/minilm-l6-v2.fp32.safetensors")
echo "compare A B:           ${plain}s"
echo "compare A B --base P:  ${based}s  ($(echo "scale=2; $based / $plain" | bc)x)"
"$MLPROV" compare "$work/a.safetensors" "$work/b.safetensors" --base "$MLPROV_CORPUS/minilm-l6-v2.fp32.safetensors" || true

#!/usr/bin/env bash
# Times `mlprov manifest` against b3sum and OpenSSF model-signing on the same 2 GiB,
# 4-file safetensors model, page cache warm, in one run; reports ratios and mlprov's
# peak anonymous memory (RssAnon: the process's own heap, not the mapped file pages).
#
# usage: benches/manifest_vs_peers.sh [DATA_DIR]    (default: bench-data/, git-ignored)
# Installs what it lacks: b3sum (crates.io), hyperfine (Debian), model-signing (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bench-data}
MODEL=$DATA/model-2g
RUNS=${RUNS:-7}
mkdir -p "$DATA"

command -v b3sum >/dev/null || cargo install --locked b3sum
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
command -v model_signing >/dev/null || pip install -q model-signing pyopenssl
python3 -c "import numpy, safetensors" 2>/dev/null || pip install -q numpy safetensors

if [[ ! -f $MODEL/model-00004-of-00004.safetensors ]]; then
  echo "generating $MODEL (4 x 512 MiB safetensors, 16 tensors each)" >&2
  python3 - "$MODEL" <<'PY'
import os, sys
import numpy as np
from safetensors.numpy import save_file
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
for s in range(4):
    t = {f"model.layers.{s*16+i}.mlp.weight": rng.standard_normal((2048, 4096), dtype=np.float32) for i in range(16)}
    save_file(t, os.path.join(out, f"model-{s+1:05d}-of-00004.safetensors"))
PY
fi
[[ -f $DATA/key.pem ]] || openssl ecparam -name prime256v1 -genkey -noout -out "$DATA/key.pem"

cargo build --release -q -p mlprov-cli
MLPROV=$PWD/target/release/mlprov
cat "$MODEL"/*.safetensors > /dev/null   # warm the page cache

hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/manifest_vs_peers.json" \
  -n b3sum "b3sum $MODEL/*.safetensors" \
  -n "mlprov manifest" "$MLPROV manifest $MODEL -o $DATA/manifest.json --force" \
  -n "model_signing sign key" "model_signing sign key $MODEL --private_key $DATA/key.pem --signature $DATA/model.sig"

# Peak RssAnon (and VmHWM, which counts the mapped file too) of mlprov manifest, sampled
# every 0.5 ms from /proc by one Python process (no fork per sample).
peak=$(python3 - "$MLPROV" "$MODEL" "$DATA/manifest.json" <<'PY'
import subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "manifest", sys.argv[2], "-o", sys.argv[3], "--force"], stdout=subprocess.DEVNULL)
peak = hwm = 0
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("RssAnon:"): peak = max(peak, int(line.split()[1]))
            if line.startswith("VmHWM:"): hwm = max(hwm, int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    time.sleep(0.0005)
print(peak, hwm)
PY
)

python3 - "$DATA/manifest_vs_peers.json" $peak <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
m, b, s = (res[k]["median"] for k in ("mlprov manifest", "b3sum", "model_signing sign key"))
print(f"\nmedians: b3sum {b:.3f} s, mlprov manifest {m:.3f} s, model_signing {s:.3f} s")
print(f"mlprov / b3sum         = {m / b:.3f}   (target <= 1.15)")
print(f"model_signing / mlprov = {s / m:.2f}x  (target >= 5)")
print(f"mlprov peak RssAnon    = {int(sys.argv[2]) / 1024:.1f} MiB (target < 64 MiB); VmHWM incl. mapped file {int(sys.argv[3]) / 1024:.0f} MiB")
PY

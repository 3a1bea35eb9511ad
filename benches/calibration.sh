#!/usr/bin/env bash
# Calibrates the lineage test on models trained here (independent seeds, fine-tuned
# descendants) and, given the corpus, on transforms of a real model; prints `mlprov eval`.
# usage: benches/calibration.sh [DATA_DIR] [CORPUS_DIR] [SEEDS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bench-data}/calibration
CORPUS=${2:-}
python3 -c "import torch, safetensors, ml_dtypes" 2>/dev/null || pip install -q torch safetensors ml_dtypes numpy
cargo build --release -q -p mlprov-cli
M=$PWD/target/release/mlprov
[[ -f $DATA/trained/pairs.tsv ]] || python3 benches/calibration/train_models.py "$DATA/trained" "${3:-21}" "${4:-300}"
echo "== trained models: independent seeds and fine-tuned descendants =="
"$M" eval "$DATA/trained/pairs.tsv" | tail -14 || true
# Is the p-value of independent pairs uniform? Shares below 0.5, 0.1, 0.01 (uniform: the same).
"$M" --json eval "$DATA/trained/pairs.tsv" | python3 -c '
import json, sys
p = sorted(10 ** r["log10_p_value"] for r in json.load(sys.stdin)["results"] if r["expected"] == "unrelated")
share = lambda x: sum(v < x for v in p) / len(p)
print(f"independent p-values ({len(p)}): below 0.5 {share(0.5):.3f}, below 0.1 {share(0.1):.3f}, below 0.01 {share(0.01):.3f}, smallest {p[0]:.2e}")
' || true
if [[ -n $CORPUS ]]; then
  python3 benches/calibration/real_transforms.py "$CORPUS" "$DATA/real"
  echo "== transforms of a real model (all-MiniLM-L6-v2) =="
  "$M" eval "$DATA/real/pairs.tsv" || true
fi

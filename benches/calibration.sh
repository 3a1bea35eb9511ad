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
if [[ -n $CORPUS ]]; then
  python3 benches/calibration/real_transforms.py "$CORPUS" "$DATA/real"
  echo "== transforms of a real model (all-MiniLM-L6-v2) =="
  "$M" eval "$DATA/real/pairs.tsv" || true
fi

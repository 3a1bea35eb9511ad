#!/usr/bin/env bash
# Calibrates the lineage test on models trained here (independent seeds, fine-tuned
# descendants) and, given the corpus, on transforms of a real model; prints `mlprov eval`.
# usage: benches/calibration.sh [DATA_DIR] [CORPUS_DIR] [SEEDS] [STEPS]
#   FIRST_SEED=100 benches/calibration.sh ...  trains a fresh set of seeds (100..) that no
#   threshold was set on (its own folder), to report out-of-sample figures.
#   SIBLINGS=10 also trains fine-tunes of one base (A, siblings on A's data and on other
#   data, children of A) and evaluates the base-aware test (`compare --base`) on them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bench-data}/calibration
CORPUS=${2:-}
python3 -c "import torch, safetensors, ml_dtypes" 2>/dev/null || pip install -q torch safetensors ml_dtypes numpy
cargo build --release -q -p mlprov-cli
M=$PWD/target/release/mlprov
FIRST_SEED=${FIRST_SEED:-0}
TRAINED=$DATA/trained
[[ $FIRST_SEED == 0 ]] || TRAINED=$DATA/trained-from-$FIRST_SEED
[[ -f $TRAINED/pairs.tsv ]] || python3 benches/calibration/train_models.py "$TRAINED" "${3:-21}" "${4:-300}" "$FIRST_SEED"
echo "== trained models (seeds from $FIRST_SEED): independent seeds and fine-tuned descendants =="
"$M" eval "$TRAINED/pairs.tsv" | tail -14 || true
# Is the p-value of independent pairs uniform? Shares below 0.5, 0.1, 0.01 (uniform: the same).
"$M" --json eval "$TRAINED/pairs.tsv" | python3 -c '
import json, sys
p = sorted(10 ** r["log10_p_value"] for r in json.load(sys.stdin)["results"] if r["expected"] == "unrelated")
share = lambda x: sum(v < x for v in p) / len(p)
print(f"independent p-values ({len(p)}): below 0.5 {share(0.5):.3f}, below 0.1 {share(0.1):.3f}, below 0.01 {share(0.01):.3f}, smallest {p[0]:.2e}")
' || true
if [[ -n ${SIBLINGS:-} ]]; then
  [[ -f $DATA/siblings/pairs.tsv ]] || python3 benches/calibration/train_siblings.py "$DATA/siblings" "$SIBLINGS" "${4:-300}"
  echo "== base-aware test: fine-tunes of one trained base =="
  "$M" eval "$DATA/siblings/pairs.tsv" | tail -14 || true
  "$M" --json eval "$DATA/siblings/pairs.tsv" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    b, want, got, lp = r["b"].split("/")[-1], r["expected"], r["verdict"], r["log10_p_value"]
    print(f"{b:<32} expected {want:<12} got {got:<12} own-changes log10 p {lp:.2f}")
' || true
fi
if [[ -n $CORPUS ]]; then
  python3 benches/calibration/real_transforms.py "$CORPUS" "$DATA/real"
  echo "== transforms of a real model (all-MiniLM-L6-v2) =="
  "$M" eval "$DATA/real/pairs.tsv" || true
fi

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
  SIB=$DATA/siblings
  [[ $FIRST_SEED == 0 ]] || SIB=$DATA/siblings-from-$FIRST_SEED
  [[ -f $SIB/pairs.tsv ]] || python3 benches/calibration/train_siblings.py "$SIB" "$SIBLINGS" "${4:-300}" "$FIRST_SEED"
  echo "== base-aware test: fine-tunes of one trained base ($SIB) =="
  "$M" eval "$SIB/pairs.tsv" | tail -14 || true
  "$M" --json eval "$SIB/pairs.tsv" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    b, want, got, lp = r["b"].split("/")[-1], r["expected"], r["verdict"], r["log10_p_value"]
    own = r.get("own_changes")
    share = ""
    if own:
        got_share, floor, refs = own["tested_share"], own["share_floor"], own["references"]
        share = f"share {got_share:6.1%} (needed {floor:5.1%}, {refs} refs)"
    print(f"{b:<30} expected {want:<12} got {got:<12} log10 p {lp:8.1f}  {share}")
' || true
  # The same from a registry, as `scan` judges it: P registered public, A with P as its
  # base, the last five same-data siblings registered public (references); the deployment
  # holds the other five, five other-text siblings and A's children.
  echo "== the same from a registry (scan, public same-data siblings as references) =="
  REG=$(mktemp -d)
  trap 'rm -rf "$REG"' EXIT
  export MLPROV_REGISTRY=$REG/registry.sqlite
  "$M" manifest "$SIB/base.safetensors" -o "$REG/base.manifest.json" >/dev/null
  "$M" register "$SIB/base.safetensors" --licensee '*' >/dev/null
  "$M" register "$SIB/a.safetensors" --base "$REG/base.manifest.json" --licensee Licensee >/dev/null
  mkdir "$REG/deploy"
  half=$((SIBLINGS / 2))
  for ((k = 0; k < SIBLINGS; k++)); do
    if ((k < half)); then
      cp "$SIB/sibling-same-$k.safetensors" "$SIB/sibling-other-$k.safetensors" "$REG/deploy/"
    else
      "$M" register "$SIB/sibling-same-$k.safetensors" --base "$REG/base.manifest.json" --licensee '*' >/dev/null
    fi
  done
  cp "$SIB"/child-*.safetensors "$REG/deploy/"
  "$M" --json scan "$REG/deploy" | python3 -c '
import json, sys
found = {}
for f in json.load(sys.stdin)["findings"]:
    if f.get("asset_name") == "a.safetensors":
        own = f.get("own_changes") or {}
        found[f["path"].split("/")[-1]] = (f["verdict"], own)
for name in sorted(found):
    verdict, own = found[name]
    share, floor, refs = own.get("share", 0), own.get("share_floor", 0), own.get("references")
    print(f"{name:<30} {verdict:<10} share {share:6.1%} (needed {floor:5.1%}, {refs} refs)")
print(f"reported against A: {len(found)} (expected: the 3 children only)")
' || true
fi
if [[ -n $CORPUS ]]; then
  python3 benches/calibration/real_transforms.py "$CORPUS" "$DATA/real"
  echo "== transforms of a real model (all-MiniLM-L6-v2) =="
  "$M" eval "$DATA/real/pairs.tsv" || true
fi

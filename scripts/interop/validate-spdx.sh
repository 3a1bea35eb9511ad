#!/usr/bin/env bash
# Opt-in: validates `mlprov export --to spdx` with the SPDX project's own Python bindings
# (PyPI spdx-python-model, generated from the SPDX 3.0.1 model). Needs python3 and PyPI.
#   scripts/interop/validate-spdx.sh [VENV]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${TMPDIR:-/tmp}/mlprov-interop-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q spdx-python-model
cargo build -q -p mlprov-cli
mlprov="$root/target/debug/mlprov"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
f="$root/fixtures/safetensors"
"$mlprov" terms init --template commercial -o "$work/acme.toml" >/dev/null
"$mlprov" manifest "$f/tiny-model.safetensors" -o "$work/base.json" --license llama3.1 >/dev/null
"$mlprov" manifest "$f/dtypes.safetensors" -o "$work/data.json" --license cc-by-4.0 >/dev/null
"$mlprov" manifest "$f/tiny-sharded" -o "$work/tuned.json" --license Apache-2.0 --terms "$work/acme.toml" \
    --base "$work/base.json:finetune" --dataset "$work/data.json:train" >/dev/null
for m in tuned base data; do
    "$mlprov" export "$work/$m.json" --to spdx -o "$work/$m.spdx.json" >/dev/null
    "$venv/bin/python" "$root/scripts/interop/validate_spdx.py" "$work/$m.spdx.json"
done

#!/usr/bin/env bash
# Opt-in: OpenSSF model-signing interop, both directions, against the reference tool
# (PyPI model-signing). Needs python3, openssl and PyPI.
#   scripts/interop/oms-interop.sh [VENV]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${TMPDIR:-/tmp}/mlprov-interop-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q model-signing pyopenssl
ms="$venv/bin/model_signing"
cargo build -q -p mlprov-cli
mlprov="$root/target/debug/mlprov"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cp -r "$root/fixtures/safetensors/tiny-sharded" model
"$mlprov" manifest model -o model.manifest.json >/dev/null
expect_fail() { if "$@" >fail.log 2>&1; then echo "UNEXPECTED SUCCESS: $*"; exit 1; else echo "  fails as it should: $(tail -1 fail.log)"; fi; }

echo "== mlprov signs, model_signing verifies"
"$mlprov" key generate --algorithm ecdsa-p256 -o ours >/dev/null
"$mlprov" sign model.manifest.json --format oms --key ours -o ours.sig
"$ms" verify key model --signature ours.sig --public_key ours.pub
echo "== model_signing signs, mlprov verifies"
openssl ecparam -name prime256v1 -genkey -noout -out theirs.ec.pem
openssl pkey -in theirs.ec.pem -out theirs.pem
openssl pkey -in theirs.pem -pubout -out theirs.pub
"$ms" sign key model --private_key theirs.pem --signature theirs.sig
"$mlprov" verify-signature theirs.sig --key theirs.pub --model model

echo "== one changed bit in a covered file: both refuse both signatures"
cp model/model-00002-of-00002.safetensors saved
python3 -c "import sys; p='model/model-00002-of-00002.safetensors'; b=bytearray(open(p,'rb').read()); b[-5]^=1; open(p,'wb').write(b)"
expect_fail "$ms" verify key model --signature ours.sig --public_key ours.pub
expect_fail "$mlprov" verify-signature theirs.sig --key theirs.pub --model model
cp saved model/model-00002-of-00002.safetensors
echo "== one changed bit in the signature: refused"
python3 -c "import json; b=json.load(open('theirs.sig')); s=b['dsseEnvelope']['signatures'][0]; import base64; r=bytearray(base64.b64decode(s['sig'])); r[-1]^=1; s['sig']=base64.b64encode(bytes(r)).decode(); json.dump(b,open('theirs.bad.sig','w'))"
expect_fail "$mlprov" verify-signature theirs.bad.sig --key theirs.pub --model model
python3 -c "import json,base64; b=json.load(open('ours.sig')); s=b['dsseEnvelope']['signatures'][0]; r=bytearray(base64.b64decode(s['sig'])); r[-1]^=1; s['sig']=base64.b64encode(bytes(r)).decode(); json.dump(b,open('ours.bad.sig','w'))"
expect_fail "$ms" verify key model --signature ours.bad.sig --public_key ours.pub
echo "== the wrong key: refused"
expect_fail "$mlprov" verify-signature theirs.sig --key ours.pub --model model
expect_fail "$ms" verify key model --signature ours.sig --public_key theirs.pub
echo "OMS interop: all checks passed"

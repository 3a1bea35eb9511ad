#!/usr/bin/env bash
# Dataset benchmarks against their peers, in one run, page cache warm; prints ratios.
#  1. MinHash (128 permutations, word 5-shingles, ~500-byte records, shingling included):
#     whole-process time of `mlprov dataset fingerprint` (which also hashes, sketches and
#     scans for privacy patterns) vs a Python process running datasketch's `MinHash.bulk`
#     on the same 100k records. Target: mlprov >= 20x datasketch's throughput.
#  2. Exact fingerprint of a 1 GiB JSONL file vs `b3sum` reading it. Target: <= 2x.
#  3. Peak RSS of `dataset fingerprint` on 1 GiB and 4 GiB inputs. Target: within 10%.
#  4. `dataset compare` of a 1M-record B against A's manifest. Target: < 30 s on 2 cores.
#
# usage: benches/datasets.sh [DATA_DIR]    (default: bench-data/, git-ignored)
# Installs what it lacks: b3sum (crates.io), hyperfine (Debian), datasketch (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bench-data}
RUNS=${RUNS:-3}
STEPS=${STEPS:-"minhash b3sum rss compare"}
mkdir -p "$DATA"

command -v b3sum >/dev/null || cargo install --locked b3sum
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
python3 -c "import datasketch" 2>/dev/null || pip install -q datasketch

cargo build --release -q -p mlprov-cli
MLPROV=$PWD/target/release/mlprov

# gen.py OUT N SEED: N JSONL records {"id", "text"} of about 500 bytes (80 words).
gen() {
  [[ -f $1 ]] && return 0
  echo "generating $1 ($2 records)" >&2
  python3 - "$@" <<'PY'
import json, random, sys
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8))) for _ in range(20000)]
with open(out, "w") as f:
    for i in range(n):
        words = rng.choices(vocab, k=80)
        f.write(json.dumps({"id": i, "text": " ".join(words)}) + "\n")
PY
}

# Peak RSS (kB) of a command, from /proc, sampled every 1 ms.
peak_rss() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmRSS:"): peak = max(peak, int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    time.sleep(0.001)
print(peak)
PY
}

mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join(str(x['mean']) for x in r))" "$1"; }

if [[ $STEPS == *minhash* ]]; then
  gen "$DATA/records-100k.jsonl" 100000 1
  cat > "$DATA/datasketch_bulk.py" <<'PY'
import json, re, sys
from datasketch import MinHash
split = re.compile(r"[^0-9a-z]+")
sets = []
for line in open(sys.argv[1]):
    words = [w for w in split.split(json.loads(line)["text"].lower()) if w]
    sets.append([" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))])
sigs = MinHash.bulk(sets, num_perm=128)
print(len(sigs))
PY
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/minhash.json" \
    -n "datasketch MinHash.bulk" "python3 $DATA/datasketch_bulk.py $DATA/records-100k.jsonl" \
    -n "mlprov dataset fingerprint" "$MLPROV dataset fingerprint $DATA/records-100k.jsonl --field text -o $DATA/m100k.json --force"
  read -r py rs < <(mean "$DATA/minhash.json")
  python3 -c "print(f'MinHash, 100k records: datasketch {float($py):.2f} s, mlprov {float($rs):.2f} s: mlprov {float($py)/float($rs):.1f}x the throughput (target >= 20x)')"
fi

if [[ $STEPS == *b3sum* || $STEPS == *rss* ]]; then
  # 1 GiB: 2.1M records of ~510 bytes.
  gen "$DATA/records-1g.jsonl" 2100000 2
  cat "$DATA/records-1g.jsonl" > /dev/null
fi

if [[ $STEPS == *b3sum* ]]; then
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/b3sum.json" \
    -n b3sum "b3sum $DATA/records-1g.jsonl" \
    -n "mlprov dataset fingerprint" "$MLPROV dataset fingerprint $DATA/records-1g.jsonl --field text -o $DATA/m1g.json --force"
  read -r b3 rs < <(mean "$DATA/b3sum.json")
  python3 -c "print(f'1 GiB JSONL: b3sum {float($b3):.2f} s, mlprov {float($rs):.2f} s: {float($rs)/float($b3):.1f}x b3sum (target <= 2x)')"
fi

if [[ $STEPS == *rss* ]]; then
  [[ -f $DATA/records-4g.jsonl ]] || for i in 1 2 3 4; do cat "$DATA/records-1g.jsonl"; done > "$DATA/records-4g.jsonl"
  r1=$(peak_rss "$MLPROV" dataset fingerprint "$DATA/records-1g.jsonl" --field text -o "$DATA/m1g.json" --force)
  r4=$(peak_rss "$MLPROV" dataset fingerprint "$DATA/records-4g.jsonl" --field text -o "$DATA/m4g.json" --force)
  python3 -c "print(f'peak RSS: 1 GiB {$r1/1024:.0f} MiB, 4 GiB {$r4/1024:.0f} MiB: ratio {$r4/$r1:.2f} (target within 10%)')"
fi

if [[ $STEPS == *compare* ]]; then
  gen "$DATA/records-a.jsonl" 200000 3
  gen "$DATA/records-1m.jsonl" 1000000 4
  "$MLPROV" dataset fingerprint "$DATA/records-a.jsonl" --field text -o "$DATA/a.manifest.json" --force > /dev/null
  hyperfine --runs 1 --export-json "$DATA/compare.json" -i \
    -n "mlprov dataset compare (1M records vs a manifest)" \
    "$MLPROV dataset compare $DATA/a.manifest.json $DATA/records-1m.jsonl --field text"
  read -r t < <(mean "$DATA/compare.json")
  python3 -c "print(f'compare 1M records against a manifest: {float($t):.1f} s on $(nproc) cores (target < 30 s)')"
fi

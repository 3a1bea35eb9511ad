#!/usr/bin/env bash
# Dataset benchmarks against their peers, in one run, page cache warm; prints ratios.
#  1. MinHash (128 permutations, word 5-shingles, ~500-byte records, shingling included):
#     whole-process time of `mlprov dataset fingerprint` (which also hashes, sketches and
#     scans for privacy patterns) vs a Python process running datasketch's `MinHash.bulk`
#     on the same 100k records. Target: mlprov >= 20x datasketch's throughput.
#  2. Exact fingerprint of a 1 GiB JSONL file vs `b3sum` reading it. Target: <= 2x.
#     Timed both ways: `--exact-only` (the identity alone: root, counts, file digests,
#     bottom-k) and the full manifest (also MinHash, privacy counts, samples). With
#     BASELINE=path/to/an/older/mlprov, that binary's full fingerprint is timed in the
#     same run too (before/after).
#     STEPS=cold times the same two commands with the page cache dropped before each run
#     (needs root: /proc/sys/vm/drop_caches), which is what "the time b3sum takes to read
#     it" is when the file is not already in memory.
#     STEPS=wild times the same on JSONL as Python's `json.dumps` writes it by default
#     (spaces after separators, non-ASCII as `\u` escapes, `\n` between paragraphs, keys
#     not sorted, floats): no line is canonical as written, so every one is rewritten.
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

# Peak RSS (kB) of a command, from /proc, sampled every 1 ms: "VmRSS RssAnon". VmRSS counts
# the pages of memory-mapped input files (page cache, reclaimable); RssAnon is the heap.
peak_rss() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = {"VmRSS:": 0, "RssAnon:": 0}
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            k = line.split(":")[0] + ":"
            if k in peak: peak[k] = max(peak[k], int(line.split()[1]))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    time.sleep(0.001)
print(peak["VmRSS:"], peak["RssAnon:"])
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

if [[ $STEPS == *b3sum* || $STEPS == *rss* || $STEPS == *cold* ]]; then
  # 1 GiB: 2.1M records of ~510 bytes.
  gen "$DATA/records-1g.jsonl" 2100000 2
  cat "$DATA/records-1g.jsonl" > /dev/null
fi

if [[ $STEPS == *b3sum* ]]; then
  cmds=(-n b3sum "b3sum $DATA/records-1g.jsonl"
    -n "mlprov dataset fingerprint --exact-only" "$MLPROV dataset fingerprint $DATA/records-1g.jsonl --field text --exact-only"
    -n "mlprov dataset fingerprint" "$MLPROV dataset fingerprint $DATA/records-1g.jsonl --field text -o $DATA/m1g.json --force")
  [[ -n ${BASELINE:-} ]] && cmds+=(-n "baseline dataset fingerprint" "$BASELINE dataset fingerprint $DATA/records-1g.jsonl --field text -o $DATA/m1g-base.json --force")
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/b3sum.json" "${cmds[@]}"
  python3 - "$DATA/b3sum.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
b3 = r[0]
print(f"1 GiB JSONL: b3sum {b3['mean']:.2f} s wall, {b3['user']:.2f} s user")
for x in r[1:]:
    print(f"  {x['command']}: {x['mean']:.2f} s wall ({x['mean']/b3['mean']:.1f}x b3sum), "
          f"{x['user']:.2f} s user ({x['user']/b3['user']:.1f}x) (target <= 2x)")
PY
fi

if [[ $STEPS == *wild* ]]; then
  if [[ ! -f $DATA/records-wild.jsonl ]]; then
    python3 - "$DATA/records-wild.jsonl" <<'PY'
import json, random, sys
rng = random.Random(5)
vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8))) for _ in range(20000)]
vocab += ["caf\u00e9", "na\u00efve", "Z\u00fcrich", "\u6771\u4eac", "se\u00f1or"]
with open(sys.argv[1], "w") as f:
    for i in range(400000):
        paras = [" ".join(rng.choices(vocab, k=rng.randint(15, 40))).capitalize() + "." for _ in range(3)]
        rec = {"text": "\n\n".join(paras), "id": f"doc-{i}", "meta": {"source": "web", "score": round(rng.random(), 3)}}
        f.write(json.dumps(rec) + "\n")
PY
  fi
  cat "$DATA/records-wild.jsonl" > /dev/null
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/wild.json" \
    -n "b3sum (wild)" "b3sum $DATA/records-wild.jsonl" \
    -n "mlprov --exact-only --field text (wild)" "$MLPROV dataset fingerprint $DATA/records-wild.jsonl --field text --exact-only" \
    -n "mlprov --exact-only, whole records (wild)" "$MLPROV dataset fingerprint $DATA/records-wild.jsonl --exact-only"
  python3 - "$DATA/wild.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
b3 = r[0]
for x in r[1:]:
    print(f"248 MB json.dumps-style JSONL: {x['command']}: {x['mean']:.2f} s ({x['mean']/b3['mean']:.1f}x b3sum {b3['mean']:.2f} s)")
PY
fi

if [[ $STEPS == *cold* ]]; then
  if [[ -w /proc/sys/vm/drop_caches ]]; then
    drop="sync; echo 3 > /proc/sys/vm/drop_caches"
    hyperfine --runs "$RUNS" --prepare "$drop" --export-json "$DATA/cold.json" \
      -n "b3sum (cold)" "b3sum $DATA/records-1g.jsonl" \
      -n "mlprov dataset fingerprint --exact-only (cold)" "$MLPROV dataset fingerprint $DATA/records-1g.jsonl --field text --exact-only"
    read -r b3 ex < <(mean "$DATA/cold.json")
    python3 -c "print(f'1 GiB JSONL, page cache dropped: b3sum {float($b3):.2f} s, --exact-only {float($ex):.2f} s: {float($ex)/float($b3):.2f}x (target <= 2x)')"
  else
    echo "cold: skipped, /proc/sys/vm/drop_caches is not writable (run as root)" >&2
  fi
fi

if [[ $STEPS == *rss* ]]; then
  [[ -f $DATA/records-4g.jsonl ]] || for i in 1 2 3 4; do cat "$DATA/records-1g.jsonl"; done > "$DATA/records-4g.jsonl"
  read -r r1 a1 < <(peak_rss "$MLPROV" dataset fingerprint "$DATA/records-1g.jsonl" --field text -o "$DATA/m1g.json" --force)
  read -r r4 a4 < <(peak_rss "$MLPROV" dataset fingerprint "$DATA/records-4g.jsonl" --field text -o "$DATA/m4g.json" --force)
  python3 -c "print(f'peak RSS: 1 GiB {$r1/1024:.0f} MiB, 4 GiB {$r4/1024:.0f} MiB: ratio {$r4/$r1:.2f}; anonymous (heap) {$a1/1024:.0f} MiB vs {$a4/1024:.0f} MiB: ratio {$a4/$a1:.2f} (target within 10%)')"
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

#!/usr/bin/env bash
# Whole-command timings for the format readers and the fingerprints, against the peer
# tools in the same run (page cache warm, medians by hyperfine):
#   1. `mlprov inspect` on a 1 GiB file of each format (target < 50 ms) vs the format's
#      reference Python reader listing the same tensors;
#   2. `mlprov fingerprint` (sampled lookup sketch) of the 2 GiB model vs `b3sum` (target <= 0.5x);
#   3. `mlprov fingerprint --invariants` of a ~1B-parameter transformer (target < 30 s);
#   4. `mlprov compare` of two ~135M-parameter models (target < 2 s): SmolLM2-135M as
#      Q4_1 GGUF against its F32 safetensors conversion, if the corpus is given.
# usage: benches/formats_and_lineage.sh [DATA_DIR] [CORPUS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-bench-data}
CORPUS=${2:-}
RUNS=${RUNS:-5}
mkdir -p "$DATA/formats"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
command -v b3sum >/dev/null || cargo install --locked b3sum
python3 -c "import numpy, safetensors, gguf, onnx" 2>/dev/null || pip install -q numpy safetensors gguf onnx
HAVE_TORCH=$(python3 -c "import torch" 2>/dev/null && echo 1 || echo 0)

cargo build --release -q -p mlprov-cli
M=$PWD/target/release/mlprov

python3 - "$DATA/formats" "$HAVE_TORCH" <<'PY'
import os, sys
import numpy as np
out, have_torch = sys.argv[1], sys.argv[2] == "1"
n_tensors, rows, cols = 64, 2048, 2048          # 64 x 16 MiB = 1 GiB of F32
def tensors():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((rows, cols), dtype=np.float32)
    for i in range(n_tensors):
        yield f"layers.{i}.weight", base + np.float32(i)
p = lambda name: os.path.join(out, name)
if not os.path.exists(p("model.safetensors")):
    from safetensors.numpy import save_file
    save_file(dict(tensors()), p("model.safetensors"))
if not os.path.exists(p("model.gguf")):
    import gguf
    w = gguf.GGUFWriter(p("model.gguf"), "llama")
    for name, t in tensors():
        w.add_tensor(name, t)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
if not os.path.exists(p("model.onnx")):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    inits = [numpy_helper.from_array(t, name) for name, t in tensors()]
    g = helper.make_graph([], "g", [], [helper.make_tensor_value_info("layers.0.weight", TensorProto.FLOAT, [rows, cols])], inits)
    onnx.save_model(helper.make_model(g), p("model.onnx"))
if not os.path.exists(p("model.npz")):
    np.savez(p("model.npz"), **dict(tensors()))
if not os.path.exists(p("model.npy")):
    np.save(p("model.npy"), np.concatenate([t for _, t in tensors()]))
if have_torch and not os.path.exists(p("model.pt")):
    import torch
    torch.save({n: torch.from_numpy(t) for n, t in tensors()}, p("model.pt"))
PY
F=$DATA/formats
cat "$F"/model.* > /dev/null

echo "== 1. inspect, 1 GiB files =="
args=(-n "mlprov inspect safetensors" "$M inspect $F/model.safetensors"
      -n "python safetensors safe_open keys" "python3 -c \"from safetensors import safe_open; f=safe_open('$F/model.safetensors','np'); [f.get_slice(k).get_shape() for k in f.keys()]\""
      -n "mlprov inspect gguf" "$M inspect $F/model.gguf"
      -n "python gguf GGUFReader" "python3 -c \"import gguf; r=gguf.GGUFReader('$F/model.gguf'); [t.shape for t in r.tensors]\""
      -n "mlprov inspect onnx" "$M inspect $F/model.onnx"
      -n "python onnx.load" "python3 -c \"import onnx; m=onnx.load('$F/model.onnx'); [t.dims for t in m.graph.initializer]\""
      -n "mlprov inspect npz" "$M inspect $F/model.npz"
      -n "python numpy.load npz" "python3 -c \"import numpy as np; z=np.load('$F/model.npz'); [z[k].shape for k in z.files]\""
      -n "mlprov inspect npy" "$M inspect $F/model.npy"
      -n "python numpy.load npy mmap" "python3 -c \"import numpy as np; np.load('$F/model.npy', mmap_mode='r').shape\"")
if [[ -f $F/model.pt ]]; then
  args+=(-n "mlprov inspect pytorch" "$M inspect $F/model.pt"
         -n "python torch.load mmap" "python3 -c \"import torch; sd=torch.load('$F/model.pt', mmap=True, weights_only=True); [t.shape for t in sd.values()]\"")
fi
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$DATA/inspect.json" "${args[@]}" > "$DATA/inspect.txt" 2>&1 || hyperfine --warmup 1 --runs "$RUNS" --export-json "$DATA/inspect.json" "${args[@]}" > "$DATA/inspect.txt"
python3 - "$DATA/inspect.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for fmt, peer in [("safetensors", "python safetensors safe_open keys"), ("gguf", "python gguf GGUFReader"),
                  ("onnx", "python onnx.load"), ("npz", "python numpy.load npz"), ("npy", "python numpy.load npy mmap"),
                  ("pytorch", "python torch.load mmap")]:
    m = r.get(f"mlprov inspect {fmt}")
    if m is None: continue
    print(f"inspect {fmt:<12} {m*1000:7.1f} ms (target < 50)   {peer}: {r[peer]*1000:8.1f} ms   peer/mlprov = {r[peer]/m:6.1f}x")
PY

echo "== 2. lookup sketch vs b3sum, 2 GiB model =="
MODEL=$DATA/model-2g
if [[ -d $MODEL ]]; then
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$DATA/sketch.json" \
    -n b3sum "b3sum $(echo $MODEL/*.safetensors)" \
    -n "mlprov fingerprint" "$M fingerprint $MODEL" > "$DATA/sketch.txt"
  python3 - "$DATA/sketch.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"fingerprint {r['mlprov fingerprint']*1000:.1f} ms, b3sum {r['b3sum']*1000:.1f} ms: ratio {r['mlprov fingerprint']/r['b3sum']:.3f} (target <= 0.5)")
PY
  $M --json fingerprint "$MODEL" | python3 -c "import json,sys; print('lookup key bytes:', json.load(sys.stdin)['lookup_key_bytes'], '(target < 65536)')"
else
  echo "(run benches/manifest_vs_peers.sh first to generate $MODEL)"
fi

echo "== 3. invariants of a ~1B-parameter transformer =="
python3 - "$DATA/model-1b" <<'PY'
import os, sys
import numpy as np
out = sys.argv[1]
if not os.path.exists(os.path.join(out, "model.safetensors")):
    import ml_dtypes
    from safetensors.numpy import save_file
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    d, h, layers, vocab = 2048, 5632, 22, 32000   # TinyLlama-1.1B shapes
    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, d), dtype=np.float32).astype(ml_dtypes.bfloat16)}
    for l in range(layers):
        p = f"model.layers.{l}."
        for n, s in [("self_attn.q_proj", (d, d)), ("self_attn.k_proj", (256, d)), ("self_attn.v_proj", (256, d)),
                     ("self_attn.o_proj", (d, d)), ("mlp.gate_proj", (h, d)), ("mlp.up_proj", (h, d)), ("mlp.down_proj", (d, h))]:
            t[p + n + ".weight"] = (rng.standard_normal(s, dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16)
    t["lm_head.weight"] = rng.standard_normal((vocab, d), dtype=np.float32).astype(ml_dtypes.bfloat16)
    save_file(t, os.path.join(out, "model.safetensors"))
PY
cat "$DATA"/model-1b/*.safetensors > /dev/null
/usr/bin/time -f "fingerprint --invariants of %C: %e s wall, max RSS %M KB (target < 30 s)" \
  "$M" fingerprint --invariants "$DATA/model-1b" > /dev/null

echo "== 4. compare two ~135M-parameter models =="
if [[ -n $CORPUS && -f $CORPUS/smollm2-135m-instruct.q4_1.gguf ]]; then
  G=$CORPUS/smollm2-135m-instruct.q4_1.gguf
  [[ -f $DATA/smollm2.f32.safetensors ]] || "$M" convert "$G" -o "$DATA/smollm2.f32.safetensors" --dtype f32 > /dev/null
  # A derivative that needs the invariants: 30% noise and every MLP's units permuted.
  [[ -f $DATA/smollm2.derived.safetensors ]] || python3 - "$DATA" <<'PY'
import re, sys
import numpy as np
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
t = load_file(f"{d}/smollm2.f32.safetensors")
rng = np.random.default_rng(1)
out = {k: (v + 0.3 * v.std() * rng.standard_normal(v.shape)).astype(np.float32) if v.dtype == np.float32 else v for k, v in t.items()}
for l in sorted({int(m.group(1)) for k in t for m in [re.match(r"blk\.(\d+)\.", k)] if m}):
    p = rng.permutation(out[f"blk.{l}.ffn_up.weight"].shape[0])
    for name in ("ffn_up", "ffn_gate"):
        out[f"blk.{l}.{name}.weight"] = np.ascontiguousarray(out[f"blk.{l}.{name}.weight"][p])
    out[f"blk.{l}.ffn_down.weight"] = np.ascontiguousarray(out[f"blk.{l}.ffn_down.weight"][:, p])
save_file(out, f"{d}/smollm2.derived.safetensors")
PY
  hyperfine -N --warmup 1 --runs "$RUNS" -i --export-json "$DATA/compare.json" \
    -n "mlprov compare gguf-q4_1 vs f32 safetensors" "$M compare $G $DATA/smollm2.f32.safetensors" \
    -n "mlprov compare f32 vs noisy MLP-permuted derivative" "$M compare $DATA/smollm2.f32.safetensors $DATA/smollm2.derived.safetensors" > "$DATA/compare.txt"
  python3 -c "import json; [print(f\"compare 135M, {r['command']}: {r['median']:.3f} s (target < 2 s)\") for r in json.load(open('$DATA/compare.json'))['results']]"
  "$M" compare "$G" "$DATA/smollm2.f32.safetensors" | head -3 || true
else
  echo "(give the corpus folder as the second argument to time compare on SmolLM2-135M)"
fi

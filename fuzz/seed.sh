#!/usr/bin/env bash
# Seeds each fuzz target's corpus with the committed fixtures of its format.
set -euo pipefail
cd "$(dirname "$0")"
f=../fixtures
seed() { mkdir -p "corpus/$1"; shift; for x in "$@"; do [ -f "$x" ] && cp "$x" "corpus/${x//\//_}" 2>/dev/null; done; }
mkdir -p corpus
for t in safetensors gguf ggml onnx zip npy pickle; do mkdir -p "corpus/$t"; done
cp $f/safetensors/*.safetensors corpus/safetensors/
cp $f/gguf/*.gguf corpus/gguf/
cp $f/ggml/*.bin $f/ggml/*.ggla corpus/ggml/
cp $f/onnx/*.onnx $f/onnx/external/model.onnx corpus/onnx/
cp $f/torch/*.pt $f/torch/*.jit $f/numpy/*.npz corpus/zip/
cp $f/numpy/*.npy corpus/npy/
# Pickles: the data.pkl members of the torch fixtures.
for z in $f/torch/*.pt $f/torch/*.jit; do unzip -p "$z" '*/data.pkl' > "corpus/pickle/$(basename "$z").pkl" 2>/dev/null || true; done

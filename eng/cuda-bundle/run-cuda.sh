#!/usr/bin/env bash
# CUDA machine (python torch with CUDA, no .NET, no network): unpacks the bundle made by bundle.sh, points
# TorchSharp at the python torch's libtorch, checks the native symbols, runs the TinyGpt sample on the GPU and
# the PyTorch AMP anchor at the same structures, and writes every log and report under OUT.
#   usage: eng/cuda-bundle/run-cuda.sh [BUNDLE] [OUT] [TinyGpt options]   (defaults: .cuda-bundle, $OUT or out/cuda)
#   e.g.   eng/cuda-bundle/run-cuda.sh .cuda-bundle "$OUT" --size medium
# Every step has a timeout so one hang does not lose the other results.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle=${1:-.cuda-bundle}
out=${2:-${OUT:-out/cuda}}
shift $(( $# < 2 ? $# : 2 ))
mkdir -p "$out"
work=$(mktemp -d)
timeout 90 tar -xJf "$bundle/dotnet.tar.xz" -C "$work" && timeout 90 tar -xJf "$bundle/TinyGpt.tar.xz" -C "$work" || { echo "unpack failed" >&2; exit 1; }
source "$here/torch-env.sh" "$work/dotnet" || exit 1
"$here/symbols-precheck.sh" "$work/TinyGpt/libLibTorchSharp.so" > "$out/precheck.log" 2>&1 \
    || { cat "$out/precheck.log"; echo "missing symbols: rebuild the native library (build-native.sh, README.md)" >&2; exit 1; }
timeout 300 "$DOTNET_ROOT/dotnet" "$work/TinyGpt/TinyGpt.dll" --device cuda --out "$out/tinygpt" "$@" > "$out/tinygpt.log" 2>&1
echo "TinyGpt exit $?: $(tail -1 "$out/tinygpt.log")"
timeout 120 "$PY" "$here/anchor_tinygpt.py" --device cuda --budget-s 100 > "$out/anchor_tinygpt.log" 2>&1
echo "anchor exit $?: $out/anchor_tinygpt.log"

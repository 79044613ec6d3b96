#!/usr/bin/env bash
# CUDA machine (python torch with CUDA, no .NET, no network): unpacks the bundle made by bundle.sh and measures
# PrecisionDsl beside PyTorch AMP on the same workloads in one run: step times (anchor_mlp_block.py and
# anchor_tinygpt.py shapes; issue #15) and each variant's peak device memory in its own process (cudaMemGetInfo;
# issue #17). Writes the JSON lines of both sides and the joined tables, comparison.md, under OUT.
#   usage: eng/cuda-bundle/run-cuda-bench.sh [BUNDLE] [OUT]   (defaults: .cuda-bundle, $OUT or out/cuda-bench)
#   env:   DEVICE         cuda (default) or cpu (a CPU with native bf16 and a python torch: mixed is bf16 there)
#          CONFIGS        TinyGpt shapes to time (default 0,1,2,3 on CUDA, 0 on a CPU: the large ones take seconds a step)
#          MEMORY_MODELS  models whose memory is measured (default "mlp L6 L8" on CUDA, "mlp L2" on a CPU)
#          SAMPLE_ARGS    also run the TinyGpt sample with these options after the benchmarks (e.g. "--size medium
#                         --seeds 2"; default: not run); its log, report and plots land in OUT/tinygpt.tar
# The most wanted figures run first and every step has a timeout, so a hang late in the run loses little.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle=${1:-.cuda-bundle}
out=${2:-${OUT:-out/cuda-bench}}
device=${DEVICE:-cuda}
half=$([ "$device" = cuda ] && echo fp16 || echo bf16)
configs=${CONFIGS:-$([ "$device" = cuda ] && echo 0,1,2,3 || echo 0)}
models=${MEMORY_MODELS:-$([ "$device" = cuda ] && echo "mlp L6 L8" || echo "mlp L2")}
mkdir -p "$out"
# Every step appends, and compare takes a row's first line: a reused OUT must not mix in an earlier run.
rm -f "$out"/*.jsonl "$out/comparison.md"
log="$out/run.log"
work=$(mktemp -d)
timeout 90 tar -xJf "$bundle/dotnet.tar.xz" -C "$work" && timeout 90 tar -xJf "$bundle/PrecisionDsl.Benchmarks.tar.xz" -C "$work" \
    && { [ -z "${SAMPLE_ARGS:-}" ] || timeout 90 tar -xJf "$bundle/TinyGpt.tar.xz" -C "$work"; } \
    || { echo "unpack failed" | tee -a "$log" >&2; exit 1; }
source "$here/torch-env.sh" "$work/dotnet" || exit 1
bench=("$DOTNET_ROOT/dotnet" "$work/PrecisionDsl.Benchmarks/PrecisionDsl.Benchmarks.dll")
"$here/symbols-precheck.sh" "$work/PrecisionDsl.Benchmarks/libLibTorchSharp.so" >> "$log" 2>&1 \
    || { tail -5 "$log"; echo "missing symbols: rebuild the native library (build-native.sh, README.md)" >&2; exit 1; }
export PDSL_COMMIT=$(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)

step() { # name timeout-seconds output-file command...
    local name=$1 limit=$2 file=$3; shift 3
    local start=$SECONDS
    timeout "$limit" "$@" >> "$file" 2>> "$log"
    echo "$name: exit $? after $((SECONDS - start)) s" | tee -a "$log"
}

step "PrecisionDsl steps" 200 "$out/precisiondsl_steps.jsonl" "${bench[@]}" anchor --device "$device" --configs "$configs" --budget-s 150
step "PyTorch MLP and block" 100 "$out/pytorch_mlp_block.jsonl" "$PY" "$here/anchor_mlp_block.py" --device "$device"
step "PyTorch TinyGpt" 120 "$out/pytorch_tinygpt.jsonl" "$PY" "$here/anchor_tinygpt.py" --device "$device" --configs "$configs" --budget-s 90
step "PrecisionDsl memory" 200 "$out/precisiondsl_memory.jsonl" "${bench[@]}" device-memory --device "$device" --models "${models// /,}"
for model in $models; do
    for variant in fp32 "$half"; do
        if [ "$model" = mlp ]; then
            step "PyTorch memory $model $variant" 60 "$out/pytorch_memory.jsonl" "$PY" "$here/anchor_mlp_block.py" --device "$device" --memory "$variant"
        else
            config=$(( ${model#L} / 2 - 1 ))   # L2 L4 L6 L8 -> anchor_tinygpt.py configs 0 1 2 3
            step "PyTorch memory $model $variant" 60 "$out/pytorch_memory.jsonl" "$PY" "$here/anchor_tinygpt.py" --device "$device" --configs "$config" --memory "$variant"
        fi
    done
done
step "compare" 60 "$out/comparison.md" "${bench[@]}" compare "$out"/*.jsonl
cat "$out/comparison.md"
if [ -n "${SAMPLE_ARGS:-}" ]; then
    # One archive: at most 8 files come back from a lent machine.
    sample="$work/tinygpt-out"
    mkdir -p "$sample"
    # shellcheck disable=SC2086 # SAMPLE_ARGS is a list of options
    step "TinyGpt sample $SAMPLE_ARGS" 240 "$sample/tinygpt.log" "$DOTNET_ROOT/dotnet" "$work/TinyGpt/TinyGpt.dll" --device "$device" --out "$sample" $SAMPLE_ARGS
    tar -C "$sample" -cf "$out/tinygpt.tar" . && tail -3 "$sample/tinygpt.log"
fi

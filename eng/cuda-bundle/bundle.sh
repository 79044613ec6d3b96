#!/usr/bin/env bash
# Build machine (has the .NET SDK and NuGet): packs what a CUDA machine with PyTorch but no .NET needs to run
# the TinyGpt sample (run-cuda.sh) and the benchmarks beside PyTorch (run-cuda-bench.sh) into a git-ignored folder
# (default .cuda-bundle): the .NET runtime and both framework-dependent apps without libtorch (the python torch's
# libtorch is used there), and the commit they were built from (COMMIT).
#   usage: eng/cuda-bundle/bundle.sh [OUTDIR]        (from the repository root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.cuda-bundle}
"$here/pack-dotnet.sh" "$out"
# The default CPU backend will do: CUDA comes from the torch libraries at run time. The plot's
# SkiaSharp/HarfBuzz natives stay; every other native library is libtorch's and is dropped.
KEEP_NATIVE="libSkiaSharp.so libHarfBuzzSharp.so" "$here/publish-app.sh" samples/TinyGpt "$out"
"$here/publish-app.sh" tests/Benchmarks "$out"
git rev-parse --short HEAD > "$out/COMMIT"

#!/usr/bin/env bash
# Build machine (has the .NET SDK and NuGet): packs what a CUDA machine with PyTorch but no .NET needs to run
# the TinyGpt sample into a git-ignored folder (default .cuda-bundle, ~31 MB): the .NET runtime and the
# framework-dependent app without libtorch (the python torch's libtorch is used there).
#   usage: eng/cuda-bundle/bundle.sh [OUTDIR]        (from the repository root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.cuda-bundle}
"$here/pack-dotnet.sh" "$out"
# The default CPU backend will do: CUDA comes from the torch libraries at run time. The plot's
# SkiaSharp/HarfBuzz natives stay; every other native library is libtorch's and is dropped.
KEEP_NATIVE="libSkiaSharp.so libHarfBuzzSharp.so" "$here/publish-app.sh" samples/TinyGpt "$out"

using System;
using System.Diagnostics;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>
/// Measures how a linear layer's three training matmuls compare in bf16 and fp32 on this CPU. libtorch
/// has fast bf16 kernels only on CPUs with native bf16 instructions (AVX512-BF16, AMX); elsewhere bf16
/// falls back to slow loops, worst for the input-gradient product, and mixed precision makes CPU
/// training slower, not faster.
/// </summary>
public static class CpuBf16Check
{
    private const int Size = 256;

    /// <summary>fp32 time / bf16 time for forward (a·bᵀ), input gradient (a·b) and weight gradient (aᵀ·b): above 1 means bf16 is faster.</summary>
    public static double Bf16Speedup() => TrainingMatmulsMilliseconds(ScalarType.Float32) / TrainingMatmulsMilliseconds(ScalarType.BFloat16);

    private static double TrainingMatmulsMilliseconds(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var a = randn(Size, Size).to(dtype);
        var b = randn(Size, Size).to(dtype);
        a.mm(b).Dispose();  // first call picks and loads the kernels
        var clock = Stopwatch.StartNew();
        a.mm(b.t()).Dispose();
        a.mm(b).Dispose();
        a.t().mm(b).Dispose();
        return clock.Elapsed.TotalMilliseconds;
    }
}

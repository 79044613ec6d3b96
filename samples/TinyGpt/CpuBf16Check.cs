using System;
using System.Diagnostics;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>
/// Measures how bf16 matmul compares with fp32 on this CPU. libtorch has fast bf16 kernels only on
/// CPUs with native bf16 instructions (AVX512-BF16, AMX); elsewhere bf16 falls back to slow
/// reference loops, and mixed precision makes CPU training slower, not faster.
/// </summary>
public static class CpuBf16Check
{
    /// <summary>fp32 time / bf16 time for a 512x512x512 matmul: above 1 means bf16 is faster.</summary>
    public static double Bf16Speedup()
    {
        double fp32 = MatmulMilliseconds(ScalarType.Float32), bf16 = MatmulMilliseconds(ScalarType.BFloat16);
        return fp32 / bf16;
    }

    private static double MatmulMilliseconds(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var a = randn(512, 512).to(dtype);
        var b = randn(512, 512).to(dtype);
        a.mm(b).Dispose();  // first call picks and loads the kernel
        var clock = Stopwatch.StartNew();
        const int Repeats = 3;
        for (int i = 0; i < Repeats; i++) a.mm(b.t()).Dispose();
        return clock.Elapsed.TotalMilliseconds / Repeats;
    }
}

using System;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Sets how half matmuls run on CPU for a test and restores the previous setting afterwards.</summary>
internal readonly struct HalfMatmulOverride : IDisposable
{
    private readonly HalfMatmulKernel previous;

    public HalfMatmulOverride(HalfMatmulKernel kernel)
    {
        previous = PrecisionPolicy.CpuHalfMatmul;
        PrecisionPolicy.CpuHalfMatmul = kernel;
    }

    public void Dispose() => PrecisionPolicy.CpuHalfMatmul = previous;
}

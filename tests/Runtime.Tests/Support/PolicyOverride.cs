using System;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Sets one <see cref="PrecisionPolicy"/> setting for a test and restores the previous value on dispose.</summary>
internal readonly struct PolicyOverride<T> : IDisposable
{
    private readonly Action<T> set;
    private readonly T previous;

    public PolicyOverride(Func<T> get, Action<T> set, T value)
    {
        this.set = set;
        previous = get();
        set(value);
    }

    public void Dispose() => set(previous);
}

/// <summary>The policy settings tests override.</summary>
internal static class PolicyOverride
{
    /// <summary>The dtype Fp16 runs in on CPU.</summary>
    public static PolicyOverride<ScalarType> CpuFp16(ScalarType dtype) =>
        new(() => PrecisionPolicy.CpuFp16Dtype, value => PrecisionPolicy.CpuFp16Dtype = value, dtype);

    /// <summary>How half matrix products run on CPU.</summary>
    public static PolicyOverride<HalfMatmulKernel> HalfMatmul(HalfMatmulKernel kernel) =>
        new(() => PrecisionPolicy.CpuHalfMatmul, value => PrecisionPolicy.CpuHalfMatmul = value, kernel);
}

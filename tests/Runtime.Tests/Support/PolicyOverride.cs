using System;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>
/// One setting changed from <see cref="PrecisionPolicy.Current"/> for the calling test (its execution context only),
/// until dispose; models whose state is created meanwhile keep it.
/// </summary>
internal static class PolicyOverride
{
    /// <summary>The dtype Fp16 runs in on CPU.</summary>
    public static IDisposable CpuFp16(ScalarType dtype) => PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuFp16Dtype = dtype });

    /// <summary>How half matrix products run on CPU.</summary>
    public static IDisposable HalfMatmul(HalfMatmulKernel kernel) => PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = kernel });

    /// <summary>How half matrix products run on CPU, and whether bf16 may keep its activations in fp32 where every product is widened.</summary>
    public static IDisposable HalfMatmul(HalfMatmulKernel kernel, bool excessPrecision) =>
        PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = kernel, CpuExcessPrecision = excessPrecision });

    /// <summary>The dtype a half layer's output has on CPU under <see cref="PrecisionPolicy.Current"/>: <paramref name="half"/>, or fp32 under excess precision.</summary>
    public static ScalarType CpuActivation(ScalarType half) =>
        PrecisionPolicy.Current.KeepsActivationsInFp32(half, DeviceType.CPU) ? ScalarType.Float32 : half;
}

using System;
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
}

namespace PrecisionDsl;

/// <summary>How half (bf16/fp16) products and convolutions run on CPU: see <see cref="PrecisionSettings.CpuHalfMatmul"/>.</summary>
public enum HalfMatmulKernel
{
    /// <summary>Per kernel family: native where a one-time self-test found libtorch's half kernel correct and not slower, widened elsewhere.</summary>
    Auto,

    /// <summary>Always libtorch's half kernels, untested (on some CPUs some of them are wrong).</summary>
    Native,

    /// <summary>
    /// Always widened: the half operands are converted to fp32 for an fp32 GEMM and the result is
    /// rounded back to half. Storage and rounding stay half; the accumulation is fp32, as in a
    /// native half GEMM; the speed is fp32's plus the conversions (XLA's CPU backend does the same).
    /// </summary>
    Widened,
}

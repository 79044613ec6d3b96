using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>How one kernel family computes in one half dtype on CPU, and why.</summary>
/// <param name="Family">The kernel family.</param>
/// <param name="Dtype">The half dtype (<see cref="ScalarType.BFloat16"/> or <see cref="ScalarType.Float16"/>).</param>
/// <param name="Widened">True: fp32 kernels on the half-rounded operands, result rounded to half; false: libtorch's native half kernel.</param>
/// <param name="Reason">Why, e.g. "native wrong: relative error 0.45" or "native correct and 1.8x faster".</param>
public sealed record KernelChoice(KernelFamily Family, ScalarType Dtype, bool Widened, string Reason)
{
    /// <summary>"Conv2d BFloat16: widened (native wrong: relative error 0.45)".</summary>
    public override string ToString() => $"{Family} {Dtype}: {(Widened ? "widened" : "native")} ({Reason})";
}

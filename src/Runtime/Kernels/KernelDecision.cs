using System;
using System.Globalization;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>What the self-test measured for one kernel family: native against widened.</summary>
/// <param name="Failure">The native kernel's error message when it threw; null otherwise.</param>
/// <param name="RelativeError">Worst relative L2 error of a native result (output or gradient) against the widened one.</param>
/// <param name="NativeSeconds">Best time of the native forward and backward; NaN when not timed (failed or wrong).</param>
/// <param name="WidenedSeconds">Best time of the widened forward and backward; NaN when not timed.</param>
internal readonly record struct ProbeMeasurement(string? Failure, double RelativeError, double NativeSeconds, double WidenedSeconds);

/// <summary>The rule the self-test applies: a native half kernel is used only where it is correct and not slower.</summary>
internal static class KernelDecision
{
    /// <summary>
    /// The largest relative L2 error that still counts as rounding. A correct kernel differs from widened by
    /// a few roundings of results and partial sums: measured 0.004–0.007 for bf16 and 0.0005–0.0008 for fp16
    /// (about 1–3 units of roundoff, 2^-8 and 2^-11) on libtorch's correct CPU kernels. The tolerance is about
    /// three times that; the broken kernels seen so far are off by 0.2–0.7.
    /// </summary>
    internal static double ToleranceFor(ScalarType dtype) => dtype == ScalarType.Float16 ? 2.5e-3 : 2e-2;

    internal static KernelChoice Decide(KernelFamily family, ScalarType dtype, ProbeMeasurement measured)
    {
        if (measured.Failure is { } failure)
        {
            return new(family, dtype, Widened: true, "native failed: " + failure);
        }

        // Negated so that NaN counts as wrong.
        if (!(measured.RelativeError <= ToleranceFor(dtype)))
        {
            return new(family, dtype, Widened: true, Invariant($"native wrong: relative error {measured.RelativeError:0.###}"));
        }

        return measured.NativeSeconds > measured.WidenedSeconds
            ? new(family, dtype, Widened: true, Invariant($"native {measured.NativeSeconds / measured.WidenedSeconds:0.0}x slower"))
            : new(family, dtype, Widened: false, Invariant($"native correct and {measured.WidenedSeconds / measured.NativeSeconds:0.0}x faster"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

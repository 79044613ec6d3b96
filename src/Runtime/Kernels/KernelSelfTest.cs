using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>One computation of a kernel family, forward and backward, natively in half and widened; both return the output and the gradients.</summary>
internal sealed record ProbeCase(string Name, Func<Tensor[]> Native, Func<Tensor[]> Widened);

/// <summary>The cases that check one family; the last one, the largest, is also timed.</summary>
internal sealed record KernelProbe(KernelFamily Family, IReadOnlyList<ProbeCase> Cases);

/// <summary>
/// Runs each family's probe cases natively and widened, compares them, times the last case, and decides
/// with <see cref="KernelDecision"/>.
/// </summary>
internal static class KernelSelfTest
{
    private const int TimedRuns = 5;

    /// <summary>Runs a native kernel needs to win: one lucky run against a preempted widened one is not enough.</summary>
    private const int MinTimedRuns = 3;

    /// <summary>After <see cref="MinTimedRuns"/>, timing stops at this much per family, so a loaded machine does not stretch the self-test.</summary>
    private static readonly TimeSpan TimingBudget = TimeSpan.FromMilliseconds(50);

    /// <summary>Decides every family <paramref name="probesFor"/> builds for <paramref name="dtype"/>.</summary>
    internal static KernelChoice[] Run(ScalarType dtype, Func<ScalarType, IReadOnlyList<KernelProbe>> probesFor)
    {
        // Its own dispose scope (it may first run inside a generated forward's) and gradients on (under no_grad too).
        using var scope = NewDisposeScope();
        using var gradients = enable_grad();
        return probesFor(dtype).Select(probe => KernelDecision.Decide(probe.Family, dtype, Measure(probe, KernelDecision.ToleranceFor(dtype)))).ToArray();
    }

    internal static ProbeMeasurement Measure(KernelProbe probe, double tolerance)
    {
        var worstError = 0.0;
        foreach (var probeCase in probe.Cases)
        {
            using var scope = NewDisposeScope();
            Tensor[] native;
            try
            {
                native = probeCase.Native();
            }
            catch (Exception e)
            {
                // Whatever the reason (dtype not implemented, a libtorch assertion), the native kernel is unusable.
                return new(e.Message.Split('\n')[0], double.NaN, double.NaN, double.NaN);
            }

            var widened = probeCase.Widened();
            worstError = Math.Max(worstError, native.Zip(widened, RelativeError).Max());
            if (!(worstError <= tolerance))
            {
                return new(null, worstError, double.NaN, double.NaN); // wrong: no need to time it
            }
        }

        // The correctness pass ran the timed case once on both paths: that was the warm-up. Timed on one
        // intra-op thread: on a loaded machine a multi-threaded kernel waits for descheduled workers at
        // every barrier, which measures the load rather than the kernel.
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            var (nativeSeconds, widenedSeconds) = BestSeconds(probe.Cases[^1]);
            return new(null, worstError, nativeSeconds, widenedSeconds);
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    /// <summary>
    /// The best of <see cref="MinTimedRuns"/> to <see cref="TimedRuns"/> runs of each path, alternating, so that
    /// a load change on a shared machine hits both (wall-clock times: under heavy load the choice between two
    /// correct kernels can go either way; correctness never depends on it). Stops at once when native is more
    /// than twice as slow as widened: that only errs towards widened, which is always right, and on a CPU
    /// whose half kernels are reference loops each native run is costly.
    /// </summary>
    private static (double Native, double Widened) BestSeconds(ProbeCase timed)
    {
        var (native, widened) = (double.PositiveInfinity, double.PositiveInfinity);
        var spent = Stopwatch.StartNew();
        for (var run = 0; run < TimedRuns && !(native > 2 * widened) && (run < MinTimedRuns || spent.Elapsed < TimingBudget); run++)
        {
            widened = Math.Min(widened, Seconds(timed.Widened));
            native = Math.Min(native, Seconds(timed.Native));
        }

        return (native, widened);
    }

    private static double Seconds(Func<Tensor[]> run)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        run();
        return clock.Elapsed.TotalSeconds;
    }

    private static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var reference = expected.to(ScalarType.Float64);
        return (actual.to(ScalarType.Float64) - reference).norm().item<double>() / reference.norm().item<double>();
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// Runs the kernel self-test once per half dtype, at first use, and logs its decisions in one line.
/// </summary>
internal sealed class KernelSelector
{
    private readonly Func<ScalarType, IReadOnlyList<KernelProbe>> probesFor;
    private readonly ConcurrentDictionary<ScalarType, Lazy<KernelChoice[]>> choices = new();

    public KernelSelector(Func<ScalarType, IReadOnlyList<KernelProbe>> probesFor) => this.probesFor = probesFor;

    /// <summary>Half dtypes whose self-test has run.</summary>
    public IEnumerable<ScalarType> TestedDtypes => choices.Where(c => c.Value.IsValueCreated).Select(c => c.Key);

    /// <summary>
    /// The decisions for <paramref name="dtype"/>, self-testing first if that has not happened yet (then the
    /// decisions are logged through <paramref name="logger"/>).
    /// </summary>
    public IReadOnlyList<KernelChoice> ChoicesFor(ScalarType dtype, ILogger logger) =>
        choices.GetOrAdd(dtype, d => new Lazy<KernelChoice[]>(() => SelfTest(d, logger))).Value;

    private KernelChoice[] SelfTest(ScalarType dtype, ILogger logger)
    {
        var clock = Stopwatch.StartNew();
        var decided = KernelSelfTest.Run(dtype, probesFor);
        logger.LogInformation(
            "PrecisionDsl: {Dtype} kernels on this CPU, checked in {Seconds} s (native only where correct and not slower; {Variable}=native|widened forces one): {Choices}.",
            dtype, clock.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture), PrecisionPolicy.CpuHalfMatmulEnvironmentVariable,
            string.Join("; ", decided.Select(c => $"{c.Family} {(c.Widened ? "widened" : "native")} ({c.Reason})")));
        return decided;
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using PrecisionDsl.Runtime.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PrecisionDsl.Runtime.Tests.Kernels;

/// <summary>The self-test with injected kernels (so every outcome is covered on any CPU), and a real probe.</summary>
public sealed class KernelSelfTestTests
{
    private static Tensor[] Right() => [tensor(new[] { 1f, 2f, 3f })];

    private static Tensor[] Wrong() => [tensor(new[] { 1f, 2f, 4f })];

    private static Func<Tensor[]> Slow(Func<Tensor[]> kernel, int milliseconds) => () =>
    {
        Thread.Sleep(milliseconds);
        return kernel();
    };

    /// <summary>A probe of two cases whose native kernel is <paramref name="native"/>, counting its calls.</summary>
    private static KernelProbe Fake(KernelFamily family, Func<Tensor[]> native, List<string> calls, Func<Tensor[]>? widened = null)
    {
        Tensor[] Native()
        {
            calls.Add(family.ToString());
            return native();
        }

        return new(family, [new("small", Native, widened ?? Right), new("timed", Native, widened ?? Right)]);
    }

    [Fact]
    public void Injected_kernels_are_decided_by_correctness_then_speed()
    {
        var calls = new List<string>();
        IReadOnlyList<KernelProbe> Probes(ScalarType dtype) =>
        [
            Fake(KernelFamily.Linear, Right, calls, widened: Slow(Right, 5)),
            Fake(KernelFamily.Batched, Slow(Right, 60), calls),
            Fake(KernelFamily.Conv2d, Wrong, calls),
            Fake(KernelFamily.Conv3d, () => throw new InvalidOperationException("not implemented for 'BFloat16'\n(native stack)"), calls),
        ];

        var choices = KernelSelfTest.Run(ScalarType.BFloat16, Probes);

        Assert.Equal([KernelFamily.Linear, KernelFamily.Batched, KernelFamily.Conv2d, KernelFamily.Conv3d], choices.Select(c => c.Family));
        Assert.All(choices, c => Assert.Equal(ScalarType.BFloat16, c.Dtype));
        Assert.False(choices[0].Widened);
        Assert.Matches(@"^native correct and \d+\.\dx faster$", choices[0].Reason);
        Assert.True(choices[1].Widened);
        Assert.Matches(@"^native \d+\.\dx slower$", choices[1].Reason);
        Assert.Equal(new KernelChoice(KernelFamily.Conv2d, ScalarType.BFloat16, true, "native wrong: relative error 0.267"), choices[2]);
        Assert.Equal(new KernelChoice(KernelFamily.Conv3d, ScalarType.BFloat16, true, "native failed: not implemented for 'BFloat16'"), choices[3]);

        // Correct and fast: both cases, then five timed runs. Twice as slow: one timed run is enough.
        // Wrong: stops at the first wrong case, never timed. Throwing: tried once.
        Assert.Equal(7, calls.Count(c => c == "Linear"));
        Assert.Equal(3, calls.Count(c => c == "Batched"));
        Assert.Equal(1, calls.Count(c => c == "Conv2d"));
        Assert.Equal(1, calls.Count(c => c == "Conv3d"));
    }

    [Fact]
    public void A_real_probe_finds_a_native_kernel_whose_output_or_gradient_is_off()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(1, CPU);
        // Wrong only in half: the output is right, the weight gradient is scaled by 1.5.
        Tensor Conv(Tensor[] o) => o[1].dtype == ScalarType.Float32
            ? F.conv2d(o[0], o[1], o[2])
            : F.conv2d(o[0], ScaleGradient(o[1], 1.5), o[2]);
        var wrong = KernelProbes.Probe("3 -> 4", ScalarType.BFloat16, generator, Conv, [[2, 3, 6, 6], [4, 3, 3, 3], [4]]);
        var right = KernelProbes.Probe("3 -> 4", ScalarType.BFloat16, generator, o => F.conv2d(o[0], o[1], o[2]), [[2, 3, 6, 6], [4, 3, 3, 3], [4]]);

        var wrongMeasured = KernelSelfTest.Measure(new KernelProbe(KernelFamily.Conv2d, [wrong]), 2e-2);
        var rightMeasured = KernelSelfTest.Measure(new KernelProbe(KernelFamily.Conv2d, [right]), 2e-2);

        Assert.InRange(wrongMeasured.RelativeError, 0.4, 0.6);
        Assert.InRange(rightMeasured.RelativeError, 0, 2e-2);
    }

    [Fact]
    public void The_selector_self_tests_each_dtype_once_and_logs_one_line()
    {
        using var logger = new CapturingLogger();
        var calls = new List<string>();
        var selector = new KernelSelector(_ => [Fake(KernelFamily.Linear, Slow(Right, 30), calls), Fake(KernelFamily.Conv2d, Wrong, calls)]);

        var first = selector.ChoicesFor(ScalarType.BFloat16, logger);
        var again = selector.ChoicesFor(ScalarType.BFloat16, logger);

        Assert.Same(first, again);
        Assert.Equal([ScalarType.BFloat16], selector.TestedDtypes);
        var line = Assert.Single(logger.Messages).Message;
        Assert.DoesNotContain('\n', line);
        Assert.Contains("BFloat16", line);
        Assert.Matches(@"Linear widened \(native \d+\.\dx slower\); Conv2d widened \(native wrong: relative error 0\.267\)", line);
        Assert.Contains(PrecisionPolicy.CpuHalfMatmulEnvironmentVariable, line);

        selector.ChoicesFor(ScalarType.Float16, logger);
        Assert.Equal(2, logger.Messages.Count);
    }

    private static Tensor ScaleGradient(Tensor tensor, double factor) =>
        tensor * factor - (tensor * (factor - 1)).detach();
}

/// <summary>The self-test on this machine's real kernels.</summary>
[Collection(ProcessWideStateCollection.Name)] // checks that the global RNG is left alone: nothing else may draw meanwhile
public sealed class RealKernelSelfTestTests(ITestOutputHelper output)
{
    [Fact]
    public void The_real_self_test_decides_every_family_safely_and_leaves_the_global_rng_alone()
    {
        manual_seed(7);
        var expected = randn(4).data<float>().ToArray();
        manual_seed(7);

        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Float16, ScalarType.BFloat16 })
        {
            var (clock, cpu) = (Stopwatch.StartNew(), Process.GetCurrentProcess().TotalProcessorTime);
            var choices = KernelSelfTest.Run(dtype, KernelProbes.For);
            output.WriteLine($"{dtype}: {clock.Elapsed.TotalSeconds:0.00} s ({(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:0.00} s CPU)");
            foreach (var choice in choices)
            {
                output.WriteLine("  " + choice);
            }

            Assert.Equal(Enum.GetValues<KernelFamily>(), choices.Select(c => c.Family));
            Assert.All(choices, c => Assert.Matches(c.Widened ? "^native (wrong|failed|.*slower)" : "^native correct and", c.Reason));
        }

        Assert.Equal(expected, randn(4).data<float>().ToArray());
    }
}

using System;
using System.Linq;
using TinyGpt;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Samples.Tests;

/// <summary>
/// Every size trains its task at its width, heads and context (two steps at batch 1 and one layer: the layers
/// are one loop, and the full depth of large took minutes on the 2-core CI machine), and the default size
/// is chosen from the hardware.
/// </summary>
public sealed class SampleSizeTests
{
    public static TheoryData<string> Sizes => new() { "tiny", "small", "medium", "large" };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Each_size_trains_its_task_at_its_structure(string name)
    {
        var size = SampleSize.Of(Enum.Parse<SizeChoice>(name, ignoreCase: true));
        var settings = TrainingSettings.For(size with { BatchSize = 1, Layers = 1 }, steps: 2, seed: 3, CPU, heldOutCount: 2 * size.ProblemsPerSequence);

        var run = Trainer.Run(settings, mixed: true, "mixed");

        Assert.Equal(size.ProblemsPerSequence * (3 * size.Digits + 3) - 1, settings.Model.ContextLength);
        Assert.Equal((size.Width, size.Heads), (settings.Model.ModelWidth, settings.Model.Heads));
        Assert.Equal(2, run.Losses.Count);
        Assert.All(run.Losses, loss => Assert.True(double.IsFinite(loss)));
        Assert.True(double.IsFinite(run.ValidationLoss));
        Assert.All(run.HeldOutAnswers, answer => Assert.Equal(size.Digits + 1, answer.Length)); // two steps: not yet digits only
        Assert.Null(run.PeakDeviceBytes); // a CPU run never loads the CUDA runtime
    }

    [Fact]
    public void Sizes_grow_in_model_context_and_digits_and_approach_the_anchor_contexts()
    {
        SampleSize[] sizes = [SampleSize.Tiny, SampleSize.Small, SampleSize.Medium, SampleSize.Large];
        int[] anchorContexts = [11, 64, 128, 256];

        Assert.Equal(sizes.Select(s => s.Width).Order(), sizes.Select(s => s.Width));
        Assert.Equal(sizes.Select(s => s.Digits).Order(), sizes.Select(s => s.Digits));
        Assert.All(sizes.Zip(anchorContexts), pair => Assert.InRange(pair.First.Context, pair.Second * 0.9, pair.Second));
    }

    [Theory]
    [InlineData(true, false, "large", "CUDA")]
    [InlineData(false, false, "tiny", "no fast half kernels")]
    public void Without_native_half_kernels_on_a_CPU_the_default_size_follows_the_device_without_timing_anything(
        bool cuda, bool cpuNativeHalfLinear, string expected, string because)
    {
        var (size, reason) = SampleSize.Choose(cuda, cpuNativeHalfLinear, steps: null,
            _ => throw new InvalidOperationException("nothing to time"));

        Assert.Equal(expected, size.Name);
        Assert.Contains(because, reason);
    }

    // small trains 400 steps by default; the budget is 3 minutes of both runs' training.
    [Theory]
    [InlineData(100, 300, null, "small", "mixed gains and both runs train in about 2.7 minutes")]
    [InlineData(300, 1900, null, "tiny", "both runs would train for about 14.7 minutes (over 3), so tiny")]
    [InlineData(300, 1900, 50, "small", "about 1.8 minutes")]
    [InlineData(500, 400, null, "tiny", "mixed does not gain at small here")]
    public void With_native_half_kernels_on_a_CPU_small_is_chosen_when_a_timed_step_gains_and_the_runs_fit_the_budget(
        double mixedMs, double fp32Ms, int? steps, string expected, string because)
    {
        SampleSize? timed = null;
        var (size, reason) = SampleSize.Choose(cuda: false, cpuNativeHalfLinear: true, steps, candidate =>
        {
            timed = candidate;
            return (mixedMs, fp32Ms);
        });

        Assert.Same(SampleSize.Small, timed);
        Assert.Equal(expected, size.Name);
        Assert.Contains($"took {mixedMs} ms mixed, {fp32Ms} ms fp32", reason);
        Assert.Contains(because, reason);
    }

    [Fact]
    public void Overrides_fill_the_context_with_whole_problems_and_reject_heads_that_do_not_divide_the_width()
    {
        var custom = SampleSize.Tiny.With(layers: 1, width: 32, heads: null, batchSize: 4, context: 40);

        Assert.Equal((1, 32, 4, 3), (custom.Layers, custom.Width, custom.BatchSize, custom.ProblemsPerSequence));
        Assert.Equal(35, custom.Context);
        Assert.Equal("tiny (custom)", custom.Name);
        Assert.Same(SampleSize.Tiny, SampleSize.Tiny.With(null, null, null, null, null));
        Assert.Throws<ArgumentException>(() => SampleSize.Tiny.With(null, 64, 5, null, null));
    }
}

using System;
using System.Linq;
using TinyGpt;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Samples.Tests;

/// <summary>--seeds: mixed is judged against fp32's own seed-to-seed spread, not a single pair.</summary>
public sealed class SeedSummaryTests
{
    private static RunResult Result(string label, double loss, double accuracy) =>
        new(label, [], [], loss, accuracy, 1, 1, 0, 0, 0, null, 0, 1, [], [], TimeSpan.Zero);

    private static SeedSummary Summary(double[] mixedLosses, double[] fp32Losses) => new(
        mixedLosses.Select(loss => Result("mixed bf16", loss, 1 - loss)).ToArray(),
        fp32Losses.Select(loss => Result("fp32", loss, 1 - loss)).ToArray());

    [Fact]
    public void Mixed_within_two_standard_deviations_of_fp32_is_as_accurate()
    {
        var summary = Summary([0.11, 0.13, 0.12], [0.10, 0.14, 0.12]); // fp32: mean 0.12, sd 0.02

        Assert.Equal((0.12, 0.02), SeedSummary.Spread([0.10, 0.14, 0.12]), (a, b) => Math.Abs(a.Item1 - b.Item1) < 1e-12 && Math.Abs(a.Item2 - b.Item2) < 1e-12);
        Assert.True(summary.WithinFp32Spread(r => r.ValidationLoss));
        Assert.StartsWith("Mixed is as accurate as fp32", summary.Verdict());
        Assert.Equal(["validation loss", "0.1200 ± 0.0100 (0.1100–0.1300)", "0.1200 ± 0.0200 (0.1000–0.1400)", "yes"], summary.Rows()[1]);
    }

    [Fact]
    public void Mixed_outside_fp32s_spread_is_reported_and_one_seed_cannot_be_judged()
    {
        var worse = Summary([0.30, 0.31, 0.32], [0.10, 0.14, 0.12]);

        Assert.False(worse.WithinFp32Spread(r => r.ValidationLoss));
        Assert.Contains("validation loss outside, accuracy outside", worse.Verdict());
        Assert.Null(Summary([0.3], [0.1]).WithinFp32Spread(r => r.Accuracy));
        Assert.Contains("--seeds 3", Summary([0.3], [0.1]).Verdict());
    }

    [Fact]
    public void Several_seeds_train_different_models_whose_summary_is_reported()
    {
        var size = SampleSize.Tiny with { Layers = 1, Width = 16, Heads = 2, BatchSize = 8, Digits = 2 };
        var mixed = new[] { 5, 6 }.Select(seed => Trainer.Run(TrainingSettings.For(size, 4, seed, CPU, 20), mixed: true, "mixed bf16")).ToArray();
        var fp32 = new[] { 5, 6 }.Select(seed => Trainer.Run(TrainingSettings.For(size, 4, seed, CPU, 20), mixed: false, "fp32")).ToArray();

        Assert.NotEqual(fp32[0].Losses, fp32[1].Losses);
        var rows = new SeedSummary(mixed, fp32).Rows();
        Assert.Equal(["metric (mean ± sd, min–max)", "mixed bf16", "fp32", "mixed within fp32 ± 2 sd"], rows[0]);
        Assert.All(rows.Skip(1), row => Assert.Contains(" ± ", row[1]));
    }
}

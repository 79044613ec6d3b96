using System;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using PrecisionDsl;
using TinyGpt;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Samples.Tests;

/// <summary>The README's main job in miniature: both trainings, the comparison and the report.</summary>
[Collection(GlobalRngCollection.Name)] // two runs must start from the same weights: Trainer.Run's seeded global RNG
public sealed class EndToEndTests
{
    private const int Digits = 2;

    private static readonly TrainingSettings Tiny = TrainingSettings.For(
        SampleSize.Tiny with { Layers = 1, Width = 16, Heads = 2, BatchSize = 16, Digits = Digits }, steps: 30, seed: 5, CPU, heldOutCount: 50);

    [Fact]
    public void Mixed_and_fp32_runs_start_alike_learn_and_write_a_report()
    {
        var mixed = Trainer.Run(Tiny, mixed: true, "mixed bf16");
        var fp32 = Trainer.Run(Tiny, mixed: false, "fp32");

        foreach (var run in new[] { mixed, fp32 })
        {
            Assert.Equal(Tiny.Steps, run.Losses.Count);
            Assert.All(run.Losses, loss => Assert.True(double.IsFinite(loss), $"{run.Label}: loss {loss}"));
            Assert.True(run.Losses.TakeLast(5).Average() < run.Losses[0] - 0.3, $"{run.Label} did not learn: {run.Losses[0]} -> {run.Losses[^1]}");
            Assert.True(double.IsFinite(run.ValidationLoss));
            Assert.Equal(Tiny.HeldOutCount, run.HeldOutAnswers.Count);
            Assert.All(run.HeldOutAnswers, answer => Assert.Matches($"^[0-9]{{{Digits + 1}}}$", answer));
            Assert.Equal(0, run.LeakedTensors); // every step frees the tensors it made
        }

        // Same seed, same weights and data: the first losses differ only by bf16 rounding.
        Assert.Equal(fp32.Losses[0], mixed.Losses[0], 0.05);
        Assert.Equal((0L, 1.0), (mixed.SkippedSteps, mixed.FinalScale)); // bf16 needs no loss scaling

        var folder = Path.Combine(Path.GetTempPath(), "pdsl-tinygpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var report = ComparisonReport.Write(folder, [mixed, fp32], "setup line", TinyGptModel.PrecisionPlan.ToTable(), Digits);

            var markdown = File.ReadAllText(report);
            Assert.Contains("| metric | mixed bf16 | fp32 |", markdown);
            Assert.Contains("held-out exact match", markdown);
            Assert.Contains("| tensors leaked after warm-up | 0 | 0 |", markdown);
            Assert.Contains("Precision plan: TinyGptModel", markdown);
            var svg = XDocument.Load(Path.Combine(folder, "loss.svg"));
            Assert.Equal("svg", svg.Root!.Name.LocalName);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(folder, "loss.png")).Take(4));
            Assert.Contains("![training loss and loss scale](loss.png)", markdown);
            Assert.DoesNotContain("peak device memory", markdown); // CPU runs: no CUDA runtime, no row
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Real_fp16_on_cpu_trains_with_dynamic_loss_scaling()
    {
        using (PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuFp16Dtype = ScalarType.Float16 }))
        {
            var run = Trainer.Run(Tiny with { Steps = 10 }, mixed: true, "mixed fp16");

            Assert.All(run.Losses, loss => Assert.True(double.IsFinite(loss)));
            Assert.True(run.FinalScale > 1, $"an fp16 model gets an enabled scaler (scale {run.FinalScale})");
            Assert.All(run.Scales, scale => Assert.True(scale >= 1));
        }
    }
}

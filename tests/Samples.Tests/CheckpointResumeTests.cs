using System;
using System.IO;
using System.Linq;
using TinyGpt;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Samples.Tests;

/// <summary>The sample's --checkpoint/--resume: a resumed run continues exactly where the checkpoint left it.</summary>
public sealed class CheckpointResumeTests : IDisposable
{
    private const int Digits = 2;

    private static readonly TrainingSettings Tiny = TrainingSettings.For(
        SampleSize.Tiny with { Layers = 1, Width = 16, Heads = 2, BatchSize = 8, Digits = Digits }, steps: 8, seed: 5, CPU, heldOutCount: 20);

    private readonly string folder = Directory.CreateTempSubdirectory("pdsl-tinygpt-checkpoints-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // the fp32 reference: the fused AdamW over buffers of its own
    public void A_run_resumed_from_its_checkpoint_continues_from_the_saved_step_exactly(bool mixed)
    {
        var checkpoints = new CheckpointSettings(folder, Every: 4, Resume: false);
        var full = Trainer.Run(Tiny with { Checkpoints = checkpoints }, mixed, "full");
        Assert.Equal(new[] { "checkpoint-0000000004.pdslckpt", "checkpoint-0000000008.pdslckpt" },
            Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        File.Delete(Path.Combine(folder, "checkpoint-0000000008.pdslckpt")); // as if the run had died after step 4's checkpoint

        var resumed = Trainer.Run(Tiny with { Checkpoints = checkpoints with { Resume = true } }, mixed, "resumed");

        Assert.Equal(4, resumed.ResumedFromStep);
        Assert.Equal(full.Losses.Skip(4), resumed.Losses);
        Assert.Equal(full.Scales.Skip(4), resumed.Scales);
        Assert.Equal(full.ValidationLoss, resumed.ValidationLoss);
        Assert.Equal(full.HeldOutAnswers, resumed.HeldOutAnswers);
    }

    [Fact]
    public void Resuming_without_a_checkpoint_fails_naming_the_folder()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            Trainer.Run(Tiny with { Checkpoints = new CheckpointSettings(folder, Every: 4, Resume: true) }, mixed: true, "resumed"));

        Assert.Contains(folder, error.Message);
    }
}

using System.Linq;
using PrecisionDsl.TestModels;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>The generated training members drive the runtime: the loss falls and the masters stay fp32.</summary>
public sealed class GeneratedTrainingTests
{
    [Fact]
    public void Generated_TrainStep_reduces_the_loss_of_a_bf16_model()
    {
        using var scope = torch.NewDisposeScope();
        var model = Deterministic.Initialize(new Mlp(), seed: 7);
        var optimizer = torch.optim.Adam(model.parameters(), 0.01);
        var scaler = model.CreateGradScaler();
        var data = new torch.Generator().manual_seed(7);
        var inputs = torch.randn(new long[] { 64, 32 }, generator: data);
        var labels = torch.randint(0, 10, new long[] { 64 }, generator: data);

        var results = Enumerable.Range(0, 30).Select(_ => model.TrainStep(inputs, labels, optimizer, scaler)).ToArray();

        Assert.All(results, r => Assert.True(r.Stepped));
        Assert.True(results[^1].Loss < results[0].Loss * 0.5, $"loss {results[0].Loss:F4} -> {results[^1].Loss:F4}");
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void Generated_gradient_accumulation_matches_one_full_batch_step()
    {
        using var scope = torch.NewDisposeScope();
        var accumulated = Deterministic.Initialize(new Classifier(), seed: 11);
        var single = new Classifier();
        single.load_state_dict(accumulated.state_dict());
        var data = new torch.Generator().manual_seed(11);
        var inputs = torch.randn(new long[] { 16, 784 }, generator: data);
        var labels = torch.randint(0, 10, new long[] { 16 }, generator: data);
        var accumulatedOptimizer = torch.optim.SGD(accumulated.parameters(), 0.1);
        var singleOptimizer = torch.optim.SGD(single.parameters(), 0.1);

        var accumulatedScaler = accumulated.CreateGradScaler();
        accumulated.AccumulateGradients(inputs[..8], labels[..8], accumulatedScaler, lossWeight: 0.5);
        accumulated.AccumulateGradients(inputs[8..], labels[8..], accumulatedScaler, lossWeight: 0.5);
        var applied = accumulated.ApplyGradients(accumulatedOptimizer, accumulatedScaler);
        var stepped = single.TrainStep(inputs, labels, singleOptimizer, single.CreateGradScaler());

        Assert.True(applied.Stepped);
        Assert.True(stepped.Stepped);
        foreach (var (a, b) in accumulated.parameters().Zip(single.parameters()))
        {
            Assert.True(a.allclose(b, rtol: 1e-3, atol: 1e-4), "accumulated and single-batch updates differ");
        }
    }

    [Fact]
    public void A_model_scales_its_loss_for_a_nested_precision_model_that_runs_real_fp16()
    {
        using var scope = torch.NewDisposeScope();
        Assert.False(new EncoderStack().CreateGradScaler().IsEnabled); // bf16 throughout: no scaling
        using (PrecisionPolicy.Use(PrecisionSettings.FromEnvironment with { CpuFp16Dtype = ScalarType.BFloat16 }))
        {
            Assert.False(new Fp16EncoderClassifier().CreateGradScaler().IsEnabled); // fp16 runs as bf16 there
        }

        using var realFp16 = PrecisionPolicy.Use(PrecisionSettings.FromEnvironment with { CpuFp16Dtype = ScalarType.Float16 });
        var model = Deterministic.Initialize(new Fp16EncoderClassifier(), seed: 3);
        var scaler = model.CreateGradScaler(); // before any forward: the nested model has no state yet
        Assert.True(scaler.IsEnabled);
        var data = new torch.Generator().manual_seed(3);
        var result = model.TrainStep(
            torch.randn(new long[] { 8, 16 }, generator: data), torch.randint(0, 4, new long[] { 8 }, generator: data),
            torch.optim.SGD(model.parameters(), 0.1), scaler);

        // Scaled: the initial scale, or half of it had the first scaled gradients overflowed fp16.
        Assert.True(result.Scale >= LossScaleOptions.Default.InitialScale / 2, $"scale {result.Scale}");
    }
}

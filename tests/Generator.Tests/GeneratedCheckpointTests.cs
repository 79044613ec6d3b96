using System.IO;
using System.Linq;
using System.Text.Json;
using PrecisionDsl.TestModels;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// A run checkpointed mid-training (fp32 masters, optimizer state, scaler state) and resumed in a fresh
/// process-like setting continues bit-identically on CPU through the generated <c>TrainStep</c>.
/// </summary>
[Collection(GlobalRngCollection.Name)] // Mlp's dropout draws from the global RNG: both continuations seed it
public sealed class GeneratedCheckpointTests
{
    [Fact]
    public void Resuming_a_generated_model_mid_run_continues_bit_identically()
    {
        using var scope = NewDisposeScope();
        var data = new torch.Generator().manual_seed(21);
        var inputs = randn(new long[] { 32, 32 }, generator: data);
        var labels = randint(0, 10, new long[] { 32 }, generator: data);
        var model = Deterministic.Initialize(new Mlp(), seed: 21);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        // Enabled explicitly (a bf16 model's own scaler is a pass-through) so its state has to round-trip too:
        // the interval of 2 makes the scale grow during the continuation.
        var scaler = new GradScaler(initialScale: 128, growthInterval: 2);
        for (var step = 0; step < 5; step++)
        {
            model.TrainStep(inputs, labels, optimizer, scaler);
        }

        var modelCheckpoint = Save(model);
        var optimizerCheckpoint = Save((OptimizerHelper)optimizer);
        var scalerCheckpoint = JsonSerializer.Serialize(scaler.GetState());
        var original = Continue(model, optimizer, scaler, inputs, labels);

        var resumed = Deterministic.Initialize(new Mlp(), seed: 999); // different initial weights: everything must come from the checkpoint
        resumed.load(new MemoryStream(modelCheckpoint));
        var resumedOptimizer = optim.Adam(resumed.parameters(), lr: 0.01);
        ((OptimizerHelper)resumedOptimizer).load_state_dict(new BinaryReader(new MemoryStream(optimizerCheckpoint)));
        var resumedScaler = new GradScaler();
        resumedScaler.LoadState(JsonSerializer.Deserialize<GradScalerState>(scalerCheckpoint)!);
        var continued = Continue(resumed, resumedOptimizer, resumedScaler, inputs, labels);

        Assert.All(original.Results, r => Assert.True(r.Stepped));
        Assert.Equal(original.Results, continued.Results);
        Assert.Equal(original.Model, continued.Model);
        Assert.Equal(original.Optimizer, continued.Optimizer);
        Assert.Equal(scaler.GetState(), resumedScaler.GetState());
        Assert.NotEqual(JsonSerializer.Deserialize<GradScalerState>(scalerCheckpoint)!.Scale, scaler.CurrentScale);
        Assert.All(resumed.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    /// <summary>Four more steps from the same dropout RNG state, then everything the run holds, as bytes.</summary>
    private static (TrainStepResult[] Results, byte[] Model, byte[] Optimizer) Continue(Mlp model, optim.Optimizer optimizer, GradScaler scaler, Tensor inputs, Tensor labels)
    {
        manual_seed(5);
        var results = Enumerable.Range(0, 4).Select(_ => model.TrainStep(inputs, labels, optimizer, scaler)).ToArray();
        return (results, Save(model), Save((OptimizerHelper)optimizer));
    }

    private static byte[] Save(nn.Module module)
    {
        using var stream = new MemoryStream();
        module.save(stream);
        return stream.ToArray();
    }

    private static byte[] Save(OptimizerHelper optimizer)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        optimizer.save_state_dict(writer);
        writer.Flush();
        return stream.ToArray();
    }
}

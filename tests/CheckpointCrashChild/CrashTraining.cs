using System;
using System.Linq;
using PrecisionDsl.Tests.Shared;
using static TorchSharp.torch;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl.CheckpointCrashChild;

/// <summary>
/// The deterministic run the child trains and the crash test recomputes (both on one CPU thread):
/// seeded weights and data, Adam, and an inf written into a gradient every <see cref="PoisonEvery"/>th step so
/// the resumed state includes skipped steps and a backed-off scale.
/// </summary>
public sealed class CrashTraining : IDisposable
{
    public const int PoisonEvery = 5;

    private readonly Tensor inputs;
    private readonly Tensor targets;

    public CrashTraining()
    {
        Model = Deterministic.Initialize(new CrashModel(), seed: 42); // also built in the crash test's process, beside other tests
        Optimizer = optim.Adam(Model.parameters(), lr: 0.01);
        // Enabled in bf16 too (the model's own scaler would be a pass-through, which does not check
        // for inf), growing every 3 clean steps so its state changes often.
        Scaler = new GradScaler(initialScale: 1024, growthInterval: 3);
        var data = new Generator().manual_seed(7);
        inputs = randn(new long[] { 16, 4 }, generator: data);
        targets = inputs.sum(1, keepdim: true) + 0.1 * randn(new long[] { 16, 1 }, generator: data);
    }

    public CrashModel Model { get; }

    public Optimizer Optimizer { get; }

    public GradScaler Scaler { get; }

    /// <summary>Trains step number <paramref name="step"/> (1-based); every <see cref="PoisonEvery"/>th is skipped.</summary>
    public TrainStepResult Train(long step)
    {
        using var scope = NewDisposeScope();
        Model.AccumulateGradients(inputs, targets, Scaler);
        if (step % PoisonEvery == 0)
        {
            using var noGrad = no_grad();
            Model.parameters().First().grad!.view(-1)[0].fill_(double.PositiveInfinity);
        }

        return Model.ApplyGradients(Optimizer, Scaler);
    }

    public void Dispose()
    {
        Model.Dispose();
        Optimizer.Dispose();
        inputs.Dispose();
        targets.Dispose();
    }
}

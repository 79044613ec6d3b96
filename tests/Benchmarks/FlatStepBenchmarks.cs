using BenchmarkDotNet.Attributes;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl.Benchmarks;

/// <summary>Issue #15's bad case: many small layers, where a step is many small kernels.</summary>
[Bf16]
public partial class ManySmallLayers : Module<Tensor, Tensor>
{
    public const int Width = 64, Depth = 64;

    private readonly Sequential body;

    public ManySmallLayers() : base(nameof(ManySmallLayers))
    {
        body = Sequential();
        for (var i = 0; i < Depth; i++)
        {
            body.append(Linear(Width, Width));
            body.append(ReLU());
        }

        RegisterComponents();
    }

    [Forward]
    internal Tensor ForwardFp32(Tensor x) => body.call(x);

    [LossScaled]
    internal Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
}

/// <summary>
/// The fused AdamW over the flat masters against TorchSharp's per-parameter AdamW, alone and inside the
/// generated step's bookkeeping (<c>ApplyGradients</c>: unscale + inf/NaN check, step, zero), on
/// <see cref="ManySmallLayers"/> (128 parameters, 266k values). Gradients come from one backward in setup.
/// </summary>
[Config(typeof(ShortJobConfig))]
[IterationCount(20)]
public class FlatOptimizerStep
{
    private const int Batch = 32;
    private ManySmallLayers model = null!;
    private optim.Optimizer optimizer = null!;
    private GradScaler scaler = null!;
    private Tensor input = null!, target = null!;

    private void Setup(bool fused)
    {
        manual_seed(1);
        model = new ManySmallLayers();
        optimizer = fused ? model.CreateAdamW(lr: 1e-4) : optim.AdamW(model.parameters(), lr: 1e-4, weight_decay: 0.01);
        scaler = new GradScaler(initialScale: 1); // enabled: the unscale runs, and keeps the values
        input = randn(Batch, ManySmallLayers.Width);
        target = randn(Batch, ManySmallLayers.Width);
        model.TrainStep(input, target, optimizer, scaler); // builds the flat buffers, resolves the ranges
        using var scope = NewDisposeScope();
        model.AccumulateGradients(input, target, scaler);
    }

    [GlobalSetup(Targets = new[] { nameof(TorchSharpAdamW), nameof(ApplyGradientsTorchSharpAdamW), nameof(TrainStepTorchSharpAdamW) })]
    public void SetupTorchSharp() => Setup(fused: false);

    [GlobalSetup(Targets = new[] { nameof(FusedAdamW), nameof(ApplyGradientsFusedAdamW), nameof(TrainStepFusedAdamW) })]
    public void SetupFused() => Setup(fused: true);

    [Benchmark(Baseline = true, Description = "AdamW step, TorchSharp")]
    public void TorchSharpAdamW() => optimizer.step();

    [Benchmark(Description = "AdamW step, fused flat")]
    public void FusedAdamW() => optimizer.step();

    [Benchmark(Description = "ApplyGradients, TorchSharp AdamW")]
    public double ApplyGradientsTorchSharpAdamW() => model.ApplyGradients(optimizer, scaler).Scale;

    [Benchmark(Description = "ApplyGradients, fused AdamW")]
    public double ApplyGradientsFusedAdamW() => model.ApplyGradients(optimizer, scaler).Scale;

    [Benchmark(Description = "bf16 step, generated, TorchSharp AdamW")]
    public double TrainStepTorchSharpAdamW() => model.TrainStep(input, target, optimizer, scaler).Loss;

    [Benchmark(Description = "bf16 step, generated, fused AdamW")]
    public double TrainStepFusedAdamW() => model.TrainStep(input, target, optimizer, scaler).Loss;
}

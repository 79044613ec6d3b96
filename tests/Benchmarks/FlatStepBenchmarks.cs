using BenchmarkDotNet.Attributes;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl.Benchmarks;

/// <summary>Issue #15's bad case: many small layers (<paramref name="depth"/> Linear 64→64 + ReLU, 2 parameters each), where a step is many small kernels.</summary>
[Bf16]
public partial class ManySmallLayers : Module<Tensor, Tensor>
{
    public const int Width = 64;

    private readonly Sequential body;

    public ManySmallLayers(int depth) : base(nameof(ManySmallLayers))
    {
        body = Sequential();
        for (var i = 0; i < depth; i++)
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
/// <see cref="ManySmallLayers"/> at 128 and 200 parameters (issue #15's target: fused ≥ 3x faster at 200), and the
/// optimizer step alone on the same layers in a plain fp32 module. Gradients come from one backward in setup.
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

    /// <summary>Parameters of the model (two per layer).</summary>
    [Params(128, 200)]
    public int Parameters { get; set; }

    private void Setup(bool fused)
    {
        manual_seed(1);
        model = new ManySmallLayers(Parameters / 2);
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

    /// <summary>The same layers in a plain fp32 module (no precision model): the fused AdamW flattens them itself.</summary>
    private void SetupPlain(bool fused)
    {
        manual_seed(1);
        var plain = Sequential();
        for (var i = 0; i < Parameters / 2; i++)
        {
            plain.append(Linear(ManySmallLayers.Width, ManySmallLayers.Width));
            plain.append(ReLU());
        }

        optimizer = fused ? plain.CreateAdamW(lr: 1e-4) : optim.AdamW(plain.parameters(), lr: 1e-4, weight_decay: 0.01);
        using var scope = NewDisposeScope();
        optimizer.zero_grad(); // the fused one flattens the parameters here
        functional.mse_loss(plain.call(randn(Batch, ManySmallLayers.Width)), randn(Batch, ManySmallLayers.Width)).backward();
    }

    [GlobalSetup(Target = nameof(PlainTorchSharpAdamW))]
    public void SetupPlainTorchSharp() => SetupPlain(fused: false);

    [GlobalSetup(Target = nameof(PlainFusedAdamW))]
    public void SetupPlainFused() => SetupPlain(fused: true);

    [Benchmark(Description = "AdamW step, TorchSharp, plain fp32 module")]
    public void PlainTorchSharpAdamW() => optimizer.step();

    [Benchmark(Description = "AdamW step, fused, plain fp32 module")]
    public void PlainFusedAdamW() => optimizer.step();
}

/// <summary>
/// Issue #15's "overhead-bound model: mixed step ≤ 1.10x fp32" on <see cref="ManySmallLayers"/> (200 parameters): the
/// plain fp32 step (the untouched <c>[Forward]</c> method, backward, optimizer; TorchSharp's AdamW and the fused one,
/// which flattens the fp32 parameters itself) against the generated bf16 <c>TrainStep</c> with the fused AdamW.
/// Ratio of interest: "bf16 step, generated, fused AdamW" over "fp32 step, fused AdamW".
/// </summary>
[Config(typeof(ShortJobConfig))]
[IterationCount(20)]
public class OverheadBoundStep
{
    private const int Batch = 32, Depth = 100;
    private ManySmallLayers model = null!;
    private optim.Optimizer optimizer = null!;
    private GradScaler scaler = null!;
    private Tensor input = null!, target = null!;

    private void Setup(bool fused)
    {
        manual_seed(1);
        model = new ManySmallLayers(Depth);
        optimizer = fused ? model.CreateAdamW(lr: 1e-4) : optim.AdamW(model.parameters(), lr: 1e-4, weight_decay: 0.01);
        scaler = model.CreateGradScaler();
        input = randn(Batch, ManySmallLayers.Width);
        target = randn(Batch, ManySmallLayers.Width);
    }

    [GlobalSetup(Target = nameof(Fp32TorchSharpAdamW))]
    public void SetupTorchSharp() => Setup(fused: false);

    [GlobalSetup(Targets = new[] { nameof(Fp32FusedAdamW), nameof(Bf16GeneratedFusedAdamW) })]
    public void SetupFused() => Setup(fused: true);

    [Benchmark(Description = "fp32 step, TorchSharp AdamW")]
    public double Fp32TorchSharpAdamW() => PlainTraining.PlainStep(optimizer, () => model.Loss(model.ForwardFp32(input), target));

    [Benchmark(Baseline = true, Description = "fp32 step, fused AdamW")]
    public double Fp32FusedAdamW() => PlainTraining.PlainStep(optimizer, () => model.Loss(model.ForwardFp32(input), target));

    [Benchmark(Description = "bf16 step, generated, fused AdamW")]
    public double Bf16GeneratedFusedAdamW()
    {
        using var scope = NewDisposeScope();
        return model.TrainStep(input, target, optimizer, scaler).Loss;
    }
}

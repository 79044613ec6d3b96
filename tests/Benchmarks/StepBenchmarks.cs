using BenchmarkDotNet.Attributes;
using TorchSharp;
using static PrecisionDsl.Benchmarks.PlainTraining;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks;

internal static class PlainTraining
{
    /// <summary>A plain TorchSharp step (no scaler, no master weights): the fp32 and hand-written baselines.</summary>
    public static double PlainStep(optim.Optimizer optimizer, System.Func<Tensor> computeLoss)
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = computeLoss();
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }
}

/// <summary>
/// One training step of the MLP (batch 256): plain fp32, the PrecisionDsl-generated bf16
/// <c>TrainStep</c>, and a hand-written bf16 step that casts at every layer call. Plus the
/// <see cref="GradScaler"/>'s unscale + inf/NaN check over the MLP's gradients, to compare with a step.
/// </summary>
[Config(typeof(ShortJobConfig))]
public class MlpStep
{
    /// <summary>SGD without momentum for the timings; the memory probe also measures AdamW, whose 8 bytes of
    /// state per parameter are in the (#17) comparison.</summary>
    public enum Optimizers { Sgd, AdamW, FusedAdamW }


    private const int Batch = 256;
    private Mlp model = null!;
    private optim.Optimizer optimizer = null!;
    private GradScaler scaler = null!;
    private Tensor input = null!, target = null!;

    /// <summary>Set by the memory probe only, not a BenchmarkDotNet parameter.</summary>
    public Optimizers Optimizer { get; init; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(1);
        model = new Mlp();
        optimizer = Optimizer switch
        {
            Optimizers.AdamW => optim.AdamW(model.parameters(), 1e-3),
            Optimizers.FusedAdamW => model.CreateAdamW(1e-3),
            _ => optim.SGD(model.parameters(), 1e-3),
        };
        scaler = model.CreateGradScaler();
        input = randn(Batch, Mlp.Input);
        target = randn(Batch, Mlp.Output);
    }

    [GlobalSetup(Target = nameof(ScalerUnscaleAndCheck))]
    public void SetupWithGradients()
    {
        Setup();
        // An enabled scaler at scale 1 keeps the gradients' values (no denormals) however often it unscales.
        scaler = new GradScaler(initialScale: 1, minScale: 1);
        using var scope = NewDisposeScope();
        model.Loss(model.ForwardFp32(input), target).backward();
    }

    [Benchmark(Baseline = true, Description = "fp32 step")]
    public double Fp32()
        => PlainStep(optimizer, () => model.Loss(model.ForwardFp32(input), target));

    [Benchmark(Description = "bf16 step, generated")]
    public double GeneratedMixed()
    {
        using var scope = NewDisposeScope();
        return model.TrainStep(input, target, optimizer, scaler).Loss;
    }

    [Benchmark(Description = "bf16 step, hand-written casts")]
    public double HandWrittenMixed()
        => PlainStep(optimizer, () => model.Loss(HandWritten.MlpForward(model, input), target));

    [Benchmark(Description = "GradScaler unscale + inf/NaN check")]
    public double ScalerUnscaleAndCheck()
    {
        scaler.Unscale(optimizer);
        scaler.Update();   // reads the overflow flag: the step's one host synchronisation
        return scaler.CurrentScale;
    }
}

/// <summary>
/// One training step of a TinyGpt block (batch 256 x 11 tokens, width 128): fp32, generated bf16,
/// hand-written bf16, and generated bf16 forced onto libtorch's native bf16 kernels. A step is tens of
/// milliseconds, so it gets more iterations than the short job's four.
/// </summary>
[Config(typeof(ShortJobConfig))]
[WarmupCount(3)]
[IterationCount(20)]
public class GptBlockStep
{
    private const int Batch = 256;
    private GptBlock model = null!;
    private optim.Optimizer optimizer = null!;
    private GradScaler scaler = null!;
    private Tensor tokens = null!, targets = null!;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(1);
        model = new GptBlock();
        optimizer = optim.AdamW(model.parameters(), 1e-3);
        scaler = model.CreateGradScaler();
        tokens = randint(GptBlock.Vocabulary, [Batch, GptBlock.Context]);
        targets = randint(GptBlock.Vocabulary, [Batch, GptBlock.Context]);
    }

    [Benchmark(Baseline = true, Description = "fp32 step")]
    public double Fp32()
        => PlainStep(optimizer, () => model.Loss(model.ForwardFp32(tokens), targets));

    [Benchmark(Description = "bf16 step, generated")]
    public double GeneratedMixed()
    {
        using var scope = NewDisposeScope();
        return model.TrainStep(tokens, targets, optimizer, scaler).Loss;
    }

    [Benchmark(Description = "bf16 step, hand-written casts")]
    public double HandWrittenMixed()
        => PlainStep(optimizer, () => model.Loss(model.HandWrittenMixedForward(tokens), targets));

    // The model captures the settings when Setup creates its state (CreateGradScaler) and keeps them.
    [GlobalSetup(Target = nameof(GeneratedMixedNativeKernels))]
    public void SetupNativeKernels()
    {
        using (PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Native }))
        {
            Setup();
        }
    }

    [Benchmark(Description = "bf16 step, generated, native bf16 kernels")]
    public double GeneratedMixedNativeKernels() => GeneratedMixed();
}

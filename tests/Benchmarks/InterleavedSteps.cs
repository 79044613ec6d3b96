using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// Mixed against fp32 step times measured in one process, the variants interleaved block by block, so load that
/// comes and goes on a shared machine hits every variant alike (BenchmarkDotNet runs each case in its own process,
/// one after another, and on the project's 2-core VM its ratios swung from 1.10x to 1.85x between runs). Each variant
/// has its own model and fused AdamW, built from the same seed; the bf16 models are created under explicit settings
/// (excess precision on and off), which they keep.
/// </summary>
public static class InterleavedSteps
{
    private const int WarmupSteps = 10, StepsPerBlock = 10;

    /// <param name="rounds">Blocks per variant: more narrow the medians on a noisy machine.</param>
    public static int Run(int rounds = 12)
    {
        Console.WriteLine($"CPU: {Machine.CpuModel()}, {Environment.ProcessorCount} cores; load average at start: {Machine.LoadAverage()}");
        Console.WriteLine($"median (min) ms per step over {rounds} interleaved blocks of {StepsPerBlock} steps, after {WarmupSteps} warm-up steps");
        Console.WriteLine();
        Console.WriteLine("| model | variant | ms per step | / fp32 |");
        Console.WriteLine("|---|---|---:|---:|");
        Compare("overhead-bound: 100 x Linear 64→64 + ReLU, batch 32", OverheadBound, rounds);
        Compare("GptBlock: width 128, batch 256 x 11 tokens", GptBlockSteps, rounds);
        Compare($"wide MLP inference: {Mlp.Input}→{Mlp.Hidden}→{Mlp.Hidden}→{Mlp.Output}, batch {InferenceBatch}, no_grad", WideMlpInference, rounds);
        return 0;
    }

    private const int InferenceBatch = 64;

    /// <summary>Issue #15's inference target (≥ 3.5x fp32 where the CPU has native bf16): the forward alone, no_grad.</summary>
    private static (string Name, Func<double> Step)[] WideMlpInference()
    {
        var input = randn(InferenceBatch, Mlp.Input, generator: new torch.Generator().manual_seed(3));
        Mlp Build(bool excessPrecision)
        {
            using var settings = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuExcessPrecision = excessPrecision });
            manual_seed(1);
            var model = new Mlp();
            model.eval();
            // The first generated forward creates the model's state, which keeps the settings of this scope.
            Inference(() => model.call(input));
            return model;
        }

        var fp32 = Build(excessPrecision: true);
        var excess = Build(excessPrecision: true);
        var rounding = Build(excessPrecision: false);
        return
        [
            ("fp32", () => Inference(() => fp32.ForwardFp32(input))),
            ("bf16 generated, excess precision (default here)", () => Inference(() => excess.call(input))),
            ("bf16 generated, every half op rounded", () => Inference(() => rounding.call(input))),
        ];
    }

    private static double Inference(Func<Tensor> forward)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        forward();
        return 0;
    }

    private static (string Name, Func<double> Step)[] OverheadBound()
    {
        var input = randn(32, ManySmallLayers.Width, generator: new torch.Generator().manual_seed(3));
        var target = randn(32, ManySmallLayers.Width, generator: new torch.Generator().manual_seed(4));
        return Variants(() => new ManySmallLayers(100), model => model.CreateGradScaler(),
            model => PlainTraining.PlainStep(model.Optimizer, () => model.Model.Loss(model.Model.ForwardFp32(input), target)),
            model => model.Model.TrainStep(input, target, model.Optimizer, model.Scaler).Loss);
    }

    private static (string Name, Func<double> Step)[] GptBlockSteps()
    {
        var tokens = randint(GptBlock.Vocabulary, [256, GptBlock.Context], generator: new torch.Generator().manual_seed(3));
        var targets = randint(GptBlock.Vocabulary, [256, GptBlock.Context], generator: new torch.Generator().manual_seed(4));
        return Variants(() => new GptBlock(), model => model.CreateGradScaler(),
            model => PlainTraining.PlainStep(model.Optimizer, () => model.Model.Loss(model.Model.ForwardFp32(tokens), targets)),
            model => model.Model.TrainStep(tokens, targets, model.Optimizer, model.Scaler).Loss);
    }

    /// <summary>fp32 (the untouched [Forward] method), generated bf16 with excess precision allowed (the default), and without.</summary>
    private static (string Name, Func<double> Step)[] Variants<TModel>(
        Func<TModel> create, Func<TModel, GradScaler> createScaler, Func<Trained<TModel>, double> fp32Step, Func<Trained<TModel>, double> mixedStep)
        where TModel : nn.Module
    {
        Trained<TModel> Build(bool excessPrecision)
        {
            using var settings = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuExcessPrecision = excessPrecision });
            manual_seed(1);
            var model = create();
            var optimizer = model.CreateAdamW(lr: 1e-4);
            // The state, created here, keeps the settings of this scope.
            return new Trained<TModel>(model, optimizer, createScaler(model));
        }

        var fp32 = Build(excessPrecision: true);
        var excess = Build(excessPrecision: true);
        var rounding = Build(excessPrecision: false);
        return
        [
            ("fp32, fused AdamW", () => fp32Step(fp32)),
            ("bf16 generated, excess precision (default here)", () => Scoped(() => mixedStep(excess))),
            ("bf16 generated, every half op rounded", () => Scoped(() => mixedStep(rounding))),
        ];
    }

    private static double Scoped(Func<double> step)
    {
        using var scope = NewDisposeScope();
        return step();
    }

    private static void Compare(string title, Func<(string Name, Func<double> Step)[]> prepare, int rounds)
    {
        var variants = prepare();
        foreach (var (_, step) in variants)
        {
            for (var i = 0; i < WarmupSteps; i++) step();
        }

        var blocks = variants.Select(_ => new List<double>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var v = 0; v < variants.Length; v++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < StepsPerBlock; i++) variants[v].Step();
                blocks[v].Add(watch.Elapsed.TotalMilliseconds / StepsPerBlock);
            }
        }

        var baseline = Median(blocks[0]);
        for (var v = 0; v < variants.Length; v++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {(v == 0 ? title : "")} | {variants[v].Name} | {Median(blocks[v]):F2} ({blocks[v].Min():F2}) | {Median(blocks[v]) / baseline:F3} |"));
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private sealed record Trained<TModel>(TModel Model, optim.Optimizer Optimizer, GradScaler Scaler);
}

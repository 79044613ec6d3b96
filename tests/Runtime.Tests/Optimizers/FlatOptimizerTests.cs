using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl.Runtime.Tests.Optimizers;

/// <summary>Issue #15: the fused optimizers over the flat masters update exactly as TorchSharp's AdamW and SGD do.</summary>
public sealed class FlatOptimizerTests
{
    private const int Steps = 100;

    /// <summary>Decay on matrices at one learning rate, none on vectors (biases, norm weights) at another.</summary>
    private static (List<Parameter> Matrices, List<Parameter> Vectors) Split(Module model) =>
        (model.parameters().Where(p => p.dim() >= 2).ToList(), model.parameters().Where(p => p.dim() < 2).ToList());

    [Fact]
    public void Fused_AdamW_with_two_parameter_groups_matches_TorchSharp_AdamW_over_100_steps()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var (flatMatrices, flatVectors) = Split(flat);
        var (matrices, vectors) = Split(reference);
        var fused = flat.CreateAdamW(new[]
        {
            new AdamW.ParamGroup(flatMatrices, lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1),
            new AdamW.ParamGroup(flatVectors, lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0),
        });
        var torchSharp = optim.AdamW(new[]
        {
            new AdamW.ParamGroup(matrices, lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1),
            new AdamW.ParamGroup(vectors, lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0),
        });

        StepWithSameGradients(flat, fused, reference, torchSharp);

        // Matrices first, vectors after them in each buffer: a few ranges, not one per parameter.
        Assert.InRange(Layout(fused).Ranges.Count, 2, 4);
        Assert.Empty(Layout(fused).Loose);
        AssertClose(flat, reference);
    }

    [Theory]
    [InlineData(0.9, 0.01, true)]
    [InlineData(0.5, 0.0, false)]
    [InlineData(0.0, 0.001, false)]
    public void Fused_SGD_matches_TorchSharp_SGD_over_100_steps(double momentum, double weightDecay, bool nesterov)
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var fused = flat.CreateSgd(lr: 0.05, momentum, weightDecay, nesterov);
        var torchSharp = optim.SGD(reference.parameters(), 0.05, momentum, weight_decay: weightDecay, nesterov: nesterov);

        StepWithSameGradients(flat, fused, reference, torchSharp);

        Assert.Single(Layout(fused).Ranges);
        AssertClose(flat, reference);
    }

    [Theory]
    [InlineData("adamw", false)]
    [InlineData("sgd", false)]
    [InlineData("adamw", true)]
    [InlineData("sgd", true)]
    public void Training_state_saved_by_TrainingCheckpoint_resumes_bit_identically(string kind, bool loadAfterFirstForward)
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        Optimizer Create(Module model) => kind == "adamw" ? model.CreateAdamW(lr: 0.01) : model.CreateSgd(lr: 0.05, momentum: 0.9, nesterov: true);
        var path = Path.Combine(Path.GetTempPath(), $"flat-{Guid.NewGuid():N}{TrainingCheckpoint.Extension}");
        try
        {
            var model = new TinyMlp(PrecisionKind.Bf16);
            var optimizer = Create(model);
            var scaler = new GradScaler(initialScale: 1024);
            for (var step = 0; step < 5; step++)
            {
                model.TrainStep(x, y, optimizer, scaler);
            }

            TrainingCheckpoint.Save(path, model, optimizer, scaler, step: 5);
            var expected = Enumerable.Range(0, 5).Select(_ => model.TrainStep(x, y, optimizer, scaler).Loss).ToList();

            // Loaded before the resumed model's first forward, the state moves into the flat buffers at the first
            // step; loaded after it (ranges resolved by zero_grad, no momentum yet), into the flat buffers already there.
            var resumed = new TinyMlp(PrecisionKind.Bf16);
            var resumedOptimizer = Create(resumed);
            var resumedScaler = new GradScaler();
            if (loadAfterFirstForward)
            {
                resumed.call(x);
                resumedOptimizer.zero_grad();
            }

            TrainingCheckpoint.Load(path, resumed, resumedOptimizer, resumedScaler);
            var actual = Enumerable.Range(0, 5).Select(_ => resumed.TrainStep(x, y, resumedOptimizer, resumedScaler).Loss).ToList();

            Assert.Equal(expected, actual);
            foreach (var (name, parameter) in model.named_parameters())
            {
                Assert.Equal(Snapshots.Values(parameter), Snapshots.Values(resumed.get_parameter(name)!));
            }

            Assert.Equal(Snapshots.Of((OptimizerHelper)optimizer), Snapshots.Of((OptimizerHelper)resumedOptimizer));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_generated_step_with_the_fused_AdamW_clips_skips_on_overflow_and_trains_like_TorchSharp_AdamW()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var (flat, reference) = TwinModels();
        var fused = flat.CreateAdamW(lr: 0.01);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);
        var (flatScaler, referenceScaler) = (new GradScaler(initialScale: 1024), new GradScaler(initialScale: 1024));

        for (var step = 0; step < 10; step++)
        {
            var a = flat.TrainStep(x, y, fused, flatScaler, maxGradNorm: 0.5);
            var b = reference.TrainStep(x, y, torchSharp, referenceScaler, maxGradNorm: 0.5);
            Assert.Equal(b.Loss, a.Loss, 5);
        }

        AssertClose(flat, reference);

        // An inf in one gradient: the step is skipped, masters and optimizer state untouched.
        flat.AccumulateGradients(x, y, flatScaler);
        var masters = flat.parameters().Select(Snapshots.Values).ToList();
        var state = Snapshots.Of(fused);
        using (no_grad())
        {
            flat.Fc2.bias!.grad![0] = float.PositiveInfinity;
        }

        var skipped = flat.ApplyGradients(fused, flatScaler);
        Assert.False(skipped.Stepped);
        Assert.Equal(masters, flat.parameters().Select(Snapshots.Values));
        Assert.Equal(state, Snapshots.Of(fused));
    }

    [Fact]
    public void Updating_in_chunks_changes_no_bit_of_the_AdamW_or_SGD_update()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (wholeAdamW, chunkedAdamW) = FlatTwins();
        var (wholeSgd, chunkedSgd) = FlatTwins();
        var optimizers = new (Module Whole, OptimizerHelper WholeOptimizer, Module Chunked, OptimizerHelper ChunkedOptimizer)[]
        {
            (wholeAdamW, wholeAdamW.CreateAdamW(lr: 0.01), chunkedAdamW, Chunked(chunkedAdamW.CreateAdamW(lr: 0.01))),
            (wholeSgd, wholeSgd.CreateSgd(0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true),
                chunkedSgd, Chunked(chunkedSgd.CreateSgd(0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true))),
        };

        foreach (var (whole, wholeOptimizer, chunked, chunkedOptimizer) in optimizers)
        {
            var generator = new torch.Generator().manual_seed(7);
            for (var step = 0; step < 5; step++)
            {
                wholeOptimizer.zero_grad();
                chunkedOptimizer.zero_grad();
                using var stepScope = NewDisposeScope();
                using (no_grad())
                {
                    foreach (var (name, parameter) in whole.named_parameters())
                    {
                        var gradient = randn(parameter.shape, generator: generator);
                        parameter.grad!.copy_(gradient);
                        chunked.get_parameter(name)!.grad!.copy_(gradient);
                    }
                }

                wholeOptimizer.step();
                chunkedOptimizer.step();
            }

            Assert.Equal(whole.parameters().Select(Snapshots.Values), chunked.parameters().Select(Snapshots.Values));
            Assert.Equal(Snapshots.Of(wholeOptimizer), Snapshots.Of(chunkedOptimizer));
        }

        // 7 elements: every range is cut, and most chunks end inside a parameter.
        static OptimizerHelper Chunked(OptimizerHelper optimizer)
        {
            switch (optimizer)
            {
                case FlatAdamW adamW: adamW.ChunkElements = 7; break;
                case FlatSgd sgd: sgd.ChunkElements = 7; break;
            }

            return optimizer;
        }
    }

    /// <summary>Two precision models with equal weights, both with their flat buffers built.</summary>
    private static (TinyMlp, TinyMlp) FlatTwins()
    {
        var (first, _) = TwinModels();
        var second = new TinyMlp(PrecisionKind.Bf16);
        second.load_state_dict(first.state_dict());
        second.call(RegressionData.Create().X);
        return (first, second);
    }

    /// <summary>A precision model whose buffers are built, and an unflattened copy of it.</summary>
    private static (TinyMlp Flat, TinyMlp Reference) TwinModels()
    {
        var flat = new TinyMlp(PrecisionKind.Bf16);
        var reference = new TinyMlp(PrecisionKind.Bf16);
        reference.load_state_dict(flat.state_dict());
        flat.call(RegressionData.Create().X);
        return (flat, reference);
    }

    /// <summary>Feeds both optimizers the same seeded gradients, so any difference is the update's.</summary>
    private static void StepWithSameGradients(Module flat, Optimizer fused, Module reference, Optimizer torchSharp, int steps = Steps)
    {
        var generator = new torch.Generator().manual_seed(42);
        var pairs = flat.named_parameters().Select(p => (Flat: p.parameter, Reference: reference.get_parameter(p.name)!)).ToList();
        for (var step = 0; step < steps; step++)
        {
            fused.zero_grad(); // makes the gradients the flat buffer's views
            using var stepScope = NewDisposeScope();
            using (no_grad())
            {
                foreach (var (flatParameter, referenceParameter) in pairs)
                {
                    var gradient = randn(flatParameter.shape, generator: generator);
                    if (flatParameter.grad is { } flatGradient)
                    {
                        flatGradient.copy_(gradient);
                    }
                    else
                    {
                        flatParameter.grad = gradient.clone();
                    }

                    referenceParameter.grad = gradient.clone();
                }
            }

            fused.step();
            torchSharp.step();
        }
    }

    private static FlatLayout Layout(Optimizer optimizer) => ((IFlatOptimizer)optimizer).Layout;

    private static void AssertClose(Module flat, Module reference)
    {
        foreach (var (name, parameter) in flat.named_parameters())
        {
            var expected = reference.get_parameter(name)!;
            Assert.True(parameter.allclose(expected, rtol: 1e-5, atol: 1e-6),
                $"{name}: max difference {(parameter - expected).abs().max().item<float>()}");
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Reliability;

/// <summary>
/// Thousands of small training steps with inf/NaN written into random gradients between the backward
/// (<c>AccumulateGradients</c>) and the step (<c>ApplyGradients</c>), as a real overflow would leave them.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    private const int Steps = 2000;
    private const double InjectionRate = 0.02;
    private const int StormStart = 800;
    private const int StormLength = 40;
    private const double MinScale = 1;
    private const double MaxScale = 65536;

    [Fact]
    public void Injected_non_finite_gradients_skip_exactly_those_steps_and_training_still_matches_a_clean_run()
    {
        using var scope = NewDisposeScope();
        using var oneThread = new SingleThreadedTorch();
        var (x, y) = NoisyRegression();
        var faults = FaultSchedule();

        var clean = Train(x, y, new HashSet<int>());
        var faulty = Train(x, y, faults);

        Assert.Empty(clean.SkippedAt);
        Assert.Equal(faults.OrderBy(s => s), faulty.SkippedAt);
        Assert.Equal(faults.Count, faulty.SkippedSteps);
        Assert.All(faulty.Scales, s => Assert.InRange(s, MinScale, MaxScale));

        // The storm drives the scale to its floor, and clean steps afterwards bring it back.
        var beforeStorm = faulty.Scales[StormStart - 1];
        var stormEnd = StormStart + StormLength - 1;
        Assert.Equal(MinScale, faulty.Scales[stormEnd]);
        Assert.True(faulty.Scales.Skip(stormEnd + 1).Max() >= beforeStorm,
            $"scale {beforeStorm} before the storm, at most {faulty.Scales.Skip(stormEnd + 1).Max()} after it");

        output.WriteLine($"{faults.Count} injected of {Steps} steps; scale {beforeStorm} before the storm, back at step {Array.FindIndex(faulty.Scales, stormEnd + 1, s => s >= beforeStorm)}; final loss {faulty.FinalLoss:G5} vs clean {clean.FinalLoss:G5}");
        Assert.True(Math.Abs(faulty.FinalLoss - clean.FinalLoss) <= 0.05 * clean.FinalLoss,
            $"final loss {faulty.FinalLoss} with faults, {clean.FinalLoss} without");
    }

    /// <summary>~2% of steps at random plus one storm of consecutive overflows, seeded.</summary>
    private static HashSet<int> FaultSchedule()
    {
        var random = new Random(20261128);
        var faults = Enumerable.Range(0, Steps).Where(_ => random.NextDouble() < InjectionRate).ToHashSet();
        faults.UnionWith(Enumerable.Range(StormStart, StormLength));
        faults.Remove(StormStart - 1); // so the scale just before the storm is a clean step's
        return faults;
    }

    private static TrainingRun Train(Tensor x, Tensor y, HashSet<int> faults)
    {
        var model = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16, inputs: 4, hidden: 16), seed: 17);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        // bf16 has fp32's range, so only the injected gradients can overflow; the scaler is enabled
        // explicitly (a bf16 model's own scaler is a pass-through).
        var scaler = new GradScaler(initialScale: 1024, growthInterval: 20, minScale: MinScale, maxScale: MaxScale);
        var poison = new Random(5);
        var skippedAt = new List<int>();
        var scales = new double[Steps];

        for (var step = 0; step < Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            model.AccumulateGradients(x, y, scaler);
            byte[]? parametersBefore = null, optimizerBefore = null;
            if (faults.Contains(step))
            {
                PoisonOneGradient(model, poison);
                parametersBefore = Snapshots.Of(model);
                optimizerBefore = Snapshots.Of(optimizer);
            }

            var result = model.ApplyGradients(optimizer, scaler);
            if (!result.Stepped)
            {
                skippedAt.Add(step);
            }

            if (parametersBefore is not null)
            {
                Assert.Equal(parametersBefore, Snapshots.Of(model));
                Assert.Equal(optimizerBefore, Snapshots.Of(optimizer));
            }

            if (faults.Count > 0)
            {
                Assert.True(AllFinite(model.parameters().Concat(AdamState(optimizer))), $"non-finite parameter or Adam state after step {step}");
            }

            scales[step] = result.Scale;
        }

        using (no_grad())
        {
            var finalLoss = model.Loss(model.call(x), y).item<float>();
            return new TrainingRun(skippedAt, scaler.SkippedSteps, scales, finalLoss);
        }
    }

    /// <summary>Writes +inf, -inf or NaN into one random element of one random master gradient.</summary>
    private static void PoisonOneGradient(TinyMlp model, Random random)
    {
        var gradients = model.parameters().Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToArray();
        var gradient = gradients[random.Next(gradients.Length)];
        var value = random.Next(3) switch
        {
            0 => double.PositiveInfinity,
            1 => double.NegativeInfinity,
            _ => double.NaN,
        };
        using var noGrad = no_grad();
        gradient.view(-1)[random.NextInt64(gradient.numel())].fill_(value);
    }

    private static IEnumerable<Tensor> AdamState(optim.Optimizer optimizer) =>
        ((OptimizerHelper)optimizer).state_dict().State.Cast<Adam.State>().SelectMany(s => new[] { s.exp_avg, s.exp_avg_sq });

    private static bool AllFinite(IEnumerable<Tensor> tensors) =>
        stack(tensors.Select(t => isfinite(t).all()).ToArray()).all().item<bool>();

    /// <summary>
    /// y = x·w + noise, with enough samples and noise that the loss settles at the noise floor instead
    /// of drifting down as the model overfits: two runs that took different paths end at the same loss.
    /// </summary>
    private static (Tensor X, Tensor Y) NoisyRegression()
    {
        var generator = new torch.Generator().manual_seed(3);
        var x = randn(new[] { 1024L, 4 }, generator: generator);
        var w = randn(new[] { 4L, 1 }, generator: generator);
        return (x, x.matmul(w) + 0.3 * randn(new[] { 1024L, 1 }, generator: generator));
    }

    private sealed record TrainingRun(List<int> SkippedAt, long SkippedSteps, double[] Scales, double FinalLoss);
}

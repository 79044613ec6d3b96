using System;
using System.Linq;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Reliability;

/// <summary>A scale stuck at its minimum with every step overflowing must not skip silently forever.</summary>
public sealed class StalledLossScaleTests
{
    [Fact]
    public void Overflowing_at_min_scale_warns_once_then_throws_after_the_limit_leaving_the_parameter_untouched()
    {
        using var logger = new CapturingLogger();
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 4, minScale: 1) { MaxSkippedStepsAtMinScale = 30 };

        // 4 -> 2 -> 1: those two overflows happen above the minimum and do not count.
        Iterate(scaler, parameter, optimizer, float.NaN);
        Iterate(scaler, parameter, optimizer, float.NaN);
        Assert.Equal(0, scaler.SkippedStepsAtMinScale);
        for (var step = 1; step < 30; step++)
        {
            Iterate(scaler, parameter, optimizer, float.PositiveInfinity);
            Assert.Equal(step, scaler.SkippedStepsAtMinScale);
            Assert.Equal(step >= GradScaler.MinScaleStallWarningSteps ? 1 : 0, Warnings(logger).Length);
        }

        var stalled = Assert.Throws<LossScaleStalledException>(() => Iterate(scaler, parameter, optimizer, float.NaN));

        Assert.Equal(30, stalled.SkippedSteps);
        Assert.Equal(1, stalled.MinScale);
        Assert.Contains("last 30 optimizer steps were all skipped", stalled.Message);
        Assert.Contains("minimum (1)", stalled.Message);
        Assert.Contains("minimum (1)", Warnings(logger).Single());
        Assert.Equal(1f, parameter.item<float>());
        Assert.Equal(32, scaler.SkippedSteps);
        // The update completed before the throw: the scaler is consistent and a clean step ends the stall.
        Assert.Equal(1, scaler.CurrentScale);
        Iterate(scaler, parameter, optimizer, 1f);
        Assert.Equal(0, scaler.SkippedStepsAtMinScale);
        Assert.NotEqual(1f, parameter.item<float>());
    }

    [Fact]
    public void A_limit_of_zero_never_throws_and_each_new_stall_warns_again()
    {
        using var logger = new CapturingLogger();
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 1) { MaxSkippedStepsAtMinScale = 0 };

        for (var step = 0; step < 3 * GradScaler.DefaultMaxSkippedStepsAtMinScale; step++)
        {
            Iterate(scaler, parameter, optimizer, float.NaN);
        }

        Assert.Single(Warnings(logger));
        Iterate(scaler, parameter, optimizer, 1f);
        for (var step = 0; step < GradScaler.MinScaleStallWarningSteps; step++)
        {
            Iterate(scaler, parameter, optimizer, float.NaN);
        }

        Assert.Equal(2, Warnings(logger).Length);
    }

    [Fact]
    public void Nan_input_data_makes_the_generated_style_train_step_fail_loudly_with_the_model_untouched()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var (x, y) = RegressionData.Create();
        x[0, 0] = tensor(float.NaN);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var scaler = new GradScaler(initialScale: 4) { MaxSkippedStepsAtMinScale = 12 };
        var parametersBefore = Snapshots.Of(model);

        // Two backoffs to reach the minimum, then 12 overflows at it.
        for (var step = 0; step < 13; step++)
        {
            Assert.False(model.TrainStep(x, y, optimizer, scaler).Stepped);
        }

        Assert.Throws<LossScaleStalledException>(() => model.TrainStep(x, y, optimizer, scaler));
        Assert.Equal(parametersBefore, Snapshots.Of(model));
        Assert.All(model.parameters(), p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
        Assert.Single(Warnings(logger));
    }

    [Fact]
    public void A_stall_in_progress_survives_a_checkpoint_round_trip()
    {
        var (parameter, optimizer) = OneParameter();
        var original = new GradScaler(initialScale: 1) { MaxSkippedStepsAtMinScale = 8 };
        for (var step = 0; step < 5; step++)
        {
            Iterate(original, parameter, optimizer, float.NaN);
        }

        var restored = new GradScaler();
        restored.LoadState(JsonSerializer.Deserialize<GradScalerState>(JsonSerializer.Serialize(original.GetState()))!);

        Assert.Equal(5, restored.SkippedStepsAtMinScale);
        Assert.Equal(8, restored.MaxSkippedStepsAtMinScale);
        Iterate(restored, parameter, optimizer, float.NaN);
        Iterate(restored, parameter, optimizer, float.NaN);
        Assert.Throws<LossScaleStalledException>(() => Iterate(restored, parameter, optimizer, float.NaN));
    }

    private static string[] Warnings(CapturingLogger logger) =>
        logger.Messages.Where(m => m.Level == LogLevel.Warning).Select(m => m.Message).ToArray();

    private static (Parameter Parameter, optim.Optimizer Optimizer) OneParameter()
    {
        var parameter = new Parameter(tensor(new[] { 1f }));
        return (parameter, optim.SGD(new[] { parameter }, 0.01));
    }

    private static void Iterate(GradScaler scaler, Parameter parameter, optim.Optimizer optimizer, float gradient)
    {
        using (var value = tensor(new[] { gradient }))
        {
            parameter.grad = value;
        }

        scaler.Step(optimizer);
        scaler.Update();
    }
}

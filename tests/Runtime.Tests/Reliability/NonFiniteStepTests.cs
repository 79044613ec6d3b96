using System;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Reliability;

/// <summary>
/// A step whose gradients hold inf/NaN is skipped in every precision, not only with fp16 loss scaling:
/// bf16 and fp32 models have a disabled scaler, and their generated step still checks.
/// </summary>
public sealed class NonFiniteStepTests
{
    public static TheoryData<PrecisionKind> UnscaledKinds => new() { PrecisionKind.Bf16, PrecisionKind.Fp32 };

    [Theory]
    [MemberData(nameof(UnscaledKinds))]
    public void A_nan_batch_is_skipped_leaving_parameters_and_optimizer_state_bit_identical(PrecisionKind kind)
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(kind);
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
        var scaler = model.CreateGradScaler();
        Assert.False(scaler.IsEnabled);
        for (var step = 0; step < 3; step++)
        {
            Assert.True(model.TrainStep(x, y, optimizer, scaler).Stepped);
        }

        var parameters = Snapshots.Of(model);
        var optimizerState = Snapshots.Of((OptimizerHelper)optimizer);
        var poisoned = x.clone();
        poisoned[0, 0] = float.NaN;

        var skipped = model.TrainStep(poisoned, y, optimizer, scaler);

        Assert.False(skipped.Stepped);
        Assert.Equal(1, scaler.SkippedSteps);
        Assert.Equal(parameters, Snapshots.Of(model));
        Assert.Equal(optimizerState, Snapshots.Of((OptimizerHelper)optimizer));
        Assert.True(model.TrainStep(x, y, optimizer, scaler).Stepped);
        Assert.Equal(0, scaler.SkippedStepsAtMinScale);
    }

    [Fact]
    public void Non_finite_steps_that_keep_coming_end_in_the_stalled_exception_for_bf16_too()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.01);
        var scaler = model.CreateGradScaler();
        scaler.MaxSkippedStepsAtMinScale = 3;
        var poisoned = x.clone();
        poisoned[1, 2] = float.PositiveInfinity;

        Assert.False(model.TrainStep(poisoned, y, optimizer, scaler).Stepped);
        Assert.False(model.TrainStep(poisoned, y, optimizer, scaler).Stepped);
        var stalled = Assert.Throws<LossScaleStalledException>(() => model.TrainStep(poisoned, y, optimizer, scaler));

        Assert.Equal(3, stalled.SkippedSteps);
        Assert.Contains("no loss scaling in this precision", stalled.Message);
        Assert.Equal(3, scaler.SkippedSteps);
    }

    [Fact]
    public void A_disabled_scaler_used_by_hand_still_steps_unconditionally_like_pytorch()
    {
        var parameter = new Parameter(tensor(new[] { 1f }));
        var optimizer = optim.SGD(new[] { parameter }, 0.5);
        var scaler = new GradScaler(enabled: false);
        parameter.grad = tensor(new[] { 1f });

        Assert.True(scaler.Step(optimizer));
        scaler.Update();

        Assert.Equal(0.5f, parameter.item<float>());
        Assert.Equal(0, scaler.SkippedSteps);
    }
}

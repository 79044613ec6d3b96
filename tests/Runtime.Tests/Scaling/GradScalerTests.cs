using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.Scaling;

public sealed class GradScalerTests
{
    [Theory]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(double.NaN)]
    public void Non_finite_gradient_skips_the_step_leaving_parameters_and_adam_state_bit_identical(double poison)
    {
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(Sequential(Linear(4, 8), ReLU(), Linear(8, 2)), seed: 1);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var scaler = new GradScaler(initialScale: 1024, backoffFactor: 0.25);
        var (x, _) = RegressionData.Create();
        // A clean first step so Adam's moments and step count are non-trivial.
        scaler.Scale(model.call(x).square().mean()).backward();
        Assert.True(scaler.Step(optimizer));
        scaler.Update();
        optimizer.zero_grad();

        scaler.Scale(model.call(x).square().mean()).backward();
        using (no_grad())
        {
            model.parameters().Last().grad![0] = tensor(poison);
        }

        var parametersBefore = Snapshots.Of(model);
        var optimizerBefore = Snapshots.Of(optimizer);

        Assert.False(scaler.Step(optimizer));
        scaler.Update();

        Assert.Equal(parametersBefore, Snapshots.Of(model));
        Assert.Equal(optimizerBefore, Snapshots.Of(optimizer));
        Assert.Equal(1024 * 0.25, scaler.CurrentScale);
        Assert.Equal(1, scaler.SkippedSteps);
    }

    [Theory]
    [InlineData(3e38f, 3e38f, true)]                   // finite, but their fp32 sum overflows: a real step
    [InlineData(-3e38f, -3e38f, true)]
    [InlineData(3e38f, float.PositiveInfinity, false)]
    [InlineData(float.NegativeInfinity, float.PositiveInfinity, false)] // an inf and its opposite sum to NaN
    public void Only_an_inf_or_NaN_gradient_skips_the_step_however_large_the_finite_ones(float first, float second, bool steps)
    {
        var parameter = new Parameter(tensor(new[] { 1f, 1f }));
        var optimizer = optim.SGD(new[] { parameter }, 1e-40);
        var scaler = new GradScaler(initialScale: 1, growthInterval: 1000, minScale: 1.0 / 1024);
        parameter.grad = tensor(new[] { first, second });

        Assert.Equal(steps, scaler.StepReadingAlong(optimizer, null, tensor(2.5f), out var loss));
        scaler.Update();

        Assert.Equal(2.5, loss);
        Assert.Equal(steps ? 0 : 1, scaler.SkippedSteps);
        Assert.Equal(steps ? 1.0 : 0.5, scaler.CurrentScale);
    }

    [Fact]
    public void A_fused_optimizers_finite_gradients_whose_sum_overflows_still_step()
    {
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(Linear(4, 4), seed: 5);
        var optimizer = model.CreateAdamW(lr: 1e-3);
        model.call(ones(2, 4)).sum().backward();
        using (no_grad())
        {
            foreach (var parameter in model.parameters()) parameter.grad!.fill_(3e38f);
        }
        var before = Snapshots.Of(model);
        var scaler = new GradScaler(initialScale: 1);

        Assert.True(scaler.Step(optimizer));
        Assert.NotEqual(before, Snapshots.Of(model));
        Assert.All(model.parameters(), p => Assert.True(isfinite(p).all().item<bool>()));
    }

    [Fact]
    public void A_step_whose_optimizer_holds_no_gradient_steps_and_reports_the_loss()
    {
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 2);
        var (x, y) = RegressionData.Create();
        var expected = functional.mse_loss(model.call(x), y).item<float>();
        var unrelated = optim.SGD(new[] { new Parameter(zeros(3)) }, 0.1); // the loss reaches none of its parameters

        var result = model.TrainStep(x, y, unrelated, new GradScaler(initialScale: 1024));

        Assert.True(result.Stepped);
        Assert.Equal(expected, result.Loss, 1e-6);
    }

    [Fact]
    public void Scale_grows_after_exactly_growth_interval_clean_steps()
    {
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 8, growthFactor: 4, growthInterval: 3, maxScale: 1e6);

        var scales = Enumerable.Range(0, 7).Select(_ => Iterate(scaler, parameter, optimizer, gradient: 1f)).ToArray();

        Assert.Equal(new double[] { 8, 8, 32, 32, 32, 128, 128 }, scales);
        Assert.Equal(0, scaler.SkippedSteps);
    }

    [Fact]
    public void Overflow_resets_the_growth_count()
    {
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 64, growthInterval: 2);

        var scales = new[] { 1f, float.PositiveInfinity, 1f, 1f }.Select(g => Iterate(scaler, parameter, optimizer, g)).ToArray();

        Assert.Equal(new double[] { 64, 32, 32, 64 }, scales);
    }

    [Fact]
    public void Hysteresis_tolerates_overflows_before_backing_off_and_refills_on_growth()
    {
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 64, growthInterval: 2, hysteresis: 3);
        var inf = float.PositiveInfinity;

        var scales = new[] { inf, inf, inf, inf, 1f, 1f, inf, inf, inf }
            .Select(g => Iterate(scaler, parameter, optimizer, g)).ToArray();

        // Two overflows absorbed, the third backs off, the fourth too (hysteresis spent); growth refills it.
        Assert.Equal(new double[] { 64, 64, 32, 16, 16, 32, 32, 32, 16 }, scales);
        Assert.Equal(7, scaler.SkippedSteps);
    }

    [Fact]
    public void Scale_stays_within_min_and_max_clamps()
    {
        var (parameter, optimizer) = OneParameter();
        var shrinking = new GradScaler(initialScale: 8, backoffFactor: 0.5, minScale: 3);
        var growing = new GradScaler(initialScale: 8, growthFactor: 3, growthInterval: 1, maxScale: 50);

        var low = Enumerable.Range(0, 4).Select(_ => Iterate(shrinking, parameter, optimizer, float.NaN)).ToArray();
        var high = Enumerable.Range(0, 4).Select(_ => Iterate(growing, parameter, optimizer, 1f)).ToArray();

        Assert.Equal(new double[] { 4, 3, 3, 3 }, low);
        Assert.Equal(new double[] { 24, 50, 50, 50 }, high);
    }

    [Fact]
    public void Unscale_yields_the_gradients_of_an_unscaled_backward()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var (reference, referenceOptimizer) = SeededModel();
        functional.mse_loss(reference.call(x), y).backward();
        var (scaled, optimizer) = SeededModel();
        var scaler = new GradScaler(initialScale: 65536);

        scaler.Scale(functional.mse_loss(scaled.call(x), y)).backward();
        var scaledGradient = Snapshots.Values(scaled.parameters().First().grad!);
        scaler.Unscale(optimizer);

        Assert.NotEqual(Snapshots.Values(reference.parameters().First().grad!), scaledGradient);
        foreach (var (expected, actual) in reference.parameters().Zip(scaled.parameters()))
        {
            // A power-of-two scale is exact in binary floating point, so unscaling restores every bit.
            Assert.Equal(Snapshots.Values(expected.grad!), Snapshots.Values(actual.grad!));
        }
    }

    [Fact]
    public void Unscale_twice_in_one_step_throws_and_update_makes_it_legal_again()
    {
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler();
        SetGradient(parameter, 1f);

        scaler.Unscale(optimizer);
        Assert.Throws<InvalidOperationException>(() => scaler.Unscale(optimizer));
        Assert.True(scaler.Step(optimizer));
        Assert.Throws<InvalidOperationException>(() => scaler.Step(optimizer));
        Assert.Throws<InvalidOperationException>(() => scaler.Unscale(optimizer));
        scaler.Update();

        scaler.Unscale(optimizer);
    }

    [Fact]
    public void Update_without_a_step_or_unscale_throws()
    {
        Assert.Throws<InvalidOperationException>(() => new GradScaler().Update());
    }

    [Fact]
    public void Disabled_scaler_passes_everything_through()
    {
        var (parameter, optimizer) = OneParameter();
        var scaler = new GradScaler(initialScale: 1024, enabled: false);
        using var loss = tensor(3f);
        SetGradient(parameter, 1f);
        var before = parameter.item<float>();

        Assert.Same(loss, scaler.Scale(loss));
        scaler.Unscale(optimizer);
        scaler.Unscale(optimizer);
        Assert.Equal(1f, parameter.grad!.item<float>());
        Assert.True(scaler.Step(optimizer));
        scaler.Update();

        Assert.NotEqual(before, parameter.item<float>());
        Assert.Equal(1.0, scaler.CurrentScale);
        Assert.False(scaler.IsEnabled);
    }

    [Fact]
    public void State_round_trips_through_json_and_the_restored_scaler_continues_identically()
    {
        var (parameter, optimizer) = OneParameter();
        var original = new GradScaler(initialScale: 256, growthFactor: 3, backoffFactor: 0.25, growthInterval: 2, hysteresis: 2, minScale: 2, maxScale: 4096);
        var inf = float.PositiveInfinity;
        foreach (var g in new[] { 1f, inf, 1f, 1f, 1f })
        {
            Iterate(original, parameter, optimizer, g);
        }

        var json = JsonSerializer.Serialize(original.GetState());
        var restored = new GradScaler();
        restored.LoadState(JsonSerializer.Deserialize<GradScalerState>(json)!);

        Assert.Equal(original.GetState(), restored.GetState());
        var continuation = new[] { inf, inf, 1f, 1f, 1f, inf };
        var expected = continuation.Select(g => Iterate(original, parameter, optimizer, g)).ToArray();
        var actual = continuation.Select(g => Iterate(restored, parameter, optimizer, g)).ToArray();
        Assert.Equal(expected, actual);
        Assert.Equal(original.GetState(), restored.GetState());
    }

    public static IEnumerable<object[]> InvalidConfigurations() => new (Func<GradScaler> Create, string Parameter)[]
    {
        (() => new GradScaler(growthFactor: 1.0), "growthFactor"),
        (() => new GradScaler(growthFactor: 0.5), "growthFactor"),
        (() => new GradScaler(growthFactor: double.NaN), "growthFactor"),
        (() => new GradScaler(backoffFactor: 0), "backoffFactor"),
        (() => new GradScaler(backoffFactor: 1), "backoffFactor"),
        (() => new GradScaler(backoffFactor: -0.5), "backoffFactor"),
        (() => new GradScaler(growthInterval: 0), "growthInterval"),
        (() => new GradScaler(growthInterval: -5), "growthInterval"),
        (() => new GradScaler(initialScale: 0), "initialScale"),
        (() => new GradScaler(initialScale: -1), "initialScale"),
        (() => new GradScaler(initialScale: double.PositiveInfinity), "initialScale"),
        (() => new GradScaler(initialScale: 0.5, minScale: 1), "initialScale"),
        (() => new GradScaler(initialScale: 1e9), "initialScale"),
        (() => new GradScaler(minScale: 0), "minScale"),
        (() => new GradScaler(minScale: -2), "minScale"),
        (() => new GradScaler(initialScale: 8, minScale: 4, maxScale: 2), "maxScale"),
        (() => new GradScaler(hysteresis: 0), "hysteresis"),
    }.Select(c => new object[] { c.Create, c.Parameter });

    [Theory]
    [MemberData(nameof(InvalidConfigurations))]
    public void Invalid_configuration_throws_argument_exception_naming_the_parameter(Func<GradScaler> create, string parameter)
    {
        var exception = Assert.ThrowsAny<ArgumentException>(create);
        Assert.Equal(parameter, exception.ParamName);
    }

    [Fact]
    public void Loading_an_invalid_state_throws_and_keeps_the_scaler_usable()
    {
        var scaler = new GradScaler();
        var state = scaler.GetState();

        var exception = Assert.ThrowsAny<ArgumentException>(() => scaler.LoadState(state with { BackoffFactor = 2 }));
        Assert.Equal("backoffFactor", exception.ParamName);
        Assert.ThrowsAny<ArgumentException>(() => scaler.LoadState(state with { Scale = 1e12 }));
    }

    private static (Parameter Parameter, optim.Optimizer Optimizer) OneParameter()
    {
        var parameter = new Parameter(tensor(new[] { 1f }));
        return (parameter, optim.SGD(new[] { parameter }, 0.01));
    }

    /// <summary>One iteration with the (scaled) gradient set to <paramref name="gradient"/>; returns the scale after the update.</summary>
    private static double Iterate(GradScaler scaler, Parameter parameter, optim.Optimizer optimizer, float gradient)
    {
        SetGradient(parameter, gradient);
        scaler.Step(optimizer);
        scaler.Update();
        return scaler.CurrentScale;
    }

    private static void SetGradient(Parameter parameter, float value)
    {
        using var gradient = tensor(new[] { value });
        parameter.grad = gradient;
    }

    private static (Sequential Model, optim.Optimizer Optimizer) SeededModel()
    {
        var model = Deterministic.Initialize(Sequential(Linear(4, 8), ReLU(), Linear(8, 1)), seed: 3);
        return (model, optim.SGD(model.parameters(), 0.1));
    }
}

using System;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

public sealed class MasterWeightTests
{
    [Fact]
    public void Masters_stay_fp32_in_parameters_and_state_dict_while_forward_runs_on_half_shadows()
    {
        using var scope = NewDisposeScope();
        // Observes the half shadow in the layer's field: a widened layer holds its fp32 copy there instead.
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var (x, y) = RegressionData.Create();

        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(x, y, optimizer, model.CreateGradScaler());
        }

        Assert.All(model.Fc1WeightsSeen, seen => Assert.Equal(ScalarType.BFloat16, seen.Dtype));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(model.state_dict(), entry => Assert.Equal(ScalarType.Float32, entry.Value.dtype));
        Assert.Equal(ScalarType.Float32, model.Fc1.weight.dtype);
        Assert.Same(model.get_parameter("fc1.weight"), model.Fc1.weight);
    }

    [Fact]
    public void Shadows_are_refreshed_in_place_and_follow_the_masters_after_each_step()
    {
        using var scope = NewDisposeScope();
        // Observes the half shadow in the layer's field: a widened layer holds its fp32 copy there instead.
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        var (x, y) = RegressionData.Create();

        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(x, y, optimizer, model.CreateGradScaler());
        }

        model.call(x);
        var slot = model.State.Slots.Single(s => ReferenceEquals(s.Master, model.Fc1.weight) && s.Name == "weight");

        Assert.Single(model.Fc1WeightsSeen.Select(s => s.Handle).Distinct());
        Assert.Single(model.Fc1WeightsSeen.Select(s => s.DataPointer).Distinct());
        Assert.Equal(slot.Shadow.Handle, model.Fc1WeightsSeen[0].Handle);
        // The last forward saw the stepped master, rounded to bf16.
        Assert.Equal(Snapshots.Values(model.Fc1.weight.to(ScalarType.BFloat16)), Snapshots.Values(slot.Shadow));
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Master_gradients_persist_across_steps_zeroed_in_place_and_the_shadows_keep_none(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        var (x, y) = RegressionData.Create();
        var scaler = model.CreateGradScaler();

        model.TrainStep(x, y, optimizer, scaler);
        var masterGradient = Snapshots.DataPointer(model.Fc1.weight.grad!);
        var slot = model.State.Slots.First();
        Assert.Equal(kernel == HalfMatmulKernel.Widened, slot.Widened is not null);
        model.TrainStep(x, y, optimizer, scaler);

        Assert.Equal(masterGradient, Snapshots.DataPointer(model.Fc1.weight.grad!));
        Assert.All(model.parameters(), p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
        // The copy the layer computed with added its gradient into the master's during the backward (issue #17).
        Assert.Null(slot.ComputedWith.grad);
    }

    [Fact]
    public void Forward_scope_restores_the_masters_when_the_forward_throws()
    {
        using var scope = NewDisposeScope();
        // Observes the half shadow in the layer's field: a widened layer holds its fp32 copy there instead.
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, _) = RegressionData.Create();
        var master = model.Fc1.weight;
        model.ThrowInForward = true;

        Assert.Throws<InvalidOperationException>(() => model.call(x));

        Assert.Equal(ScalarType.BFloat16, model.Fc1WeightsSeen.Single().Dtype);
        Assert.Same(master, model.Fc1.weight);
        Assert.Same(master, model.get_parameter("fc1.weight"));
        model.ThrowInForward = false;
        Assert.Equal(ScalarType.Float32, model.call(x).dtype);
        Assert.Same(master, model.Fc1.weight);
    }

    [Fact]
    public void Container_given_a_half_kind_runs_its_linear_in_half_and_its_norm_in_fp32()
    {
        using var scope = NewDisposeScope();
        // Observes the half shadow in the layer's field: a widened layer holds its fp32 copy there instead.
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var model = new ContainerModel(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();

        model.call(x);

        Assert.Equal((ScalarType.BFloat16, ScalarType.Float32), model.DtypesSeen.Single());
        Assert.Equal(ScalarType.Float32, ((Linear)model.Body[0]).weight.dtype);
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Train_step_moves_the_gradients_of_nested_precision_models_into_their_masters(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new ContainerModel(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();

        model.AccumulateGradients(x, y, new GradScaler(enabled: false));

        Assert.All(model.parameters(), p => Assert.True(p.grad!.abs().sum().item<float>() > 0));
        Assert.All(model.Head.State.Slots, s => Assert.Null(s.ComputedWith.grad));
        Assert.Equal(ScalarType.Float32, model.Head.Fc1.weight.grad!.dtype);
    }

    [Fact]
    public void Embedding_runs_on_a_half_shadow_and_its_gradient_reaches_the_fp32_master()
    {
        using var scope = NewDisposeScope();
        var embedding = nn.Embedding(10, 4);
        var state = new MixedPrecisionState(embedding, new[] { new PrecisionLayer("embedding", embedding, PrecisionKind.Bf16) }, null);
        var master = embedding.get_parameter("weight")!;

        Tensor output;
        using (state.EnterForward())
        {
            output = embedding.call(tensor(new long[] { 1, 3, 3 }));
        }

        Assert.Equal(PolicyOverride.CpuActivation(ScalarType.BFloat16), output.dtype);
        output.to(ScalarType.Float32).sum().backward();
        state.MoveGradientsToMasters();

        Assert.Same(master, embedding.get_parameter("weight"));
        Assert.Equal(ScalarType.Float32, embedding.weight!.dtype);
        Assert.Equal(new[] { 0f, 1f, 0f, 2f }, Snapshots.Values(master.grad!.sum(1)).Take(4).Select(v => v / 4).ToArray());
    }

    [Fact]
    public void Layer_member_left_null_is_ignored()
    {
        using var scope = NewDisposeScope();
        // Observes the half shadow in the layer's field: a widened layer holds its fp32 copy there instead.
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var linear = nn.Linear(2, 2);
        var state = new MixedPrecisionState(linear, new[] { new PrecisionLayer("absent", null!, PrecisionKind.Fp16), new PrecisionLayer("linear", linear, PrecisionKind.Bf16) }, null);

        using (state.EnterForward())
        {
            Assert.Equal(ScalarType.BFloat16, linear.weight.dtype);
        }

        Assert.Equal(ScalarType.Float32, linear.weight.dtype);
        Assert.False(state.CreateGradScaler().IsEnabled);
    }

    [Fact]
    public void Hand_written_loop_moving_gradients_to_masters_matches_the_generated_train_step()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var (x, y) = RegressionData.Create();
        var generated = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 13);
        var handWritten = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 13);
        var generatedOptimizer = optim.Adam(generated.parameters(), lr: 0.01);
        var handOptimizer = optim.Adam(handWritten.parameters(), lr: 0.01);
        var generatedScaler = new GradScaler(initialScale: 256);
        var handScaler = new GradScaler(initialScale: 256);

        for (var step = 0; step < 3; step++)
        {
            generated.TrainStep(x, y, generatedOptimizer, generatedScaler);

            handOptimizer.zero_grad();
            handScaler.Scale(handWritten.Loss(handWritten.call(x), y)).backward();
            Assert.Equal(0f, GradientMagnitude(handWritten.Fc1.weight));
            MixedPrecisionState.MoveGradientsToMasters(handWritten);
            Assert.True(GradientMagnitude(handWritten.Fc1.weight) > 0);
            handScaler.Step(handOptimizer);
            handScaler.Update();
        }

        Assert.Equal(Snapshots.Of(generated), Snapshots.Of(handWritten));
        Assert.DoesNotContain(logger.Messages, m => m.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public void Forgetting_to_move_gradients_in_a_hand_written_loop_is_reported_once()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();

        for (var step = 0; step < 3; step++)
        {
            model.Loss(model.call(x), y).backward();
        }

        var warning = Assert.Single(logger.Messages, m => m.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains("MoveGradientsToMasters", warning.Message);
        Assert.Contains(nameof(TinyMlp), warning.Message);
    }

    [Fact]
    public void Optimizer_built_on_the_shadows_is_rejected()
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();
        optim.Optimizer? misbuilt = null;
        using (model.State.EnterForward())
        {
            misbuilt = optim.SGD(new[] { model.Fc1.weight }, 0.1);
        }

        var scaler = model.CreateGradScaler();
        model.AccumulateGradients(x, y, scaler);
        Assert.Throws<InvalidOperationException>(() => model.ApplyGradients(misbuilt, scaler));
    }

    [Fact]
    public void Gradient_accumulation_over_micro_batches_equals_one_full_batch_step()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create(samples: 32);
        var whole = Deterministic.Initialize(new TinyMlp(PrecisionKind.Fp32), seed: 5);
        var accumulated = Deterministic.Initialize(new TinyMlp(PrecisionKind.Fp32), seed: 5);
        var wholeOptimizer = optim.SGD(whole.parameters(), 0.1);
        var accumulatedOptimizer = optim.SGD(accumulated.parameters(), 0.1);
        var scaler = new GradScaler(initialScale: 1024);
        var accumulatedScaler = new GradScaler(initialScale: 1024);

        var wholeResult = whole.TrainStep(x, y, wholeOptimizer, scaler);
        foreach (var part in Enumerable.Range(0, 4))
        {
            accumulated.AccumulateGradients(x[TensorIndex.Slice(part * 8, part * 8 + 8)], y[TensorIndex.Slice(part * 8, part * 8 + 8)], accumulatedScaler, 0.25);
        }

        var accumulatedResult = accumulated.ApplyGradients(accumulatedOptimizer, accumulatedScaler);

        Assert.True(accumulatedResult.Stepped);
        Assert.Equal(wholeResult.Scale, accumulatedResult.Scale);
        Assert.Equal(wholeResult.Loss, accumulatedResult.Loss, 1e-5);
        foreach (var (a, b) in whole.parameters().Zip(accumulated.parameters()))
        {
            Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-6));
        }
    }

    [Fact]
    public void An_accumulated_batch_reports_the_weighted_loss_sum_once_and_starts_the_next_batch_from_zero()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create(samples: 16);
        var model = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 6);
        var optimizer = optim.SGD(model.parameters(), 0.0); // lr 0: every batch sees the same weights
        var scaler = new GradScaler(enabled: false);
        var (first, second) = (TensorIndex.Slice(0, 8), TensorIndex.Slice(8, 16));
        double LossOf(TensorIndex part) => model.TrainStep(x[part], y[part], optimizer, scaler).Loss;
        var (firstLoss, secondLoss) = (LossOf(first), LossOf(second));

        model.AccumulateGradients(x[first], y[first], scaler, 0.25);
        model.AccumulateGradients(x[second], y[second], scaler, 0.75);
        var accumulated = model.ApplyGradients(optimizer, scaler);
        var nothingAccumulated = model.ApplyGradients(optimizer, scaler);
        model.AccumulateGradients(x[first], y[first], scaler, 0.5);
        var accumulatedThenStepped = model.TrainStep(x[second], y[second], optimizer, scaler);

        Assert.Equal(0.25 * firstLoss + 0.75 * secondLoss, accumulated.Loss, 1e-6);
        Assert.Equal(0.0, nothingAccumulated.Loss);
        Assert.Equal(0.5 * firstLoss + secondLoss, accumulatedThenStepped.Loss, 1e-6);
    }

    [Fact]
    public void Clipping_after_unscale_matches_clipping_an_fp32_backward()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var model = Deterministic.Initialize(new TinyMlp(PrecisionKind.Fp32), seed: 9);
        var reference = Deterministic.Initialize(new TinyMlp(PrecisionKind.Fp32), seed: 9);
        var optimizer = optim.SGD(model.parameters(), 1.0);
        var referenceOptimizer = optim.SGD(reference.parameters(), 1.0);

        var result = model.TrainStep(x, y, optimizer, new GradScaler(initialScale: 4096), maxGradNorm: 0.05);
        reference.Loss(reference.call(x), y).backward();
        var norm = nn.utils.clip_grad_norm_(reference.parameters(), 0.05);
        referenceOptimizer.step();

        Assert.True(norm > 0.05, $"the gradient norm {norm} must exceed the limit for clipping to matter");
        Assert.True(result.Stepped);
        foreach (var (expected, actual) in reference.parameters().Zip(model.parameters()))
        {
            Assert.True(expected.allclose(actual, rtol: 1e-5, atol: 1e-7));
        }
    }

    [Fact]
    public void Resuming_from_a_checkpoint_mid_run_continues_bit_identically()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var model = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 11);
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var scaler = new GradScaler(initialScale: 128, growthInterval: 2);
        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(x, y, optimizer, scaler);
        }

        var modelCheckpoint = Snapshots.Of(model);
        var optimizerCheckpoint = Snapshots.Of(optimizer);
        var scalerCheckpoint = scaler.GetState();
        var original = Continue(model, optimizer, scaler, x, y);

        var resumed = Deterministic.Initialize(new TinyMlp(PrecisionKind.Bf16), seed: 999);
        resumed.load(new System.IO.MemoryStream(modelCheckpoint));
        var resumedOptimizer = optim.Adam(resumed.parameters(), lr: 0.01);
        resumedOptimizer.load_state_dict(new System.IO.BinaryReader(new System.IO.MemoryStream(optimizerCheckpoint)));
        var resumedScaler = new GradScaler();
        resumedScaler.LoadState(scalerCheckpoint);
        var continued = Continue(resumed, resumedOptimizer, resumedScaler, x, y);

        Assert.Equal(original.Results, continued.Results);
        Assert.Equal(original.Model, continued.Model);
        Assert.Equal(original.Optimizer, continued.Optimizer);
        Assert.Equal(scaler.GetState(), resumedScaler.GetState());
        Assert.NotEqual(scalerCheckpoint.Scale, scaler.CurrentScale);
    }

    [Fact]
    public void Real_fp16_overflow_in_train_step_skips_the_step_and_backs_the_scale_off()
    {
        using var scope = NewDisposeScope();
        using var realFp16 = PolicyOverride.CpuFp16(ScalarType.Float16);
        var (x, y) = RegressionData.Create();
        // At 2^24 the scaled output gradient (~1e6) exceeds fp16's 65504: the half backward overflows.
        var model = new TinyMlp(PrecisionKind.Fp16, lossScale: LossScaleOptions.Default with { InitialScale = 16777216 });
        var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var scaler = model.CreateGradScaler();
        var parametersBefore = Snapshots.Of(model);
        var optimizerBefore = Snapshots.Of(optimizer);

        var result = model.TrainStep(x, y, optimizer, scaler);

        Assert.False(result.Stepped);
        Assert.Equal(8388608, result.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        Assert.True(result.Loss > 0 && double.IsFinite(result.Loss));
        Assert.Equal(parametersBefore, Snapshots.Of(model));
        Assert.Equal(optimizerBefore, Snapshots.Of(optimizer));
        Assert.All(model.parameters(), p => Assert.Equal(0f, p.grad!.abs().max().item<float>()));
    }

    private static float GradientMagnitude(Tensor parameter) => parameter.grad is { } g ? g.abs().sum().item<float>() : 0f;

    private static (TrainStepResult[] Results, byte[] Model, byte[] Optimizer) Continue(TinyMlp model, optim.Optimizer optimizer, GradScaler scaler, Tensor x, Tensor y)
    {
        var results = Enumerable.Range(0, 4).Select(_ => model.TrainStep(x, y, optimizer, scaler)).ToArray();
        return (results, Snapshots.Of(model), Snapshots.Of((OptimizerHelper)optimizer));
    }
}

using System;
using System.IO;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>Issue #15: the masters, shadows and gradients live in flat buffers and every TorchSharp entry point still works.</summary>
public sealed class FlatBufferTests
{
    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Parameters_keep_their_identity_and_become_views_of_one_buffer_half_layers_first(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var before = model.named_parameters().ToList();
        var values = before.Select(p => Snapshots.Values(p.parameter)).ToList();
        var optimizer = optim.AdamW(model.parameters()); // built before the buffers exist

        model.call(RegressionData.Create().X);

        var group = Assert.Single(model.State.Flat!.Groups);
        var baseAddress = Snapshots.DataPointer(group.Masters);
        Assert.Equal(before.Sum(p => p.parameter.numel()), group.Masters.numel());
        foreach (var ((name, parameter), value) in before.Zip(values))
        {
            Assert.Same(parameter, model.get_parameter(name));
            Assert.Equal(value, Snapshots.Values(parameter));
            Assert.True(group.TryLocate(parameter, out var entry), name);
            Assert.Equal(baseAddress + entry.Offset * 4, Snapshots.DataPointer(parameter));
        }

        Assert.All(optimizer.parameters(), p => Assert.True(group.TryLocate(p, out _)));
        // fc1's and fc2's masters first (the shadows mirror them), the LayerNorm's last.
        var halfCount = group.Shadows.Single().Count;
        Assert.Equal(model.Fc1.parameters().Concat(model.Fc2.parameters()).Sum(p => p.numel()), halfCount);
        Assert.All(model.Norm.parameters(), p => Assert.True(group.TryLocate(p, out var e) && e.Offset >= halfCount));
        var segment = group.Shadows.Single();
        var halfBase = Snapshots.DataPointer(segment.Half);
        foreach (var slot in model.State.Slots)
        {
            Assert.True(group.TryLocate(slot.Master, out var entry));
            Assert.Equal(halfBase + (entry.Offset - segment.Offset) * 2, Snapshots.DataPointer(slot.Shadow));
            Assert.Equal(Snapshots.Values(slot.Master.to(ScalarType.BFloat16)), Snapshots.Values(slot.Shadow));
            Assert.Equal(kernel == HalfMatmulKernel.Widened, slot.Widened is not null);
            if (slot.Widened is not null)
            {
                Assert.Equal(Snapshots.Values(slot.Shadow), Snapshots.Values(slot.Widened));
            }
        }
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Gradients_are_views_of_flat_buffers_and_the_shadows_follow_a_step(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        var (x, y) = RegressionData.Create();

        model.AccumulateGradients(x, y, model.CreateGradScaler());
        var group = model.State.Flat!.Groups.Single();
        var gradientBase = Snapshots.DataPointer(group.Gradients!);
        foreach (var entry in group.Entries)
        {
            Assert.Equal(gradientBase + entry.Offset * 4, Snapshots.DataPointer(entry.Parameter.grad!));
        }

        Assert.True(group.Gradients!.abs().sum().item<float>() > 0);
        model.ApplyGradients(optimizer, model.CreateGradScaler());
        Assert.Equal(0, group.Gradients!.abs().sum().item<float>());
        model.call(x);
        var segment = group.Shadows.Single();
        Assert.Equal(Snapshots.Values(group.Masters.narrow(0, segment.Offset, segment.Count).to(ScalarType.BFloat16)), Snapshots.Values(segment.Half));
        if (segment.Widened is not null)
        {
            Assert.Equal(Snapshots.Values(segment.Half.narrow(0, 0, segment.WidenedCount)), Snapshots.Values(segment.Widened));
        }
    }

    /// <summary>
    /// Issue #17 relies on libtorch accumulating into an existing gradient in place, across dtypes (a bf16 shadow's
    /// gradient is an fp32 view of its master's): should it ever replace the gradient instead, this fails, rather
    /// than the generated step dropping gradients.
    /// </summary>
    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void The_generated_backward_adds_the_half_gradients_into_the_fp32_master_gradients_in_place(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();
        var loss = model.Loss(model.call(x), y);
        var flat = model.State.Flat!;

        flat.AttachShadowGradients();
        loss.backward();

        foreach (var slot in model.State.Slots)
        {
            Assert.Equal(ScalarType.Float32, slot.ComputedWith.grad!.dtype);
            Assert.Equal(Snapshots.DataPointer(slot.Master.grad!), Snapshots.DataPointer(slot.ComputedWith.grad!));
            Assert.True(slot.Master.grad!.abs().sum().item<float>() > 0, slot.Name);
        }

        flat.ReleaseShadowGradients();
        Assert.All(model.State.Slots, s => Assert.Null(s.ComputedWith.grad));
    }

    /// <summary>
    /// The hand-written loop's backward leaves autograd's half gradient on each shadow, which the move rounds into
    /// the master's fp32 gradient (the arithmetic of the persistent half-gradient buffer before issue #17); the
    /// generated step accumulates the same half gradient straight into the fp32 master gradient. Bit-identical.
    /// </summary>
    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void A_hand_written_loop_that_clears_gradients_trains_exactly_like_the_generated_step(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var generated = new TinyMlp(PrecisionKind.Bf16);
        var handWritten = new TinyMlp(PrecisionKind.Bf16);
        handWritten.load_state_dict(generated.state_dict());
        var (x, y) = RegressionData.Create();
        var generatedOptimizer = optim.Adam(generated.parameters(), 0.01);
        var handOptimizer = optim.Adam(handWritten.parameters(), 0.01);
        var scaler = new GradScaler(initialScale: 256);
        var handScaler = new GradScaler(initialScale: 256);

        for (var step = 0; step < 4; step++)
        {
            generated.TrainStep(x, y, generatedOptimizer, scaler);

            handWritten.zero_grad(); // TorchSharp's Module.zero_grad sets every gradient to null
            handScaler.Scale(handWritten.Loss(handWritten.call(x), y)).backward();
            MixedPrecisionState.MoveGradientsToMasters(handWritten);
            handScaler.Step(handOptimizer);
            handScaler.Update();

            // Neither keeps a gradient on a shadow or widened copy between steps.
            Assert.All(generated.State.Slots.Concat(handWritten.State.Slots), s => Assert.Null(s.ComputedWith.grad));
        }

        foreach (var (name, parameter) in generated.named_parameters())
        {
            Assert.Equal(Snapshots.Values(parameter), Snapshots.Values(handWritten.get_parameter(name)!));
        }
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Accumulated_micro_batches_add_their_gradients_in_fp32_and_match_the_summed_loss(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var (x1, y1) = RegressionData.Create(seed: 7);
        var (x2, y2) = RegressionData.Create(seed: 8);
        var scaler = new GradScaler(enabled: false);
        var first = new TinyMlp(PrecisionKind.Bf16);
        var second = Twin(first);
        var both = Twin(first);
        var summed = Twin(first);

        first.AccumulateGradients(x1, y1, scaler, 0.5);
        second.AccumulateGradients(x2, y2, scaler, 0.5);
        both.AccumulateGradients(x1, y1, scaler, 0.5);
        both.AccumulateGradients(x2, y2, scaler, 0.5);
        // One backward of the summed loss, hand-written: autograd sums the two micro-batches' half gradients first.
        (summed.Loss(summed.call(x1), y1) * 0.5 + summed.Loss(summed.call(x2), y2) * 0.5).backward();
        MixedPrecisionState.MoveGradientsToMasters(summed);

        foreach (var (name, parameter) in both.named_parameters())
        {
            var expected = first.get_parameter(name)!.grad! + second.get_parameter(name)!.grad!;
            Assert.Equal(Snapshots.Values(expected), Snapshots.Values(parameter.grad!));
            Assert.True(allclose(parameter.grad!, summed.get_parameter(name)!.grad!, rtol: 1e-2, atol: 1e-4), name);
        }
    }

    private static TinyMlp Twin(TinyMlp model)
    {
        var twin = new TinyMlp(model.Kind);
        twin.load_state_dict(model.state_dict());
        return twin;
    }

    [Fact]
    public void Save_load_and_load_state_dict_write_into_the_flat_buffer_and_the_next_forward_sees_them()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var (x, y) = RegressionData.Create();
        var trained = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(trained.parameters(), 0.1);
        for (var step = 0; step < 3; step++)
        {
            trained.TrainStep(x, y, optimizer, trained.CreateGradScaler());
        }

        var expected = trained.call(x);
        using var stream = new MemoryStream();
        trained.save(stream); // closes the stream
        var bytes = stream.ToArray();

        var loaded = new TinyMlp(PrecisionKind.Bf16);
        loaded.call(x); // buffers built before the load
        var addresses = loaded.parameters().Select(Snapshots.DataPointer).ToList();
        loaded.load(new BinaryReader(new MemoryStream(bytes)));
        MixedPrecisionState.MastersChanged(loaded); // what the generated load override does
        Assert.Equal(addresses, loaded.parameters().Select(Snapshots.DataPointer));
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(loaded.call(x)));

        var fromStateDict = new TinyMlp(PrecisionKind.Bf16);
        fromStateDict.call(x);
        fromStateDict.load_state_dict(trained.state_dict());
        MixedPrecisionState.MastersChanged(fromStateDict);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(fromStateDict.call(x)));
        Assert.All(fromStateDict.state_dict(), entry => Assert.Equal(ScalarType.Float32, entry.Value.dtype));
    }

    [Theory]
    [InlineData(PrecisionKind.Bf16)]
    [InlineData(PrecisionKind.Fp32)] // no half layer, so no shadow slot to notice the move: the flat layout must
    public void Moving_the_model_to_another_dtype_and_back_rebuilds_the_buffers_and_training_goes_on(PrecisionKind kind)
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(kind);
        var (x, y) = RegressionData.Create();
        model.call(x);
        var first = model.State.Flat!;

        model.to(ScalarType.Float64); // replaces every Parameter object, twice
        model.to(ScalarType.Float32);
        var optimizer = model.CreateAdamW(lr: 0.01);
        var losses = Enumerable.Range(0, 20).Select(_ => model.TrainStep(x, y, optimizer, model.CreateGradScaler()).Loss).ToList();
        Assert.False(first.IsCurrent);
        Assert.Equal(ScalarType.Float32, model.State.Flat!.Groups.Single().Masters.dtype);
        Assert.All(model.parameters(), p => Assert.True(model.State.Flat!.Groups.Single().TryLocate(p, out _)));
        Assert.True(losses[^1] < losses[0] / 2, $"loss {losses[0]} -> {losses[^1]}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_frozen_layer_stays_untouched_by_weight_decay_with_TorchSharp_and_fused_AdamW(bool fused)
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        foreach (var parameter in model.Fc1.parameters())
        {
            parameter.requires_grad_(false);
        }

        var frozen = model.Fc1.parameters().Select(Snapshots.Values).ToList();
        var trained = Snapshots.Values(model.Fc2.weight);
        var optimizer = fused ? (optim.Optimizer)model.CreateAdamW(lr: 0.01, weightDecay: 0.5) : optim.AdamW(model.parameters(), lr: 0.01, weight_decay: 0.5);
        var (x, y) = RegressionData.Create();

        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(x, y, optimizer, model.CreateGradScaler());
        }

        Assert.Equal(frozen, model.Fc1.parameters().Select(Snapshots.Values));
        Assert.All(model.Fc1.parameters(), p => Assert.Null(p.grad));
        Assert.NotEqual(trained, Snapshots.Values(model.Fc2.weight));
    }

    [Fact]
    public void A_nested_precision_model_flattens_its_own_parameters_and_the_outer_one_the_rest()
    {
        using var scope = NewDisposeScope();
        var model = new ContainerModel(PrecisionKind.Bf16);
        model.call(randn(8, 4));

        var outer = model.State.Flat!.Groups.Single();
        var inner = model.Head.State.Flat!.Groups.Single();
        Assert.All(model.Head.parameters(), p => Assert.True(inner.TryLocate(p, out _) && !outer.TryLocate(p, out _)));
        Assert.All(model.Body.parameters(), p => Assert.True(outer.TryLocate(p, out _)));
        Assert.Equal(model.parameters().Sum(p => p.numel()), outer.Masters.numel() + inner.Masters.numel());
    }
}

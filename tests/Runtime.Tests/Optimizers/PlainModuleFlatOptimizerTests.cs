using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Module = TorchSharp.torch.nn.Module;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl.Runtime.Tests.Optimizers;

/// <summary>
/// Issue #15: the fused optimizers flatten a plain fp32 module's parameters into buffers of their own, so it steps in
/// a few kernels too, and it still behaves as a TorchSharp module trained by TorchSharp's AdamW/SGD.
/// </summary>
public sealed class PlainModuleFlatOptimizerTests
{
    private const int Steps = 100;

    [Fact]
    public void Fused_AdamW_with_two_groups_flattens_a_plain_module_and_matches_TorchSharp_AdamW_over_100_steps()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var parameters = flat.parameters().ToList();
        var fused = flat.CreateAdamW(new[]
        {
            new AdamW.ParamGroup(flat.parameters().Where(p => p.dim() >= 2), lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1),
            new AdamW.ParamGroup(flat.parameters().Where(p => p.dim() < 2), lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0),
        });
        var torchSharp = optim.AdamW(new[]
        {
            new AdamW.ParamGroup(reference.parameters().Where(p => p.dim() >= 2), lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1),
            new AdamW.ParamGroup(reference.parameters().Where(p => p.dim() < 2), lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0),
        });

        var losses = Train(flat, fused, reference, torchSharp, Steps);

        // Matrices before vectors in the optimizer's one buffer: two ranges, no parameter updated alone.
        var layout = Layout(fused);
        Assert.Equal(2, layout.Ranges.Count);
        Assert.Empty(layout.Loose);
        var group = layout.Flats.Single().Groups.Single();
        Assert.Equal(parameters.Select(p => p.Handle), flat.parameters().Select(p => p.Handle));
        Assert.All(flat.parameters(), p => Assert.True(group.TryLocate(p, out _)));
        Assert.Equal(flat.parameters().Sum(p => p.numel()), group.Masters.numel());
        Assert.All(losses, pair => Assert.Equal(pair.Reference, pair.Fused, 5));
        AssertClose(flat, reference);
    }

    [Theory]
    [InlineData(0.9, 0.01, true)]
    [InlineData(0.5, 0.0, false)]
    [InlineData(0.0, 0.001, false)]
    public void Fused_SGD_on_a_plain_module_matches_TorchSharp_SGD_over_100_steps(double momentum, double weightDecay, bool nesterov)
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var fused = flat.CreateSgd(lr: 0.01, momentum, weightDecay, nesterov);
        var torchSharp = optim.SGD(reference.parameters(), 0.01, momentum, weight_decay: weightDecay, nesterov: nesterov);

        var losses = Train(flat, fused, reference, torchSharp, Steps);

        Assert.All(losses, pair => Assert.True(double.IsFinite(pair.Reference), "the reference diverged: compare at a lower rate"));
        Assert.Single(Layout(fused).Ranges);
        AssertClose(flat, reference);
    }

    [Fact]
    public void Module_zero_grad_clears_the_gradient_views_and_the_next_step_puts_them_back()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var fused = flat.CreateAdamW(lr: 0.01);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);

        Train(flat, fused, reference, torchSharp, steps: 3);
        // Module.zero_grad() sets every gradient to null: the backward then creates new, unflattened ones.
        Train(flat, fused, reference, torchSharp, steps: 10, clear: model => model.zero_grad());

        var group = Layout(fused).Flats.Single().Groups.Single();
        Assert.All(flat.parameters(), p => Assert.Equal(
            Snapshots.DataPointer(group.Gradients!) + group.Entries.Single(e => e.Parameter.Handle == p.Handle).Offset * 4,
            Snapshots.DataPointer(p.grad!)));
        AssertClose(flat, reference);
    }

    [Fact]
    public void A_frozen_parameter_is_left_out_of_the_buffers_and_untouched_like_TorchSharp_leaves_it()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        foreach (var model in new[] { flat, reference })
        {
            model.get_parameter("fc1.weight")!.requires_grad_(false);
        }

        var frozen = Snapshots.Values(flat.get_parameter("fc1.weight")!);
        var fused = flat.CreateAdamW(lr: 0.01, weightDecay: 0.5);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.5);

        Train(flat, fused, reference, torchSharp, steps: 10);

        Assert.Equal(frozen, Snapshots.Values(flat.get_parameter("fc1.weight")!));
        Assert.Single(Layout(fused).Loose);
        Assert.Null(flat.get_parameter("fc1.weight")!.grad);
        AssertClose(flat, reference);
    }

    [Fact]
    public void A_second_fused_optimizer_over_the_same_module_takes_its_parameters_and_the_first_takes_them_back()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var (first, second) = (flat.CreateSgd(lr: 0.01), flat.CreateSgd(lr: 0.01));
        var torchSharp = optim.SGD(reference.parameters(), 0.01);

        // Alternating: each step moves the parameters into the buffers of the optimizer that steps.
        for (var step = 0; step < 3; step++)
        {
            Train(flat, first, reference, torchSharp, steps: 1);
            Assert.All(flat.parameters(), p => Assert.True(Holds(first, p)));
            Train(flat, second, reference, torchSharp, steps: 1);
            Assert.All(flat.parameters(), p => Assert.True(Holds(second, p)));
        }

        AssertClose(flat, reference);

        static bool Holds(Optimizer optimizer, Parameter parameter)
        {
            var group = Layout(optimizer).Flats.Single().Groups.Single();
            return group.TryLocate(parameter, out var entry)
                && Snapshots.DataPointer(parameter) == Snapshots.DataPointer(group.Masters) + entry.Offset * 4;
        }
    }

    [Fact]
    public void State_dict_load_state_dict_save_and_load_read_and_write_the_flat_buffer()
    {
        using var scope = NewDisposeScope();
        var (flat, _) = TwinModels();
        var fused = flat.CreateAdamW(lr: 0.01);
        var (x, y) = RegressionData.Create();
        Step(flat, fused, x, y);
        var group = Layout(fused).Flats.Single().Groups.Single();

        // state_dict reads the buffer; load_state_dict and load write into it (the Parameter objects stay).
        Assert.All(flat.state_dict(), entry => Assert.Equal(
            Snapshots.Values(entry.Value), Snapshots.Values(Slice(group, flat.get_parameter(entry.Key)!))));
        var other = Plain();
        flat.load_state_dict(other.state_dict());
        Assert.Equal(Snapshots.Values(other.get_parameter("fc2.weight")!), Snapshots.Values(Slice(group, flat.get_parameter("fc2.weight")!)));

        var third = Plain();
        var saved = new MemoryStream();
        third.save(saved); // closes the stream
        flat.load(new MemoryStream(saved.ToArray()));
        Assert.Equal(Snapshots.Values(third.get_parameter("fc1.weight")!), Snapshots.Values(Slice(group, flat.get_parameter("fc1.weight")!)));
        Assert.All(flat.parameters(), p => Assert.True(group.TryLocate(p, out _)));

        // The next step updates the loaded values, in the same buffer.
        var reference = Plain();
        reference.load_state_dict(flat.state_dict());
        Step(flat, fused, x, y);
        Assert.Same(group, Layout(fused).Flats.Single().Groups.Single());
        Assert.NotEqual(Snapshots.Values(reference.get_parameter("fc1.weight")!), Snapshots.Values(flat.get_parameter("fc1.weight")!));
    }

    [Theory]
    [InlineData("adamw", false)]
    [InlineData("sgd", false)]
    [InlineData("adamw", true)]
    [InlineData("sgd", true)]
    public void A_plain_module_and_its_fused_optimizer_resume_bit_identically_from_a_TrainingCheckpoint(string kind, bool loadAfterFirstStep)
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        Optimizer Create(Module model) => kind == "adamw" ? model.CreateAdamW(lr: 0.01) : model.CreateSgd(lr: 0.01, momentum: 0.9, nesterov: true);
        var path = Path.Combine(Path.GetTempPath(), $"plain-flat-{Guid.NewGuid():N}{TrainingCheckpoint.Extension}");
        try
        {
            var model = Plain();
            var optimizer = Create(model);
            for (var step = 0; step < 5; step++)
            {
                Step(model, optimizer, x, y);
            }

            TrainingCheckpoint.Save(path, model, optimizer, new GradScaler(enabled: false), step: 5);
            var expected = Enumerable.Range(0, 5).Select(_ => Step(model, optimizer, x, y)).ToList();

            // Before its first step the resumed optimizer holds TorchSharp's per-parameter state (it moves into the flat
            // buffers at the first step); after a zero_grad, flat buffers already (the load writes into them).
            var resumed = Plain();
            var resumedOptimizer = Create(resumed);
            if (loadAfterFirstStep)
            {
                resumedOptimizer.zero_grad();
            }

            TrainingCheckpoint.Load(path, resumed, resumedOptimizer, new GradScaler(enabled: false));
            var actual = Enumerable.Range(0, 5).Select(_ => Step(resumed, resumedOptimizer, x, y)).ToList();

            Assert.Equal(expected, actual);
            Assert.Equal(Snapshots.Of(model), Snapshots.Of(resumed));
            Assert.Equal(Snapshots.Of((OptimizerHelper)optimizer), Snapshots.Of((OptimizerHelper)resumedOptimizer));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void To_another_dtype_and_back_gives_new_parameters_that_a_new_fused_optimizer_flattens_and_trains_like_TorchSharp()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var (flat, reference) = TwinModels();
        var first = flat.CreateAdamW(lr: 0.01);
        var (x, y) = RegressionData.Create();
        Step(flat, first, x, y);
        var before = flat.parameters().ToList();

        // The same dtype and device keep the Parameter objects, and so the buffer.
        flat.to(ScalarType.Float32).to(DeviceType.CPU);
        Assert.Equal(before.Select(p => p.Handle), flat.parameters().Select(p => p.Handle));

        // Another dtype gives new ones (TorchSharp disposes the old), in fp64 and back: a new optimizer flattens them.
        flat.to(ScalarType.Float64);
        reference.to(ScalarType.Float64).load_state_dict(flat.state_dict());
        var wide = flat.CreateAdamW(lr: 0.01);
        var wideReference = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);
        Train(flat, wide, reference, wideReference, steps: 10);
        Assert.Equal(ScalarType.Float64, Layout(wide).Flats.Single().Groups.Single().Masters.dtype);
        AssertClose(flat, reference);

        flat.to(ScalarType.Float32);
        reference.to(ScalarType.Float32);
        var fused = flat.CreateAdamW(lr: 0.01);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);
        Train(flat, fused, reference, torchSharp, steps: 10);
        Assert.All(flat.parameters(), p => Assert.True(Layout(fused).Flats.Single().Groups.Single().TryLocate(p, out _)));
        AssertClose(flat, reference);
    }

    [Fact]
    public void A_precision_model_whose_optimizer_flattened_it_first_builds_its_own_buffers_at_its_first_forward()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        var flat = new TinyMlp(PrecisionKind.Bf16);
        var reference = new TinyMlp(PrecisionKind.Bf16);
        reference.load_state_dict(flat.state_dict());
        var fused = flat.CreateAdamW(lr: 0.01);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);
        var (x, y) = RegressionData.Create();

        // Before the first forward the optimizer's own buffer holds every parameter.
        fused.zero_grad();
        var own = Layout(fused).Flats.Single();
        Assert.All(flat.parameters(), p => Assert.True(own.TryLocate(p, out _, out _)));

        for (var step = 0; step < 10; step++)
        {
            var a = flat.TrainStep(x, y, fused, new GradScaler(enabled: false));
            var b = reference.TrainStep(x, y, torchSharp, new GradScaler(enabled: false));
            Assert.Equal(b.Loss, a.Loss, 5);
        }

        // The first forward moved them all into the model's buffers: the optimizer keeps none of its own.
        Assert.Same(flat.State.Flat, Layout(fused).Flats.Single());
        Assert.All(flat.parameters(), p => Assert.True(flat.State.Flat!.TryLocate(p, out _, out _)));
        Assert.False(own.IsCurrent);
        AssertClose(flat, reference);
    }

    [Fact]
    public void A_plain_module_around_a_precision_model_is_flattened_beside_the_models_own_buffers()
    {
        using var threads = new SingleThreadedTorch();
        using var scope = NewDisposeScope();
        Sequential Create() => Sequential(("mlp", new TinyMlp(PrecisionKind.Bf16)), ("out", Linear(1, 1)));
        var (flat, reference) = (Create(), Create());
        reference.load_state_dict(flat.state_dict());
        var fused = flat.CreateAdamW(lr: 0.01);
        var torchSharp = optim.AdamW(reference.parameters(), lr: 0.01, weight_decay: 0.01);
        var (x, y) = RegressionData.Create();

        for (var step = 0; step < 10; step++)
        {
            // The hand-written loop of a precision model inside a plain one: its half gradients are moved after backward.
            Assert.Equal(MixedStep(reference, torchSharp, x, y), MixedStep(flat, fused, x, y), 5);
        }

        var mlp = (TinyMlp)flat[0];
        var inner = mlp.State.Flat!;
        var own = Layout(fused).Flats.Single(f => !ReferenceEquals(f, inner));
        Assert.All(mlp.parameters(), p => Assert.True(inner.TryLocate(p, out _, out _)));
        Assert.All(((Module)flat[1]).parameters(), p => Assert.True(own.TryLocate(p, out _, out _)));
        Assert.Equal(2, own.Groups.Single().Entries.Count);
        Assert.Empty(Layout(fused).Loose);
        AssertClose(flat, reference);

        static double MixedStep(Sequential model, Optimizer optimizer, Tensor x, Tensor y)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = functional.mse_loss(model.call(x), y);
            loss.backward();
            MixedPrecisionState.MoveGradientsToMasters(model);
            optimizer.step();
            return loss.ToDouble();
        }
    }

    [Fact]
    public void Generated_steps_read_no_requires_grad_flag_until_told_that_a_parameter_was_frozen()
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = model.CreateAdamW(lr: 0.01);
        var scaler = model.CreateGradScaler();
        var (x, y) = RegressionData.Create();
        model.TrainStep(x, y, optimizer, scaler);
        var syncs = model.State.Flat!.RequiresGradSyncs;

        for (var step = 0; step < 5; step++)
        {
            model.TrainStep(x, y, optimizer, scaler);
        }

        Assert.Equal(syncs, model.State.Flat!.RequiresGradSyncs);

        // Frozen after the first forward: MastersChanged makes the next forward freeze the shadows too.
        foreach (var parameter in model.Fc1.parameters())
        {
            parameter.requires_grad_(false);
        }

        MixedPrecisionState.MastersChanged(model);
        var frozen = model.Fc1.parameters().Select(Snapshots.Values).ToList();
        optimizer.Dispose();
        optimizer = model.CreateAdamW(lr: 0.01, weightDecay: 0);
        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(x, y, optimizer, scaler);
        }

        Assert.Equal(syncs + 1, model.State.Flat!.RequiresGradSyncs);
        Assert.Equal(frozen, model.Fc1.parameters().Select(Snapshots.Values));
        var fc1 = model.Fc1.parameters().Select(p => p.Handle).ToHashSet();
        Assert.All(model.State.Slots.Where(s => fc1.Contains(s.Master.Handle)), slot => Assert.False(slot.Shadow.requires_grad));
    }

    [Fact]
    public void A_shadow_added_to_a_fused_optimizer_after_its_check_is_still_rejected()
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = model.CreateSgd(lr: 0.01);
        var scaler = model.CreateGradScaler();
        var (x, y) = RegressionData.Create();
        model.TrainStep(x, y, optimizer, scaler); // checked once here, then not at every step

        optimizer.add_param_group(new SGD.ParamGroup { Parameters = new[] { model.State.Slots[0].Shadow } });
        model.AccumulateGradients(x, y, scaler);

        Assert.Throws<InvalidOperationException>(() => model.ApplyGradients(optimizer, scaler));
    }

    /// <summary>fc1, a LayerNorm and fc2 in a plain <c>Sequential</c>: no precision model anywhere.</summary>
    private static Sequential Plain() => Sequential(("fc1", Linear(4, 16)), ("norm", LayerNorm(16)), ("fc2", Linear(16, 1)));

    [Fact]
    public void A_weight_tied_between_an_embedding_and_a_head_is_flattened_once_and_stepped_once()
    {
        using var scope = NewDisposeScope();
        var model = new TiedPlain();
        var ids = randint(0, 10, new long[] { 6, 5 }, generator: new torch.Generator().manual_seed(3));
        const double lr = 0.1;
        // The expected step: the gradient of both uses, summed (one tensor under two handles), applied once.
        model.call(ids).square().mean().backward();
        var expected = (model.Tokens.weight!.detach() - lr * model.Tokens.weight!.grad!).clone();
        model.zero_grad();
        var optimizer = model.CreateSgd(lr);

        optimizer.zero_grad();
        model.call(ids).square().mean().backward();
        optimizer.step();

        // TorchSharp lists the tied weight twice (once per module); its own SGD would step it twice.
        Assert.Equal(2, model.parameters().Count(p => p.shape.SequenceEqual(new long[] { 10, 4 })));
        Assert.Single(Layout(optimizer).Ranges);
        Assert.Equal(40, Layout(optimizer).Flats.Single().Groups.Single().Masters.numel());
        Assert.True(model.Tokens.weight!.allclose(expected, rtol: 1e-6, atol: 1e-7));
        Assert.True(model.Head.weight!.allclose(expected, rtol: 1e-6, atol: 1e-7));
    }

    /// <summary>GPT-2's weight tying in plain TorchSharp: the head reads the embedding's weight.</summary>
    private sealed class TiedPlain : Module<Tensor, Tensor>
    {
        private readonly Embedding tokens = Embedding(10, 4);
        private readonly Linear head = Linear(4, 10, hasBias: false);

        public TiedPlain() : base(nameof(TiedPlain))
        {
            head.weight = tokens.weight!;
            RegisterComponents();
        }

        public Embedding Tokens => tokens;

        public Linear Head => head;

        public override Tensor forward(Tensor ids) => head.call(tokens.call(ids));
    }

    private static (Sequential Flat, Sequential Reference) TwinModels()
    {
        var flat = Plain();
        var reference = Plain();
        reference.load_state_dict(flat.state_dict());
        return (flat, reference);
    }

    /// <summary>
    /// The plain loop on both pairs with the same data (losses returned); <paramref name="clear"/> clears the gradients
    /// (default: the optimizer's in-place <c>zero_grad</c>).
    /// </summary>
    private static List<(double Fused, double Reference)> Train(Module<Tensor, Tensor> flat, Optimizer fused, Module<Tensor, Tensor> reference,
        Optimizer torchSharp, int steps, Action<Module>? clear = null)
    {
        var (x, y) = RegressionData.Create();
        var dtype = flat.parameters().First().dtype;
        (x, y) = (x.to(dtype), y.to(dtype));
        return Enumerable.Range(0, steps)
            .Select(_ => (Step(flat, fused, x, y, clear), Step(reference, torchSharp, x, y, clear)))
            .ToList();
    }

    private static double Step(Module<Tensor, Tensor> model, Optimizer optimizer, Tensor x, Tensor y, Action<Module>? clear = null)
    {
        using var scope = NewDisposeScope();
        if (clear is null)
        {
            optimizer.zero_grad();
        }
        else
        {
            clear(model);
        }

        var loss = functional.mse_loss(model.call(x), y);
        loss.backward();
        optimizer.step();
        return loss.ToDouble();
    }

    private static Tensor Slice(FlatGroup group, Parameter parameter)
    {
        Assert.True(group.TryLocate(parameter, out var entry));
        return FlatGroup.View(group.Masters, entry.Offset, parameter);
    }

    private static FlatLayout Layout(Optimizer optimizer) => ((IFlatOptimizer)optimizer).Layout;

    private static void AssertClose(Module flat, Module reference)
    {
        foreach (var (name, parameter) in flat.named_parameters())
        {
            var expected = reference.get_parameter(name)!;
            Assert.True(parameter.allclose(expected, rtol: 1e-5, atol: 1e-6),
                $"{name}: max difference {(parameter - expected).abs().max().ToDouble()}");
        }
    }
}

using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>
/// Half Linear/Conv layers run widened: fp32 products of half-rounded operands, rounded back to half; under excess
/// precision (bf16, Linear kernels widened) the fp32 products of the unrounded input and the half-rounded weights, left in fp32.
/// </summary>
public sealed class WidenedLayerTests
{
    [Fact]
    public void Widened_linear_gives_the_fp32_product_of_the_half_rounded_operands_rounded_to_half()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: false);
        var model = new SingleLayer(Linear(16, 4));
        var layer = (Linear)model.Layer;
        var x = randn(8, 16);

        var output = model.call(x);

        var expected = functional.linear(RoundToBf16(x), RoundToBf16(layer.weight), RoundToBf16(layer.bias!)).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, model.LastLayerOutputDtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
        Assert.Same(model.get_parameter("layer.weight"), layer.weight);
    }

    [Fact]
    public void Widened_convolution_gives_the_fp32_convolution_of_the_half_rounded_operands_rounded_to_half()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: false);
        var model = new SingleLayer(Conv2d(3, 4, 3, padding: 1));
        var layer = (Conv2d)model.Layer;
        var x = randn(2, 3, 8, 8);

        var output = model.call(x);

        var expected = functional.conv2d(RoundToBf16(x), RoundToBf16(layer.weight), RoundToBf16(layer.bias!), padding: new long[] { 1, 1 })
            .to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, model.LastLayerOutputDtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Auto)]
    [InlineData(HalfMatmulKernel.Widened)]
    public void Convolution_gradients_reach_the_master_as_the_fp32_gradients_of_the_half_rounded_operands(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel, excessPrecision: false);
        var model = new SingleLayer(Conv2d(3, 4, 3, padding: 1));
        var layer = (Conv2d)model.Layer;
        var x = randn(2, 3, 8, 8);

        model.call(x).to(ScalarType.Float32).square().sum().backward();
        model.State.MoveGradientsToMasters();

        // The same loss on fp32 leaves holding the half-rounded values, the output rounded to half.
        var (weight, bias) = (RoundToBf16(layer.weight).requires_grad_(), RoundToBf16(layer.bias!).requires_grad_());
        functional.conv2d(RoundToBf16(x), weight, bias, padding: new long[] { 1, 1 })
            .to(ScalarType.BFloat16).to(ScalarType.Float32).square().sum().backward();
        Assert.Equal(kernel == HalfMatmulKernel.Widened || PrecisionPolicy.Widens(KernelFamily.Conv2d, ScalarType.BFloat16, DeviceType.CPU),
            model.State.Slots.All(s => s.Widened is not null));
        foreach (var (actual, expected) in new[] { (layer.weight.grad!, weight.grad!), (layer.bias!.grad!, bias.grad!) })
        {
            var scale = expected.abs().max().item<float>();
            Assert.True(scale > 0);
            Assert.True((actual - expected).abs().max().item<float>() <= 0.03 * scale);
        }
    }

    [Fact]
    public void Under_excess_precision_a_linear_computes_in_fp32_on_its_half_rounded_weights_and_leaves_its_input_unrounded()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: true);
        var model = new SingleLayer(Linear(16, 4));
        var layer = (Linear)model.Layer;
        var x = randn(8, 16);

        var output = model.call(x);

        var expected = functional.linear(x, RoundToBf16(layer.weight), RoundToBf16(layer.bias!));
        Assert.Equal(ScalarType.Float32, model.LastLayerOutputDtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
        Assert.NotEqual(Snapshots.Values(functional.linear(x, layer.weight, layer.bias)), Snapshots.Values(output));
    }

    [Fact]
    public void Under_excess_precision_convolution_gradients_reach_the_master_as_the_fp32_gradients_on_the_half_rounded_weights()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: true);
        var model = new SingleLayer(Conv2d(3, 4, 3, padding: 1));
        var layer = (Conv2d)model.Layer;
        var x = randn(2, 3, 8, 8);

        model.call(x).square().sum().backward();
        model.State.MoveGradientsToMasters();

        var (weight, bias) = (RoundToBf16(layer.weight).requires_grad_(), RoundToBf16(layer.bias!).requires_grad_());
        functional.conv2d(x, weight, bias, padding: new long[] { 1, 1 }).square().sum().backward();
        Assert.All(model.State.Slots, s => Assert.NotNull(s.Widened));
        Assert.Equal(Snapshots.Values(weight.grad!), Snapshots.Values(layer.weight.grad!));
        Assert.Equal(Snapshots.Values(bias.grad!), Snapshots.Values(layer.bias!.grad!));
    }

    [Fact]
    public void Float16_rounds_every_half_layer_output_even_with_excess_precision_allowed()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: true);
        using var fp16 = PolicyOverride.CpuFp16(ScalarType.Float16);
        var model = new SingleLayer(Linear(16, 4), PrecisionKind.Fp16);
        var layer = (Linear)model.Layer;
        var x = randn(8, 16);

        var output = model.call(x);

        var expected = functional.linear(RoundTo(x, ScalarType.Float16), RoundTo(layer.weight, ScalarType.Float16), RoundTo(layer.bias!, ScalarType.Float16))
            .to(ScalarType.Float16);
        Assert.Equal(ScalarType.Float16, model.LastLayerOutputDtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
    }

    [Fact]
    public void A_model_mixing_real_fp16_and_bf16_layers_rounds_the_fp16_one_and_keeps_the_bf16_one_in_fp32()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: true);
        using var fp16 = PolicyOverride.CpuFp16(ScalarType.Float16);
        var model = new Fp16ThenBf16(Linear(8, 6), Linear(6, 4));
        var x = randn(5, 8);

        var output = model.call(x);

        var hidden = functional.linear(RoundTo(x, ScalarType.Float16), RoundTo(model.First.weight, ScalarType.Float16), RoundTo(model.First.bias!, ScalarType.Float16))
            .to(ScalarType.Float16).to(ScalarType.Float32);
        var expected = functional.linear(hidden, RoundToBf16(model.Second.weight), RoundToBf16(model.Second.bias!));
        Assert.Equal((ScalarType.Float16, ScalarType.Float32), model.OutputDtypes);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
        output.sum().backward();
        model.State.MoveGradientsToMasters();
        Assert.All(model.parameters(), p => Assert.True(p.grad is { } g && g.abs().sum().item<float>() > 0));
    }

    [Fact]
    public void Auto_and_widened_steps_agree_to_bf16_rounding_for_containers_and_nested_models()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();

        var (autoLoss, autoGradients) = OneBackward(HalfMatmulKernel.Auto, x, y);
        var (widenedLoss, widenedGradients) = OneBackward(HalfMatmulKernel.Widened, x, y);

        Assert.Equal(widenedLoss, autoLoss, 0.01 * widenedLoss);
        Assert.Equal(widenedGradients.Length, autoGradients.Length);
        for (var i = 0; i < widenedGradients.Length; i++)
        {
            var scale = widenedGradients[i].abs().max().item<float>();
            Assert.True(scale > 0, $"parameter {i} got no gradient");
            var difference = (widenedGradients[i] - autoGradients[i]).abs().max().item<float>();
            Assert.True(difference <= 0.03 * scale, $"parameter {i}: max difference {difference} vs max gradient {scale}");
        }
    }

    [Fact]
    public void Outside_the_generated_forward_the_layer_holds_its_master_and_computes_in_fp32()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened);
        var model = new SingleLayer(Linear(16, 4));
        var layer = (Linear)model.Layer;
        var x = randn(8, 16);
        model.call(x);

        var direct = layer.call(x);

        Assert.Equal(ScalarType.Float32, direct.dtype);
        Assert.Equal(Snapshots.Values(functional.linear(x, layer.weight, layer.bias)), Snapshots.Values(direct));
    }

    [Fact]
    public void Widened_bilinear_gives_the_fp32_product_of_the_half_rounded_operands_and_trains_its_master()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened, excessPrecision: false);
        var model = new PairModel(Bilinear(6, 5, 3));
        var (a, b) = (randn(4, 6), randn(4, 5));

        var output = model.call(a, b);

        var layer = model.Layer;
        var expected = functional.bilinear(RoundToBf16(a), RoundToBf16(b), RoundToBf16(layer.weight), RoundToBf16(layer.bias!)).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, output.dtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(output));
        output.to(ScalarType.Float32).sum().backward();
        model.State.MoveGradientsToMasters();
        Assert.True(layer.weight.grad!.abs().sum().item<float>() > 0);
        Assert.Equal(ScalarType.Float32, layer.weight.dtype);
    }

    [Fact]
    public void Replaced_parameters_get_new_widened_copies_and_the_old_hooks_are_removed()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened);
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();
        model.AccumulateGradients(x, y, new GradScaler(enabled: false));
        var oldWidened = model.State.Slots.Single(s => ReferenceEquals(s.Master, model.Fc1.weight)).Widened!;

        model.Fc1.weight = new Parameter(randn(16, 4));
        model.AccumulateGradients(x, y, new GradScaler(enabled: false));

        var slot = model.State.Slots.Single(s => ReferenceEquals(s.Master, model.Fc1.weight));
        Assert.NotSame(oldWidened, slot.Widened);
        // Hooks left from the first build would run the layer on the old copy, starving the new master.
        Assert.True(model.Fc1.weight.grad!.abs().sum().item<float>() > 0);
    }

    private static (double Loss, Tensor[] Gradients) OneBackward(HalfMatmulKernel kernel, Tensor x, Tensor y)
    {
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = Deterministic.Initialize(new ContainerModel(PrecisionKind.Bf16), seed: 11);
        double loss = double.NaN;
        model.State.AccumulateGradients(() =>
        {
            var value = functional.mse_loss(model.call(x), y);
            loss = value.item<float>();
            return value;
        }, new GradScaler(enabled: false), 1.0);
        var widened = kernel == HalfMatmulKernel.Widened || PrecisionPolicy.Widens(KernelFamily.Linear, ScalarType.BFloat16, DeviceType.CPU);
        Assert.Equal(widened, model.Head.State.Slots.All(s => s.Widened is not null));
        return (loss, model.parameters().Select(p => p.grad!.clone()).ToArray());
    }

    private static Tensor RoundToBf16(Tensor tensor) => RoundTo(tensor, ScalarType.BFloat16);

    private static Tensor RoundTo(Tensor tensor, ScalarType half) => tensor.detach().to(half).to(ScalarType.Float32);

    /// <summary>An [Fp16] layer then a [Bf16] one, in the generated shape.</summary>
    private sealed class Fp16ThenBf16 : Module<Tensor, Tensor>, IPrecisionModel
    {
        private readonly Linear first;
        private readonly Linear second;
        private MixedPrecisionState? __pdslState;

        public Fp16ThenBf16(Linear first, Linear second) : base(nameof(Fp16ThenBf16))
        {
            (this.first, this.second) = (first, second);
            RegisterComponents();
        }

        public Linear First => first;

        public Linear Second => second;

        public (ScalarType First, ScalarType Second) OutputDtypes { get; private set; }

        internal MixedPrecisionState State => __pdslState ??= new(this,
            new PrecisionLayer[] { new("first", first, PrecisionKind.Fp16), new("second", second, PrecisionKind.Bf16) }, null);

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            using var weights = State.EnterForward();
            var hidden = first.call(Precision.Cast(x, weights.Fp16));
            var result = second.call(Precision.Cast(hidden, weights.Bf16));
            OutputDtypes = (hidden.dtype, result.dtype);
            return scope.MoveToOuter(result);
        }
    }

    /// <summary>One bf16 two-input layer in the generated shape; its forward returns the layer's output unchanged.</summary>
    private sealed class PairModel : Module<Tensor, Tensor, Tensor>, IPrecisionModel
    {
        private readonly TorchSharp.Modules.Bilinear layer;
        private MixedPrecisionState? __pdslState;

        public PairModel(TorchSharp.Modules.Bilinear layer) : base(nameof(PairModel))
        {
            this.layer = layer;
            RegisterComponents();
        }

        public TorchSharp.Modules.Bilinear Layer => layer;

        internal MixedPrecisionState State => __pdslState ??= new(this, new PrecisionLayer[] { new("layer", layer, PrecisionKind.Bf16) }, null);

        public override Tensor forward(Tensor first, Tensor second)
        {
            using var scope = NewDisposeScope();
            using var weights = State.EnterForward();
            return scope.MoveToOuter(layer.call(Precision.Cast(first, weights.Bf16), Precision.Cast(second, weights.Bf16)));
        }
    }

    /// <summary>One bf16 layer in the generated shape; its forward returns the layer's output unchanged.</summary>
    private sealed class SingleLayer : Module<Tensor, Tensor>, IPrecisionModel
    {
        private readonly Module<Tensor, Tensor> layer;
        private readonly PrecisionKind kind;
        private MixedPrecisionState? __pdslState;

        public SingleLayer(Module<Tensor, Tensor> layer, PrecisionKind kind = PrecisionKind.Bf16) : base(nameof(SingleLayer))
        {
            this.layer = layer;
            this.kind = kind;
            RegisterComponents();
        }

        public Module<Tensor, Tensor> Layer => layer;

        public ScalarType LastLayerOutputDtype { get; private set; }

        internal MixedPrecisionState State => __pdslState ??= new(this, new PrecisionLayer[] { new("layer", layer, kind) }, null);

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            using var weights = State.EnterForward();
            var input = Precision.Cast(x, kind == PrecisionKind.Fp16 ? weights.Fp16 : weights.Bf16);
            var result = layer.call(input);
            LastLayerOutputDtype = result.dtype;
            return scope.MoveToOuter(result);
        }
    }
}

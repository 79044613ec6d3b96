using System;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>
/// The contract of the shadow swap for every half-capable layer type (<c>LayerCatalog.HalfCapable</c>): inside a
/// generated-style forward the layer computes in half, <c>parameters()</c> and <c>state_dict()</c> stay fp32 masters,
/// and the gradient of a backward reaches every master. Under excess precision (bf16 Linear kernels widened on CPU) the layer
/// computes in fp32 on its half-rounded weights and its output stays fp32.
/// </summary>
public sealed class ShadowSwapContractTests
{
    public static TheoryData<string, HalfMatmulKernel, bool> Layers()
    {
        var data = new TheoryData<string, HalfMatmulKernel, bool>();
        foreach (var name in new[] { "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "PReLU" })
        {
            foreach (var excessPrecision in new[] { false, true })
            {
                data.Add(name, HalfMatmulKernel.Auto, excessPrecision);
                data.Add(name, HalfMatmulKernel.Widened, excessPrecision);
            }
        }

        return data;
    }

    [Fact]
    public void Every_half_capable_layer_type_is_covered()
    {
        var covered = Layers().Select(row => (string)row[0]).ToHashSet();
        Assert.Equal(LayerCatalog.HalfCapable.Select(t => t.Name).OrderBy(n => n), covered.OrderBy(n => n));
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void The_layer_runs_in_half_while_its_masters_stay_fp32_and_receive_the_gradient(string name, HalfMatmulKernel kernel, bool excessPrecision)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel, excessPrecision);
        var generator = new torch.Generator().manual_seed(5);
        var (layer, inputs) = Create(name, generator);
        var model = new AnyLayerModel(layer);

        var output = model.call(inputs);

        Assert.Equal(PolicyOverride.CpuActivation(ScalarType.BFloat16), output.dtype);
        if (kernel == HalfMatmulKernel.Widened)
        {
            Assert.Equal(excessPrecision ? ScalarType.Float32 : ScalarType.BFloat16, output.dtype);
        }

        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(model.state_dict(), entry => Assert.Equal(ScalarType.Float32, entry.Value.dtype));
        output.to(ScalarType.Float32).square().sum().backward();
        model.State.MoveGradientsToMasters();
        Assert.All(model.parameters(), p => Assert.True(p.grad is { } g && g.abs().sum().item<float>() > 0, $"{name}: a master got no gradient"));
    }

    private static (Module Layer, Tensor[] Inputs) Create(string name, torch.Generator g) => name switch
    {
        "Linear" => (Linear(6, 4), new[] { randn(new long[] { 3, 6 }, generator: g) }),
        "Bilinear" => (Bilinear(6, 5, 4), new[] { randn(new long[] { 3, 6 }, generator: g), randn(new long[] { 3, 5 }, generator: g) }),
        "Conv1d" => (Conv1d(3, 4, 3), new[] { randn(new long[] { 2, 3, 9 }, generator: g) }),
        "Conv2d" => (Conv2d(3, 4, 3), new[] { randn(new long[] { 2, 3, 7, 7 }, generator: g) }),
        "Conv3d" => (Conv3d(3, 4, 3), new[] { randn(new long[] { 2, 3, 5, 5, 5 }, generator: g) }),
        "ConvTranspose1d" => (ConvTranspose1d(3, 4, 3), new[] { randn(new long[] { 2, 3, 9 }, generator: g) }),
        "ConvTranspose2d" => (ConvTranspose2d(3, 4, 3), new[] { randn(new long[] { 2, 3, 6, 6 }, generator: g) }),
        "ConvTranspose3d" => (ConvTranspose3d(3, 4, 3), new[] { randn(new long[] { 2, 3, 4, 4, 4 }, generator: g) }),
        "Embedding" => (Embedding(10, 4), new[] { randint(0, 10, new long[] { 3, 5 }, generator: g) }),
        "EmbeddingBag" => (EmbeddingBag(10, 4, mode: EmbeddingBagMode.Mean), new[] { randint(0, 10, new long[] { 3, 5 }, generator: g) }),
        "PReLU" => (PReLU(4), new[] { randn(new long[] { 3, 4 }, generator: g) }),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>One bf16 layer of any arity, in the shape the generator emits: floating inputs cast to bf16.</summary>
    private sealed class AnyLayerModel : Module<Tensor[], Tensor>, IPrecisionModel
    {
        private readonly Module layer;
        private MixedPrecisionState? __pdslState;

        public AnyLayerModel(Module layer) : base(nameof(AnyLayerModel))
        {
            this.layer = layer;
            register_module("layer", layer);
        }

        internal MixedPrecisionState State => __pdslState ??= new(this, new PrecisionLayer[] { new("layer", layer, PrecisionKind.Bf16) }, null);

        public override Tensor forward(Tensor[] inputs)
        {
            using var scope = NewDisposeScope();
            using var weights = State.EnterForward();
            var cast = inputs.Select(i => Precision.Cast(i, weights.Bf16)).ToArray();
            var output = layer switch
            {
                Module<Tensor, Tensor> single => single.call(cast[0]),
                TorchSharp.Modules.EmbeddingBag bag => bag.call(cast[0]),
                Module<Tensor, Tensor, Tensor> pair => pair.call(cast[0], cast[1]),
                _ => throw new InvalidOperationException(layer.GetType().Name),
            };
            return scope.MoveToOuter(output);
        }
    }
}

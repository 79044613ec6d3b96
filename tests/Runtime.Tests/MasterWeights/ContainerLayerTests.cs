using System.Collections.Generic;
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
/// Layers inside a half container (and inside the user blocks it holds) are planned one by one: norms run
/// in fp32 on fp32 input, half-capable layers in half, whatever dtype the previous layer handed on.
/// </summary>
public sealed class ContainerLayerTests
{
    public static TheoryData<HalfMatmulKernel, bool> Kernels => new()
    {
        { HalfMatmulKernel.Auto, false }, { HalfMatmulKernel.Auto, true }, { HalfMatmulKernel.Widened, false }, { HalfMatmulKernel.Widened, true },
    };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Norms_inside_containers_and_user_blocks_run_on_fp32_input_and_half_layers_on_half(HalfMatmulKernel kernel, bool excessPrecision)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel, excessPrecision);
        var model = new ConvStackModel(PrecisionKind.Bf16);
        var x = randn(2, 3, 8, 8);
        model.call(x);
        var inputs = RecordInputDtypes(model);

        model.call(x);

        var norms = inputs.Where(i => i.Layer is NormBase or TorchSharp.Modules.LayerNorm).ToList();
        var halfLayers = inputs.Where(i => i.Layer is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear).ToList();
        Assert.Equal(4, norms.Count);   // two BatchNorm2d in features, one LayerNorm per block
        Assert.Equal(4, halfLayers.Count); // two convolutions, one Linear per block (the head is a field)
        Assert.All(norms, n => Assert.Equal(ScalarType.Float32, n.Input));
        Assert.All(norms, n => Assert.Equal(ScalarType.Float32, n.Output));
        Assert.All(halfLayers, l => Assert.Equal(PolicyOverride.CpuActivation(ScalarType.BFloat16), l.Output));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void A_container_model_matches_its_fp32_reference_and_trains(HalfMatmulKernel kernel, bool excessPrecision)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel, excessPrecision);
        var generator = new torch.Generator().manual_seed(11);
        var model = Deterministic.Initialize(new ConvStackModel(PrecisionKind.Bf16), seed: 11);
        var x = randn(new long[] { 8, 3, 8, 8 }, generator: generator);
        var y = randn(new long[] { 8, 1 }, generator: generator);

        model.eval();
        using (no_grad())
        {
            var reference = model.Reference(x);
            var mixed = model.call(x);
            // bf16 keeps 8 significant bits (0.4 % per rounding); a few layers accumulate a few of those.
            var error = (mixed - reference).norm().item<float>() / reference.norm().item<float>();
            Assert.True(error < 0.03, $"relative error {error}");
        }

        model.train();
        var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        var scaler = new GradScaler(enabled: false);
        var first = model.TrainStep(x, y, optimizer, scaler).Loss;
        var last = first;
        for (var step = 0; step < 30; step++)
        {
            last = model.TrainStep(x, y, optimizer, scaler).Loss;
        }

        Assert.True(last < 0.5 * first, $"loss {first} -> {last}");
    }

    [Fact]
    public void Outside_the_generated_forward_container_layers_run_in_fp32_untouched()
    {
        using var scope = NewDisposeScope();
        var model = new ConvStackModel(PrecisionKind.Bf16);
        var x = randn(2, 3, 8, 8);
        model.call(x);
        var inputs = RecordInputDtypes(model);

        var reference = model.Reference(x);

        Assert.Equal(ScalarType.Float32, reference.dtype);
        Assert.All(inputs, i => Assert.Equal(ScalarType.Float32, i.Output));
    }

    /// <summary>
    /// Records each layer's input and output dtype. Registered after the first forward, so these hooks run
    /// after PrecisionDsl's and see what the layer itself received and returned.
    /// </summary>
    private static List<(Module Layer, ScalarType Input, ScalarType Output)> RecordInputDtypes(ConvStackModel model)
    {
        var seen = new List<(Module, ScalarType, ScalarType)>();
        var layers = model.Features.children().Concat(model.Blocks.SelectMany(b => b.children()))
            .OfType<Module<Tensor, Tensor>>().Where(l => l is NormBase or TorchSharp.Modules.LayerNorm or TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear);
        foreach (var layer in layers)
        {
            ScalarType input = default;
            layer.register_forward_pre_hook((_, x) => { input = x.dtype; return null!; });
            layer.register_forward_hook((m, _, y) => { seen.Add((m, input, y.dtype)); return null!; });
        }

        return seen;
    }
}

using System.Linq;
using PrecisionDsl.TestModels;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// Generated models declare <see cref="IPrecisionModel"/>; the runtime finds their states through it, in derived
/// models and in models nested inside containers, where a training step of the outer model must reach them.
/// </summary>
public sealed class PrecisionModelInterfaceTests
{
    [Fact]
    public void A_state_is_listed_once_from_its_first_forward_on()
    {
        using var scope = torch.NewDisposeScope();
        var model = new Encoder();
        var precisionModel = Assert.IsAssignableFrom<IPrecisionModel>(model);

        Assert.Empty(precisionModel.PrecisionStatesInUse);
        model.call(torch.randn(2, 16));
        model.call(torch.randn(2, 16));

        Assert.Single(precisionModel.PrecisionStatesInUse);
    }

    [Fact]
    public void A_precision_model_deriving_from_another_trains_its_own_and_inherited_layers()
    {
        using var scope = torch.NewDisposeScope();
        var model = Deterministic.Initialize(new HeadedTrunk(), seed: 3);
        var data = new torch.Generator().manual_seed(3);
        var (inputs, labels) = (torch.randn(new long[] { 32, 16 }, generator: data), torch.randint(0, 4, new long[] { 32 }, generator: data));

        var (before, results) = Train(model, inputs, labels);

        Assert.Equal(new[] { "trunk.bias", "trunk.weight", "head.bias", "head.weight" }.OrderBy(n => n), model.named_parameters().Select(p => p.name).OrderBy(n => n));
        AssertTrained(model, before, results);
        // Each class keeps its own plan; the derived forward replaces the base's, so only the derived state runs.
        Assert.Equal("HeadedTrunk", HeadedTrunk.PrecisionPlan.ModelName);
        Assert.Equal("TrunkModel", TrunkModel.PrecisionPlan.ModelName);
        Assert.Single(((IPrecisionModel)model).PrecisionStatesInUse);
    }

    [Fact]
    public void The_outer_step_moves_the_gradients_of_a_precision_model_nested_in_a_container()
    {
        using var scope = torch.NewDisposeScope();
        var model = Deterministic.Initialize(new EncoderStack(), seed: 5);
        var data = new torch.Generator().manual_seed(5);
        var (inputs, labels) = (torch.randn(new long[] { 32, 16 }, generator: data), torch.randint(0, 4, new long[] { 32 }, generator: data));

        var (before, results) = Train(model, inputs, labels);

        AssertTrained(model, before, results);
        var nested = model.modules().OfType<Encoder>().Single();
        Assert.Single(((IPrecisionModel)nested).PrecisionStatesInUse);
        Assert.Single(((IPrecisionModel)model).PrecisionStatesInUse);
    }

    private static (Tensor[] Before, TrainStepResult[] Results) Train(nn.Module<Tensor, Tensor> model, Tensor inputs, Tensor labels)
    {
        var before = model.parameters().Select(p => p.detach().clone()).ToArray();
        var optimizer = torch.optim.SGD(model.parameters(), 0.1);
        var results = model switch
        {
            HeadedTrunk derived => Enumerable.Range(0, 20).Select(_ => derived.TrainStep(inputs, labels, optimizer, derived.CreateGradScaler())).ToArray(),
            EncoderStack stack => Enumerable.Range(0, 20).Select(_ => stack.TrainStep(inputs, labels, optimizer, stack.CreateGradScaler())).ToArray(),
            _ => throw new System.ArgumentException("no training members", nameof(model)),
        };
        return (before, results);
    }

    /// <summary>Every step taken, the loss fell, and every parameter moved: no layer's gradient was left on a shadow.</summary>
    private static void AssertTrained(nn.Module<Tensor, Tensor> model, Tensor[] before, TrainStepResult[] results)
    {
        Assert.All(results, r => Assert.True(r.Stepped));
        Assert.True(results[^1].Loss < results[0].Loss, $"loss {results[0].Loss:F4} -> {results[^1].Loss:F4}");
        foreach (var ((name, parameter), initial) in model.named_parameters().Zip(before))
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            Assert.False(parameter.detach().allclose(initial), $"{name} did not train");
        }
    }
}

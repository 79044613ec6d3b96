using System;
using System.Linq;
using System.Reflection;
using PrecisionDsl.TestModels;
using PrecisionDsl.TestModels.Deep;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// Each representative model, compiled with the generator, run twice on CPU: the generated mixed-precision
/// forward and the [Forward] fp32 reference. They must agree within bf16 tolerance (on CPU the policy maps
/// fp16 to bf16), the mixed result must come back in fp32, and the masters must stay fp32.
/// </summary>
public sealed class ForwardEquivalenceTests
{
    // bf16 keeps 8 significant bits (relative step 2^-8 ≈ 0.4%); a few layers accumulate a few of those.
    private const double RelativeTolerance = 0.03;

    public static TheoryData<string> Models => new()
    {
        nameof(Mlp), nameof(Classifier), nameof(ConvNet), nameof(AttentionBlock), nameof(PairScorer),
        nameof(SequenceTagger), nameof(Encoder), nameof(EncoderClassifier), nameof(Zoo.Regressor),
        nameof(HelperModel), nameof(PartialModel), nameof(GatedModel), nameof(ContainerNet),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Generated_forward_matches_the_fp32_reference(string name)
    {
        using var scope = torch.NewDisposeScope();
        var (model, inputs, halfLayers) = Create(name, new torch.Generator().manual_seed(1234));
        Deterministic.Initialize(model, seed: 1234);
        model.eval();
        using var noGrad = torch.no_grad();

        var reference = Flatten(InvokeReference(model, inputs));
        var mixed = Flatten(InvokeForward(model, inputs));

        Assert.Equal(reference.Length, mixed.Length);
        for (var i = 0; i < reference.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, reference[i].dtype);
            Assert.Equal(reference[i].shape, mixed[i].shape);
            var error = (mixed[i].to(ScalarType.Float32) - reference[i]).norm().item<float>() / Math.Max(reference[i].norm().item<float>(), 1e-6f);
            Assert.True(error < RelativeTolerance, $"{name} output {i}: relative error {error:G3} exceeds {RelativeTolerance}");
            if (name != nameof(PartialModel))
            {
                Assert.Equal(ScalarType.Float32, mixed[i].dtype);
            }
        }

        // Half layers really ran in half: the mixed result is close to, but not bit-identical with, the reference.
        Assert.Equal(halfLayers, !reference.Zip(mixed).All(pair => pair.First.allclose(pair.Second, rtol: 0, atol: 0)));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    private static (nn.Module Model, object[] Inputs, bool HalfLayers) Create(string name, torch.Generator g) => name switch
    {
        nameof(Mlp) => (new Mlp(), new object[] { torch.randn(new long[] { 8, 32 }, generator: g) }, true),
        nameof(Classifier) => (new Classifier(), new object[] { torch.randn(new long[] { 8, 784 }, generator: g) }, true),
        nameof(ConvNet) => (new ConvNet(), new object[] { torch.randn(new long[] { 4, 3, 16, 16 }, generator: g) }, true),
        nameof(AttentionBlock) => (new AttentionBlock(), new object[] { torch.randn(new long[] { 2, 6, 32 }, generator: g) }, true),
        nameof(PairScorer) => (new PairScorer(), new object[] { torch.randn(new long[] { 8, 16 }, generator: g), torch.randn(new long[] { 8, 16 }, generator: g) }, true),
        nameof(SequenceTagger) => (new SequenceTagger(), new object[] { torch.randint(0, 100, new long[] { 3, 7 }, generator: g) }, true),
        nameof(Encoder) => (new Encoder(), new object[] { torch.randn(new long[] { 4, 16 }, generator: g) }, true),
        nameof(EncoderClassifier) => (new EncoderClassifier(), new object[] { torch.randn(new long[] { 4, 16 }, generator: g) }, true),
        nameof(Zoo.Regressor) => (new Zoo.Regressor(), new object[] { torch.randn(new long[] { 8, 8 }, generator: g) }, true),
        nameof(HelperModel) => (new HelperModel(), new object[] { torch.randn(new long[] { 5, 12 }, generator: g) }, true),
        nameof(PartialModel) => (new PartialModel(), new object[] { torch.randn(new long[] { 6, 20 }, generator: g) }, true),
        nameof(GatedModel) => (new GatedModel(), new object[] { torch.randn(new long[] { 6, 10 }, generator: g) }, true),
        nameof(ContainerNet) => (new ContainerNet(), new object[] { torch.randn(new long[] { 4, 3, 8, 8 }, generator: g) }, true),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static object InvokeForward(nn.Module model, object[] inputs) =>
        model.GetType().GetMethod("forward", inputs.Select(i => i.GetType()).ToArray())!.Invoke(model, inputs)!;

    private static object InvokeReference(nn.Module model, object[] inputs)
    {
        var method = model.GetType()
            .GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Single(m => m.GetCustomAttribute<ForwardAttribute>() is not null);
        return method.Invoke(model, inputs)!;
    }

    private static Tensor[] Flatten(object result) => result switch
    {
        Tensor tensor => new[] { tensor },
        System.Runtime.CompilerServices.ITuple tuple => Enumerable.Range(0, tuple.Length).Select(i => (Tensor)tuple[i]!).ToArray(),
        _ => throw new InvalidOperationException($"unexpected result {result.GetType()}"),
    };
}

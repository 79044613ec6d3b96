using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using PrecisionDsl.Generator.Tests.Support;
using PrecisionDsl.TestModels.Corpus;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// Real-world architectures in the style of the TorchSharpExamples models (tests/Models/Corpus), compiled with
/// the generator and checked on CPU under both kernel policies a machine can end up with (Auto: whatever the
/// self-test chose; Widened): the generated forward is within 2 % relative L2 of the fp32 reference, 30
/// generated <c>TrainStep</c>s reduce the loss, <c>parameters()</c> stay fp32, every norm runs on fp32 input,
/// and the analyzers report no PDSL warning or error on the source.
/// </summary>
public sealed class CorpusTests
{
    private const double RelativeTolerance = 0.02;

    public static TheoryData<string, HalfMatmulKernel> Cases()
    {
        var cases = new TheoryData<string, HalfMatmulKernel>();
        foreach (var name in Corpus.Keys)
        {
            cases.Add(name, HalfMatmulKernel.Auto);
            cases.Add(name, HalfMatmulKernel.Widened);
        }

        return cases;
    }

    /// <summary>Widened without excess precision: every half op's result rounded, as a half kernel would (the Auto case is excess precision on an AVX2 CPU).</summary>
    private static IDisposable Policy(HalfMatmulKernel kernel) =>
        PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = kernel, CpuExcessPrecision = kernel != HalfMatmulKernel.Widened });

    public static TheoryData<string> Names() => new(Corpus.Keys);

    /// <summary>Each architecture with a batch of inputs and targets it can learn from.</summary>
    private static readonly Dictionary<string, Func<torch.Generator, (nn.Module Model, Tensor Input, Tensor Target)>> Corpus = new()
    {
        [nameof(MnistNet)] = g => (new MnistNet(), randn(new long[] { 16, 1, 12, 12 }, generator: g), Labels(g, 10, 16)),
        [nameof(VggNet)] = g => (new VggNet(), randn(new long[] { 16, 3, 8, 8 }, generator: g), Labels(g, 10, 16)),
        [nameof(ResNet)] = g => (new ResNet(), randn(new long[] { 16, 3, 8, 8 }, generator: g), Labels(g, 10, 16)),
        [nameof(MobileNet)] = g => (new MobileNet(), randn(new long[] { 16, 3, 16, 16 }, generator: g), Labels(g, 10, 16)),
        [nameof(InceptionNet)] = g => (new InceptionNet(), randn(new long[] { 16, 3, 8, 8 }, generator: g), Labels(g, 10, 16)),
        [nameof(AlexNet)] = g => (new AlexNet(), randn(new long[] { 16, 3, 16, 16 }, generator: g), Labels(g, 10, 16)),
        [nameof(GruClassifier)] = g => (new GruClassifier(), Labels(g, 50, 16, 7), Labels(g, 4, 16)),
        [nameof(LstmForecaster)] = g => (new LstmForecaster(), randn(new long[] { 16, 9, 3 }, generator: g), randn(new long[] { 16, 1 }, generator: g)),
        [nameof(TiedLanguageModel)] = g => (new TiedLanguageModel(), Labels(g, 40, 8, 6), Labels(g, 40, 8, 6)),
        [nameof(TransformerBlock)] = g => (new TransformerBlock(), Labels(g, 40, 8, 6), Labels(g, 40, 8, 6)),
        [nameof(StackedAttention)] = g => (new StackedAttention(), Labels(g, 40, 8, 6), Labels(g, 40, 8, 6)),
        [nameof(CausalSelfAttention)] = g => (new CausalSelfAttention(), randn(new long[] { 8, 6, 32 }, generator: g), randn(new long[] { 8, 6, 8 }, generator: g)),
        [nameof(BagOfWordsClassifier)] = g => (new BagOfWordsClassifier(), Labels(g, 60, 16, 5), Labels(g, 4, 16)),
        [nameof(AudioConvNet)] = g => (new AudioConvNet(), randn(new long[] { 16, 1, 64 }, generator: g), Labels(g, 5, 16)),
        [nameof(ConvAutoencoder)] = g => (new ConvAutoencoder(), rand(new long[] { 8, 1, 8, 8 }, generator: g), null!),
        [nameof(UNetLite)] = g => (new UNetLite(), randn(new long[] { 4, 3, 8, 8 }, generator: g), Labels(g, 2, 4, 8, 8)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generated_forward_matches_the_fp32_reference_with_norms_on_fp32_input(string name, HalfMatmulKernel kernel)
    {
        using var policy = Policy(kernel);
        using var scope = NewDisposeScope();
        var (model, input, _) = Create(name);
        model.eval();
        using var noGrad = no_grad();
        Forward(model, input);
        var (norms, normInputs) = RecordNormInputs(model);

        var reference = Reference(model, input);
        var mixed = Forward(model, input);

        Assert.Equal(ScalarType.Float32, mixed.dtype);
        Assert.Equal(reference.shape, mixed.shape);
        var error = (mixed - reference).norm().item<float>() / reference.norm().item<float>();
        Assert.True(error < RelativeTolerance, $"{name}: relative error {error:G3} exceeds {RelativeTolerance}");
        Assert.False(reference.allclose(mixed, rtol: 0, atol: 0), $"{name}: no layer ran in half");
        Assert.Equal(norms, normInputs.Select(n => n.Norm).Distinct().OrderBy(n => n, StringComparer.Ordinal));
        Assert.All(normInputs, n => Assert.True(n.Dtype == ScalarType.Float32, $"{name}: {n.Norm} ran on {n.Dtype}"));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Under_excess_precision_with_bf16_representable_masters_the_generated_forward_equals_the_fp32_reference(string name)
    {
        using var policy = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Widened, CpuExcessPrecision = true });
        using var scope = NewDisposeScope();
        var (model, input, _) = Create(name);
        model.eval();
        using var noGrad = no_grad();
        foreach (var parameter in model.parameters())
        {
            parameter.copy_(parameter.to(ScalarType.BFloat16));
        }

        var mixed = Forward(model, input);
        var reference = Reference(model, input);

        // Excess precision rounds only the weights (here already bf16 values): every activation stays fp32.
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        Assert.True(reference.allclose(mixed, rtol: 0, atol: 0), $"{name}: max difference {(mixed - reference).abs().max().item<float>():G3}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Thirty_generated_train_steps_reduce_the_loss_and_keep_fp32_masters(string name, HalfMatmulKernel kernel)
    {
        using var policy = Policy(kernel);
        using var scope = NewDisposeScope();
        var (model, input, target) = Create(name);
        var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        dynamic generated = model;
        var scaler = (GradScaler)generated.CreateGradScaler();

        var losses = new List<double>();
        for (var step = 0; step < 30; step++)
        {
            TrainStepResult result = generated.TrainStep(input, target, optimizer, scaler, null);
            losses.Add(result.Loss);
        }

        Assert.All(losses, l => Assert.True(double.IsFinite(l), $"{name}: loss {l}"));
        Assert.True(losses[^1] < 0.9 * losses[0], $"{name}: loss {losses[0]:G4} -> {losses[^1]:G4}");
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async System.Threading.Tasks.Task The_analyzers_report_no_warning_or_error_on_the_corpus(string name)
    {
        var path = Path.Combine(GeneratorHarness.ModelsDirectory, "Corpus", name + ".cs");
        var compilation = GeneratorHarness.Compile((path, File.ReadAllText(path)));
        var (_, output, _) = GeneratorHarness.Run(compilation);

        var diagnostics = await output.WithAnalyzers(GeneratorHarness.Analyzers).GetAllDiagnosticsAsync();

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()));
    }

    private static (nn.Module Model, Tensor Input, Tensor Target) Create(string name)
    {
        var (model, input, target) = Corpus[name](new torch.Generator().manual_seed(2024));
        return (Deterministic.Initialize(model, seed: 2024), input, target ?? input);
    }

    private static Tensor Labels(torch.Generator generator, long classes, params long[] shape) =>
        randint(0, classes, shape, generator: generator);

    private static Tensor Forward(nn.Module model, Tensor input) => ((nn.Module<Tensor, Tensor>)model).call(input);

    private static Tensor Reference(nn.Module model, Tensor input) =>
        (Tensor)model.GetType()
            .GetMethods(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            .Single(m => m.GetCustomAttribute<ForwardAttribute>() is not null)
            .Invoke(model, new object[] { input })!;

    /// <summary>
    /// The input dtype of every norm module at each call. Registered after the first forward, so these hooks run
    /// after PrecisionDsl's and see what the norm itself receives.
    /// </summary>
    private static (List<string> Norms, List<(string Norm, ScalarType Dtype)> Seen) RecordNormInputs(nn.Module model)
    {
        var norms = new List<string>();
        var seen = new List<(string, ScalarType)>();
        foreach (var (path, module) in model.named_modules())
        {
            if (module is NormBase or LayerNorm or GroupNorm or LocalResponseNorm && module is nn.Module<Tensor, Tensor> norm)
            {
                norms.Add(path);
                norm.register_forward_pre_hook((_, x) => { seen.Add((path, x.dtype)); return null!; });
            }
        }

        norms.Sort(StringComparer.Ordinal);
        return (norms, seen);
    }
}

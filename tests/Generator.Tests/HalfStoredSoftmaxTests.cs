using System;
using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Generator.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// A softmax whose every reader is a half op is computed in fp32 and stored in half (<c>CheckedOps.Softmax</c>): the
/// generated code says so, computes output and gradients within the half rounding of the emission with an fp32
/// softmax and a cast at its reader; any other reader keeps the fp32 softmax.
/// </summary>
public sealed class HalfStoredSoftmaxTests
{
    private const string Attention = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class StoredAttention : Module<Tensor, Tensor>
            {
                public const int Width = 16;
                private readonly Linear query = Linear(Width, Width);
                private readonly Linear key = Linear(Width, Width);
                private readonly Linear value = Linear(Width, Width);
                private readonly Linear output = Linear(Width, Width);

                public StoredAttention() : base(nameof(StoredAttention)) => RegisterComponents();

                [Forward]
                private Tensor Attend(Tensor x)
                {
                    var steps = x.shape[1];
                    var scores = torch.matmul(query.call(x), key.call(x).transpose(-2, -1)) / System.Math.Sqrt(Width);
                    using var causal = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
                    var weights = functional.softmax(scores.masked_fill(causal, double.NegativeInfinity), -1);
                    return output.call(torch.matmul(weights, value.call(x)));
                }

                // What the generator emitted before a softmax read only by half ops was stored in half.
                public Tensor ForwardWithFp32Softmax(Tensor x)
                {
                    using var __scope = torch.NewDisposeScope();
                    using var __weights = __PdslState.EnterForward();
                    var steps = x.shape[1];
                    var scores = CheckedOps.Matmul(query.call(Precision.Cast(x, __weights.Bf16)), key.call(Precision.Cast(x, __weights.Bf16)).transpose(-2, -1), "q", "k") / System.Math.Sqrt(Width);
                    using var causal = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
                    var weights = functional.softmax(Precision.Cast(scores.masked_fill(causal, double.NegativeInfinity), ScalarType.Float32), -1);
                    return __scope.MoveToOuter(Precision.Cast(output.call(CheckedOps.Matmul(Precision.Cast(weights, __weights.Bf16), value.call(Precision.Cast(x, __weights.Bf16)), "weights", "v")), ScalarType.Float32));
                }
            }
        }
        """;

    private static readonly Lazy<Type> ModelType = new(() => GeneratorHarness.LoadGenerated(Attention).GetType("Probe.StoredAttention")!);

    [Fact]
    public void A_softmax_read_only_by_a_half_matmul_is_stored_in_half_and_the_generated_code_says_why()
    {
        var text = Generate(Attention);
        Assert.Contains("weights = global::PrecisionDsl.Temporaries.Keep(__temps, global::PrecisionDsl.CheckedOps.Softmax(scores.masked_fill(causal, double.NegativeInfinity), -1, "
            + "storage: __weights.Bf16 /* softmax: fp32 list, computed in fp32; stored in Bf16 as every reader runs in Bf16 */));", text);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Matmul(weights, value.call(", text);
        Assert.DoesNotContain("functional.softmax", text);
    }

    [Theory]
    [InlineData("var weights = functional.softmax(scores, -1); return weights.sum(-1);", "read by an fp32-list op")]
    [InlineData("var weights = functional.softmax(scores, -1); return weights;", "returned")]
    [InlineData("var weights = functional.softmax(scores, -1); return torch.matmul(weights, scores) + weights;", "also read by an operator")]
    [InlineData("var weights = functional.softmax(scores, -1, ScalarType.Float32); return torch.matmul(weights, scores);", "explicit dtype")]
    [InlineData("var weights = functional.softmax(scores, -1); var copy = weights; return torch.matmul(copy, scores);", "copied")]
    [InlineData("var weights = functional.softmax(scores, -1); weights = weights * 2; return torch.matmul(weights, scores);", "reassigned")]
    [InlineData("var weights = torch.zeros(1); weights = functional.softmax(scores, -1); return torch.matmul(weights, scores);", "assigned twice")]
    [InlineData("return fp32.call(functional.softmax(scores, -1));", "read by an fp32 layer")]
    [InlineData("Tensor weights = scores; for (int i = 0; i < 2; i++) { weights = functional.softmax(scores, -1); scores = torch.matmul(weights, scores); } return weights;", "assigned in a loop, returned after it")]
    [InlineData("for (int i = 0; i < 2; i++) { var weights = functional.softmax(scores, -1); scores = torch.matmul(weights, scores) + weights; } return scores;", "in a loop, also read by an operator")]
    [InlineData("for (int i = 0; i < 2; i++) { scores = torch.matmul(scores, scores) + (functional.softmax(scores, -1) is var w ? w : scores); } return scores;", "declared by a pattern")]
    public void Any_other_reader_keeps_the_fp32_softmax(string body, string why)
    {
        var text = Generate(SnapshotTests.Usings + $$"""
            [Bf16]
            public partial class M : Module<Tensor, Tensor>
            {
                private readonly Linear scorer = Linear(4, 4);
                [KeepFp32] private readonly Linear fp32 = Linear(4, 4);
                public M() : base("M") => RegisterComponents();
                [Forward] private Tensor F(Tensor x)
                {
                    var scores = scorer.call(x);
                    {{body.Replace("; ", ";\n")}}
                }
            }
            """);
        Assert.True(!text.Contains("CheckedOps.Softmax") && text.Contains("softmax("), $"{why}: {text}");
    }

    [Theory]
    [InlineData("return torch.matmul(functional.softmax(scores, -1), scores);", "functional.softmax nested in its reader")]
    [InlineData("return torch.matmul(scores.softmax(-1), scores);", "the tensor method")]
    [InlineData("var weights = torch.softmax(dim: -1, input: scores); return scorer.call(weights) + torch.matmul(weights, scores);", "named arguments, two half readers")]
    [InlineData("for (int layer = 0; layer < 2; layer++) { var weights = functional.softmax(scores, -1); scores = torch.matmul(weights, scores); } return scores;", "declared in a loop over layers")]
    [InlineData("if (x.shape[0] > 1) { var weights = functional.softmax(scores, -1); scores = scorer.call(weights); } return scores;", "declared in a branch")]
    public void Every_form_read_only_by_half_ops_is_stored_in_half(string body, string why)
    {
        var text = Generate(SnapshotTests.Usings + $$"""
            [Bf16]
            public partial class M : Module<Tensor, Tensor>
            {
                private readonly Linear scorer = Linear(4, 4);
                public M() : base("M") => RegisterComponents();
                [Forward] private Tensor F(Tensor x)
                {
                    var scores = scorer.call(x);
                    {{body.Replace("; ", ";\n")}}
                }
            }
            """);
        Assert.True(text.Contains("global::PrecisionDsl.CheckedOps.Softmax(") && text.Contains("storage: __weights.Bf16"), $"{why}: {text}");
    }

    [Fact]
    public void A_softmax_in_a_helper_method_read_only_by_a_half_op_is_stored_in_half_and_compiles()
    {
        var text = Generate(SnapshotTests.Usings + """
            [Bf16]
            public partial class M : Module<Tensor, Tensor>
            {
                private readonly Linear scorer = Linear(4, 4);
                public M() : base("M") => RegisterComponents();
                [Forward] private Tensor F(Tensor x) => Attend(scorer.call(x));
                private Tensor Attend(Tensor scores)
                {
                    var weights = functional.softmax(scores, -1);
                    return torch.matmul(weights, scores);
                }
            }
            """);
        Assert.Contains("CheckedOps.Softmax(scores, -1, storage: __weights.Bf16", text);
    }

    [Fact]
    public void Output_and_gradients_are_within_the_half_rounding_of_the_fp32_softmax_emission()
    {
        using var scope = NewDisposeScope();
        var model = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(ModelType.Value)!;
        var x = torch.randn([2, 32, 16], generator: new torch.Generator(41));

        var (stored, storedGrads) = OutputAndGradients(model, x, input => model.call(input));
        var (fp32, fp32Grads) = OutputAndGradients(model, x, input =>
            (Tensor)ModelType.Value.GetMethod("ForwardWithFp32Softmax")!.Invoke(model, new object[] { input })!);

        // The output passes through a bf16 product either way; libtorch's bf16 softmax, where it runs, may round a weight
        // to the neighbouring bf16 value (CheckedOps.Softmax), which that product's own rounding bounds.
        Assert.True((stored - fp32).abs().max().item<float>() <= fp32.abs().max().item<float>() / 64);
        // The gradients pass through bf16 products either way; the stored softmax adds a rounding of its output (2^-8)
        // to the backward, which the products' bf16 rounding of the same size already bounds. Measured against the
        // largest gradient of all: the key bias's is zero but for rounding (softmax ignores a constant added to a row).
        Assert.Equal(fp32Grads.Count, storedGrads.Count);
        var scale = fp32Grads.Max(gradient => gradient.abs().max().item<float>());
        Assert.All(fp32Grads.Zip(storedGrads), pair =>
        {
            var difference = (pair.Second - pair.First).abs().max().item<float>();
            Assert.True(difference <= scale / 64, $"largest difference {difference}, largest gradient {scale}");
        });
    }

    private static string Generate(string source)
    {
        var (generated, output, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", source)));
        // No error anywhere, no warning in the generated file (the test models leave fields unread: CS0414 is theirs).
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error
            || (d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath != "Model.cs")));
        return generated.Single().Value;
    }

    /// <summary>The output and the gradients of the input and of every fp32 master after a backward of its sum of squares.</summary>
    private static (Tensor Output, List<Tensor> Gradients) OutputAndGradients(nn.Module<Tensor, Tensor> model, Tensor x, Func<Tensor, Tensor> forward)
    {
        model.zero_grad();
        var input = x.detach().requires_grad_(true);
        var output = forward(input);
        output.square().sum().backward();
        MixedPrecisionState.MoveGradientsToMasters(model);
        var gradients = new List<Tensor> { input.grad!.clone() };
        gradients.AddRange(model.parameters().Select(p => p.grad!.clone()));
        return (output.detach(), gradients);
    }
}

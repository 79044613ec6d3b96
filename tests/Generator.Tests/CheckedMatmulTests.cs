using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Tests.Support;
using PrecisionDsl.TestModels;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// TorchSharp 0.107's native matmul terminates the process on a shape mismatch. Every matmul of a generated
/// forward goes through <c>CheckedOps.Matmul</c>, so a bad-shaped input throws a managed exception naming
/// the operands as written and their shapes; each test here goes on running after that exception.
/// </summary>
public sealed class CheckedMatmulTests
{
    private const string Projector = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class Projector : Module<Tensor, Tensor, Tensor>
            {
                private readonly Linear proj = Linear(4, 4);

                public Projector() : base(nameof(Projector)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor w)
                {
                    var h = proj.call(x);
                    var scores = h.matmul(w);
                    var twice = torch.matmul(torch.matmul(h, w), (w).transpose(0, 1));
                    return torch.matmul(scores, w.transpose(0, 1)) + twice;
                }
            }
        }
        """;

    [Fact]
    public void Every_matmul_form_in_a_generated_forward_is_routed_through_the_shape_check()
    {
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Projector.cs", Projector)));
        var forward = ForwardText(generated.Single().Value);

        // h comes out of a bf16 layer already; the fp32 parameter w is cast, inside the checked call.
        Assert.Contains("global::PrecisionDsl.CheckedOps.Matmul(h, global::PrecisionDsl.Precision.Cast(w, __weights.Bf16", forward);
        Assert.Contains("), \"h\", \"w\")", forward);
        Assert.Contains("\"torch.matmul(h, w)\", \"(w).transpose(0, 1)\")", forward);
        Assert.Contains("\"scores\", \"w.transpose(0, 1)\")", forward);
        Assert.Equal(4, CountOf(forward, "CheckedOps.Matmul("));
        Assert.Equal(0, CountOf(Regex.Replace(forward, "\"[^\"]*\"", "\"\""), "matmul("));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void Bad_shapes_in_a_generated_forward_throw_naming_operands_and_shapes_and_the_process_goes_on()
    {
        using var scope = NewDisposeScope();
        var model = (nn.Module<Tensor, Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(Projector).GetType("Probe.Projector")!)!;

        var error = Assert.Throws<ArgumentException>(() => model.call(randn(2, 4), randn(5, 3)));

        Assert.Contains("'h' has shape [2, 4] and 'w' has shape [5, 3]", error.Message);
        Assert.Contains("the last dimension of 'h' (4) must equal the second-to-last dimension of 'w' (5)", error.Message);
        // Still alive, and the masters were swapped back: the same model runs a well-shaped input.
        Assert.Equal(new long[] { 2, 4 }, model.call(randn(2, 4), randn(4, 3)).shape);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void A_model_built_by_the_sdk_throws_on_a_batch_its_matmul_cannot_take()
    {
        using var scope = NewDisposeScope();
        var model = new PartialModel();

        // projected is [2, 3, 20]; its transpose(0, 1) is [3, 2, 20]: 20 against 2 cannot be multiplied.
        var error = Assert.Throws<ArgumentException>(() => model.call(randn(2, 3, 20)));

        Assert.Contains("'projected' has shape [2, 3, 20] and 'projected.transpose(0, 1)' has shape [3, 2, 20]", error.Message);
        Assert.Equal(new long[] { 4, 2 }, model.call(randn(4, 20)).shape);
    }

    private const string BatchedAttention = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class BatchedAttention : Module<Tensor, Tensor, Tensor>
            {
                private readonly Linear proj = Linear(4, 4);

                public BatchedAttention() : base(nameof(BatchedAttention)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor w)
                {
                    var h = proj.call(x);
                    var scores = h.bmm(h.transpose(1, 2));
                    var mixed = torch.bmm(scores, h);
                    return mixed.reshape(-1, 4).mm(w);
                }
            }
        }
        """;

    [Fact]
    public void Mm_and_bmm_are_routed_through_their_checked_counterparts_and_name_their_operands()
    {
        using var scope = NewDisposeScope();
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("BatchedAttention.cs", BatchedAttention)));
        var forward = ForwardText(generated.Single().Value);

        Assert.Contains("global::PrecisionDsl.CheckedOps.Bmm(h, h.transpose(1, 2), \"h\", \"h.transpose(1, 2)\")", forward);
        Assert.Contains("var mixed = global::PrecisionDsl.CheckedOps.Bmm(scores, h, \"scores\", \"h\");", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Mm(mixed.reshape(-1, 4), global::PrecisionDsl.Precision.Cast(w, __weights.Bf16", forward);
        Assert.Empty(Regex.Matches(Regex.Replace(forward, "\"[^\"]*\"", "\"\""), @"\.b?mm\("));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));

        var model = (nn.Module<Tensor, Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(BatchedAttention).GetType("Probe.BatchedAttention")!)!;
        Assert.Equal(new long[] { 6, 5 }, model.call(randn(2, 3, 4), randn(4, 5)).shape);
        var error = Assert.Throws<ArgumentException>(() => model.call(randn(2, 3, 4), randn(3, 5)));
        Assert.StartsWith("mm: 'mixed.reshape(-1, 4)' has shape [6, 4] and 'w' has shape [3, 5]", error.Message);
    }

    private const string EinsumMixer = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class EinsumMixer : Module<Tensor, Tensor, Tensor>
            {
                private readonly Linear proj = Linear(4, 4);
                private readonly Parameter gate = Parameter(randn(3, 5));

                public EinsumMixer() : base(nameof(EinsumMixer)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor w)
                {
                    var h = proj.call(x);
                    var mixed = torch.einsum("bij,bkj->bik", h, h);
                    return functional.linear(mixed, gate, bias: null) + torch.nn.functional.linear(mixed, w);
                }
            }
        }
        """;

    [Fact]
    public void Einsum_and_functional_linear_go_through_the_runtime_with_their_arguments_as_written()
    {
        using var scope = NewDisposeScope();
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("EinsumMixer.cs", EinsumMixer)));
        var forward = ForwardText(generated.Single().Value);

        Assert.Contains("var mixed = global::PrecisionDsl.CheckedOps.Einsum(\"bij,bkj->bik\", h, h);", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Linear(mixed, global::PrecisionDsl.Precision.Cast(gate, __weights.Bf16", forward);
        Assert.Contains(", bias: null)", forward);
        Assert.Equal(2, CountOf(forward, "CheckedOps.Linear("));
        Assert.Empty(Regex.Matches(Regex.Replace(forward, "\"[^\"]*\"", "\"\""), @"(einsum|functional\.linear)\("));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));

        var model = (nn.Module<Tensor, Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(EinsumMixer).GetType("Probe.EinsumMixer")!)!;
        Assert.Equal(new long[] { 2, 5, 3 }, model.call(randn(2, 5, 4), randn(3, 5)).shape);
    }

    private const string ConvMixer = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class ConvMixer : Module<Tensor, Tensor, Tensor>
            {
                private readonly Parameter filters = Parameter(randn(4, 3, 3, 3));

                public ConvMixer() : base(nameof(ConvMixer)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor w)
                {
                    var h = functional.conv2d(x, filters, padding: new long[] { 1, 1 });
                    return torch.nn.functional.conv_transpose2d(h, w, strides: new long[] { 2, 2 });
                }
            }
        }
        """;

    [Fact]
    public void Functional_convolutions_go_through_the_runtime_with_their_arguments_as_written()
    {
        using var scope = NewDisposeScope();
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("ConvMixer.cs", ConvMixer)));
        var forward = ForwardText(generated.Single().Value);

        Assert.Contains("global::PrecisionDsl.CheckedOps.Conv2d(", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.ConvTranspose2d(", forward);
        Assert.Contains("padding: new long[] { 1, 1 })", forward);
        Assert.Empty(Regex.Matches(forward, @"functional\.conv"));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));

        var model = (nn.Module<Tensor, Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(ConvMixer).GetType("Probe.ConvMixer")!)!;
        Assert.Equal(new long[] { 2, 5, 17, 17 }, model.call(randn(2, 3, 8, 8), randn(4, 5, 3, 3)).shape);
    }

    private const string WrittenFreely = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class WrittenFreely : Module<Tensor, Tensor, Tensor>
            {
                private readonly Linear proj = Linear(4, 4);

                public WrittenFreely() : base(nameof(WrittenFreely)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor w)
                {
                    var h = proj.call(x);
                    var named = torch.matmul(target: w, input: h);
                    var commented = h.matmul(/* right operand */ w);
                    var broken = torch.mm(
                        h, // rows
                        w);
                    var batched = torch /* static */ .bmm(input: h.unsqueeze(0), batch2: w.unsqueeze(0)).squeeze(0);
                    var summed = torch.einsum(
                        "ij,jk->ik", // equation
                        h, w);
                    var projected = functional.linear(input: named, weights: w.t());
                    return named + commented + broken + batched + summed + projected;
                }
            }
        }
        """;

    [Fact]
    public void Products_written_with_named_arguments_comments_or_line_breaks_are_routed_too()
    {
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("WrittenFreely.cs", WrittenFreely)));
        var forward = ForwardText(generated.Single().Value);

        Assert.Contains("global::PrecisionDsl.CheckedOps.Matmul(right: ", forward);
        Assert.Contains("leftName: \"h\", rightName: \"w\")", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Matmul(h, /* right operand */ ", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Mm(", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Bmm(left: h.unsqueeze(0), right: ", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Einsum(", forward);
        Assert.Contains("global::PrecisionDsl.CheckedOps.Linear(input: ", forward);
        Assert.Empty(Regex.Matches(Regex.Replace(forward, "\"[^\"]*\"", "\"\""), @"(matmul|\.b?mm|einsum|functional\.linear)\("));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
    }

    [Fact]
    public void A_named_argument_matmul_with_bad_shapes_throws_instead_of_aborting()
    {
        using var scope = NewDisposeScope();
        var model = (nn.Module<Tensor, Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(WrittenFreely).GetType("Probe.WrittenFreely")!)!;

        Assert.Equal(new long[] { 2, 4 }, model.call(randn(2, 4), randn(4, 4)).shape);
        var error = Assert.Throws<ArgumentException>(() => model.call(randn(2, 4), randn(5, 3)));
        Assert.Contains("'h' has shape [2, 4] and 'w' has shape [5, 3]", error.Message);
    }

    private static string ForwardText(string generated)
    {
        var start = generated.IndexOf("override", StringComparison.Ordinal);
        return generated.Substring(start);
    }

    private static int CountOf(string text, string part) =>
        Enumerable.Range(0, text.Length - part.Length + 1).Count(i => string.CompareOrdinal(text, i, part, 0, part.Length) == 0);
}

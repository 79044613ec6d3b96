using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Planning;
using PrecisionDsl.Generator.Policy;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>The planner API the analyzers read: precision decisions, problems with locations, and PrecisionAt.</summary>
public sealed class PlannerTests
{
    private static (ModelPlan Plan, string Source) Analyze(string model, string className = "M")
    {
        var source = SnapshotTests.Usings + model;
        var compilation = GeneratorHarness.Compile(("Model.cs", source));
        var type = compilation.GetTypeByMetadataName(className)!;
        return (PrecisionAnalysis.Analyze(type, compilation, default)!, source);
    }

    private static TextSpan SpanOf(string source, string text, int occurrence = 0)
    {
        var index = -1;
        for (var i = 0; i <= occurrence; i++)
        {
            index = source.IndexOf(text, index + 1, System.StringComparison.Ordinal);
        }

        return new TextSpan(index, text.Length);
    }

    [Fact]
    public void Member_attribute_beats_class_attribute_which_beats_fp32()
    {
        var (plan, _) = Analyze("""
            [Fp16] public partial class M : Module<Tensor, Tensor>
            {
                [Bf16] Linear a = Linear(2, 2);
                Linear b = Linear(2, 2);
                [KeepFp32] Linear c = Linear(2, 2);
                LayerNorm n = LayerNorm(2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => n.call(c.call(b.call(a.call(x))));
                [LossScaled] Tensor L(Tensor y, Tensor t) => y - t;
            }
            """);

        Assert.Equal(Model.PrecisionKind.Bf16, plan.Layer("a")!.Kind);
        Assert.Equal(Model.PrecisionKind.Fp16, plan.Layer("b")!.Kind);
        Assert.Equal(Model.PrecisionKind.Fp32, plan.Layer("c")!.Kind);
        Assert.Equal(Model.PrecisionKind.Fp32, plan.Layer("n")!.Kind);
        Assert.Contains("numerically sensitive", plan.Layer("n")!.Reason);
        Assert.Empty(plan.Problems);
    }

    [Fact]
    public void Problems_point_at_the_offending_attribute_member_or_method()
    {
        var (plan, source) = Analyze("""
            public partial class M : Module<Tensor, Tensor>
            {
                [Fp16][Bf16] Linear a = Linear(2, 2);
                [Fp16] LayerNorm n = LayerNorm(2);
                [Bf16] Tensor t = torch.zeros(2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x, Tensor y) => x;
                [LossScaled] int L(Tensor y) => 0;
            }
            """);

        string Text(PlanProblem p) => source.Substring(p.Location.Span.Start, p.Location.Span.Length);
        Assert.Equal("Bf16", Text(Assert.Single(plan.Problems, p => p.RuleId == RuleIds.ConflictingAttributes)));
        Assert.Equal("Fp16", Text(Assert.Single(plan.Problems, p => p.RuleId == RuleIds.SensitiveLayerInHalf)));
        Assert.Equal("Bf16", Text(Assert.Single(plan.Problems, p => p.RuleId == RuleIds.UnknownLayerAnnotated)));
        Assert.Equal("F", Text(Assert.Single(plan.Problems, p => p.RuleId == RuleIds.ForwardProblem)));
        Assert.Equal("L", Text(Assert.Single(plan.Problems, p => p.RuleId == RuleIds.LossNotTensor)));
        Assert.True(plan.IsRejected);
    }

    [Fact]
    public void Shape_problems_are_reported_on_the_class()
    {
        var (notPartial, _) = Analyze("[Bf16] public class M : Module<Tensor, Tensor> { public M() : base(\"M\") { } public override Tensor forward(Tensor x) => x; }");
        var (notModule, _) = Analyze("[Bf16] public partial class M { }");
        var (noForward, _) = Analyze("[Bf16] public partial class M : Module<Tensor, Tensor> { public M() : base(\"M\") { } }");

        Assert.Contains(notPartial.Problems, p => p.RuleId == RuleIds.NotPartial && p.Subject == "M");
        Assert.Equal(new[] { RuleIds.NotAModule }, notModule.Problems.Select(p => p.RuleId));
        Assert.Equal(new[] { RuleIds.ForwardProblem }, noForward.Problems.Select(p => p.RuleId));
    }

    [Fact]
    public void Fp16_without_a_loss_scaled_loss_is_reported_on_the_fp16_attribute()
    {
        const string Model = """
            public partial class M : Module<Tensor, Tensor>
            {
                [Fp16] Linear a = Linear(2, 2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => a.call(x);
                LOSS
            }
            """;
        var (withoutLoss, source) = Analyze(Model.Replace("LOSS", ""));
        var (withLoss, _) = Analyze(Model.Replace("LOSS", "[LossScaled] Tensor L(Tensor y, Tensor t) => y - t;"));
        var (bf16, _) = Analyze(Model.Replace("LOSS", "").Replace("[Fp16]", "[Bf16]"));

        var problem = Assert.Single(withoutLoss.Problems);
        Assert.Equal(RuleIds.Fp16WithoutLossScaling, problem.RuleId);
        Assert.Equal("Fp16", source.Substring(problem.Location.Span.Start, problem.Location.Span.Length));
        Assert.Empty(withLoss.Problems);
        Assert.Empty(bf16.Problems);
    }

    [Fact]
    public void Fp32_list_op_receiving_a_half_tensor_is_reported_as_promoted_whatever_the_class_default()
    {
        var (half, source) = Analyze("""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                Linear a = Linear(2, 2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => functional.softmax(a.call(x), -1);
            }
            """);
        var (halfLayerOnly, _) = Analyze("""
            public partial class M : Module<Tensor, Tensor>
            {
                [Bf16] Linear a = Linear(2, 2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => functional.softmax(a.call(x), -1);
            }
            """);
        var (fp32Input, _) = Analyze("""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                [KeepFp32] Linear a = Linear(2, 2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => functional.softmax(a.call(x), -1);
            }
            """);

        var promoted = Assert.Single(half.Problems);
        Assert.Equal(RuleIds.Fp32OpPromoted, promoted.RuleId);
        Assert.StartsWith("functional.softmax(", source.Substring(promoted.Location.Span.Start));
        Assert.Equal("softmax receives a Bf16 tensor and runs in fp32 (op policy: fp32 list)", Assert.Single(halfLayerOnly.Problems).Detail);
        Assert.Empty(fp32Input.Problems);
    }

    [Fact]
    public void PrecisionAt_tells_which_dtype_a_literal_runs_in()
    {
        var (plan, source) = Analyze("""
            [Fp16] public partial class M : Module<Tensor, Tensor, Tensor>
            {
                Linear a = Linear(2, 2);
                [Fp16] LayerNorm halfNorm = LayerNorm(2, eps: 1e-8);
                LayerNorm norm = LayerNorm(2, eps: 1e-9);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x, Tensor mask)
                {
                    var h = a.call(x);
                    var scaled = h * 1e-9;
                    var filled = torch.matmul(h, h).masked_fill(mask, -1e9);
                    return norm.call(halfNorm.call(filled)) + functional.softmax(h, -1) * 1e-10;
                }
                [LossScaled] Tensor L(Tensor y, Tensor t) => y - t;
            }
            """);

        ExpressionPrecision At(string context, string literal)
        {
            var span = SpanOf(source, context);
            return plan.PrecisionAt("Model.cs", new TextSpan(span.Start + context.IndexOf(literal, System.StringComparison.Ordinal), literal.Length))!;
        }

        Assert.Equal(StaticDtype.Fp16, At("h * 1e-9", "1e-9").RunsIn);
        Assert.Equal(StaticDtype.Fp16, At("-1e9", "-1e9").RunsIn);
        Assert.Equal(StaticDtype.Fp32, At("1e-10", "1e-10").RunsIn);
        Assert.True(At("eps: 1e-8", "1e-8").IsHalf);
        Assert.False(At("eps: 1e-9", "1e-9").IsHalf);
        Assert.Null(plan.PrecisionAt("Other.cs", SpanOf(source, "-1e9")));
    }

    [Fact]
    public void Casts_are_planned_only_where_the_dtype_changes()
    {
        var (plan, _) = Analyze("""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                Linear a = Linear(2, 2);
                Linear b = Linear(2, 2);
                LayerNorm n = LayerNorm(2);
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x)
                {
                    var h = a.call(x);
                    for (var i = 0; i < 3; i++) { h = functional.relu(b.call(h)); }
                    return n.call(h);
                }
            }
            """);

        var forward = plan.Forward!;
        string CastsInto(string layer) => string.Join(",", Enumerable.Range(0, forward.Body.Nodes.Count)
            .Where(i => forward.Body.Nodes[i].Kind == ExprKind.LayerCall && forward.Body.Nodes[i].Name == layer)
            .SelectMany(i => forward.Nodes[i].CastInputs)
            .Select(input => forward.Body.Nodes[input].Name));
        Assert.Equal("x", CastsInto("a"));   // a parameter's dtype is known only at run time
        Assert.Equal("", CastsInto("b"));    // h is bf16 on every path into the loop
        Assert.Equal("h", CastsInto("n"));   // LayerNorm stays fp32
    }
}

using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using PrecisionDsl.CodeFixes;
using PrecisionDsl.Generator.Diagnostics;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL011ManualCastTests
{
    private const string Model = """
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x)
            {
                BODY
            }

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    private static string WithBody(string body) => Model.Replace("BODY", body);

    [Theory]
    [InlineData("return fc.call(x.{|PDSL011:half()|});")]
    [InlineData("return fc.call(x.{|PDSL011:bfloat16()|});")]
    [InlineData("return fc.call(x.{|PDSL011:to(float16)|});")]
    [InlineData("return fc.call(x.{|PDSL011:to(ScalarType.BFloat16)|});")]
    [InlineData("return fc.call(x.{|PDSL011:to_type(torch.half)|});")]
    [InlineData("return fc.call(x.{|PDSL011:type(ScalarType.Float16)|});")]
    [InlineData("var h = fc.call(x).{|PDSL011:to(ScalarType.Float16, x.device)|}; return h;")]
    [InlineData("return fc.call(x.{|PDSL011:to(type: (ScalarType)15)|});")]
    [InlineData("return fc.call(x.{|PDSL011:to(torch.bfloat16, copy: true)|});")]
    public Task Half_cast_inside_forward_is_reported(string body) => Verify.AnalyzerAsync(WithBody(body));

    [Theory]
    // Casting to fp32 only keeps work in full precision: the generator's plan is not contradicted.
    [InlineData("return fc.call(x).to(float32);")]
    [InlineData("return fc.call(x).@float();")]
    [InlineData("return fc.call(x.to(x.device));")]
    [InlineData("return fc.call(x.to((ScalarType)6));")]
    public Task Fp32_cast_or_device_move_stays_silent(string body) => Verify.AnalyzerAsync(WithBody(body));

    [Fact]
    public Task Half_cast_outside_forward_stays_silent() => Verify.AnalyzerAsync("""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            public Tensor Export(Tensor x) => fc.call(x).half();

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """);

    [Fact]
    public Task Half_cast_in_a_helper_the_generator_rewrites_is_reported() => Verify.AnalyzerAsync("""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => Block(x);

            private Tensor Block(Tensor x) => fc.call(x).{|#0:bfloat16()|};

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """,
        new DiagnosticResult(DiagnosticDescriptors.ManualCast).WithLocation(0).WithArguments("fc.call(x).bfloat16()", "bfloat16 by hand inside 'Block', which the generated forward calls rewritten"));

    [Fact]
    public Task Half_cast_in_a_model_rejected_for_another_rule_is_reported_too() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x.{|PDSL011:half()|});

            [LossScaled]
            private float {|PDSL007:Loss|}(Tensor output, Tensor target) => functional.mse_loss(output, target).item<float>();
        }
        """);

    [Fact]
    public Task Fix_removes_the_cast_in_a_helper() => Verify.CodeFixAsync<RemoveManualCastCodeFixProvider>(
        WithBody("return Block(x);\n    }\n    private Tensor Block(Tensor x)\n    {\n        return fc.call(x.{|PDSL011:half()|});"),
        WithBody("return Block(x);\n    }\n    private Tensor Block(Tensor x)\n    {\n        return fc.call(x);"));

    [Fact]
    public Task Fix_removes_the_cast() => Verify.CodeFixAsync<RemoveManualCastCodeFixProvider>(
        WithBody("return fc.call(x.{|PDSL011:half()|});"),
        WithBody("return fc.call(x);"));

    [Fact]
    public Task Fix_removes_every_cast_in_a_chain() => Verify.CodeFixAsync<RemoveManualCastCodeFixProvider>(
        WithBody("var h = fc.call(x.{|PDSL011:to(float16)|}); return functional.relu(h).{|PDSL011:bfloat16()|};"),
        WithBody("var h = fc.call(x); return functional.relu(h);"));

    [Fact]
    public Task No_fix_when_the_cast_also_moves_device() => Verify.CodeFixAsync<RemoveManualCastCodeFixProvider>(
        WithBody("return fc.call(x.{|PDSL011:to(ScalarType.Float16, x.device)|});"),
        WithBody("return fc.call(x.{|PDSL011:to(ScalarType.Float16, x.device)|});"));
}

using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using PrecisionDsl.CodeFixes;
using PrecisionDsl.Generator.Diagnostics;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.HalfConstantAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL005HalfConstantTests
{
    private static string Attention(string classAttribute, string body) => $$"""
        {{classAttribute}}
        public partial class Attention : Module<Tensor, Tensor, Tensor>
        {
            private readonly Linear query = Linear(8, 8);
            private readonly Linear key = Linear(8, 8);
            private const double MaskValue = -1e9;
            public Attention() : base(nameof(Attention)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x, Tensor mask)
            {
                var scores = torch.matmul(query.call(x), key.call(x).transpose(-2, -1));
                {{body}}
            }

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    private static string Layers(string members) => $$"""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(8, 8);
            {{members}}
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => norm.call(fc.call(x));

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    [Theory]
    [InlineData("return functional.softmax(scores.masked_fill(mask, {|PDSL005:-1e9|}), -1);")]
    [InlineData("return scores * {|PDSL005:1e-9|};")]
    [InlineData("return scores.add({|PDSL005:1e5|});")]
    [InlineData("return {|PDSL005:100000|} * scores;")]
    [InlineData("return functional.normalize(scores, eps: {|PDSL005:1e-12|});")]
    [InlineData("var hidden = scores.masked_fill(mask, {|PDSL005:float.MinValue|}); return hidden;")]
    [InlineData("return scores.masked_fill(mask, {|PDSL005:MaskValue|});")]
    [InlineData("return scores + torch.full_like(scores, {|PDSL005:-1e9|});")]
    [InlineData("return scores.clamp(min: {|PDSL005:1e-9|});")]
    public Task Constant_reaching_fp16_code_is_reported(string body) => Verify.AnalyzerAsync(Attention("[Fp16]", body));

    [Theory]
    // Representable in fp16: -65504 is finfo(float16).min; 1e-5 is a (subnormal) fp16 value.
    [InlineData("[Fp16]", "return functional.softmax(scores.masked_fill(mask, -65504), -1);")]
    [InlineData("[Fp16]", "return scores * 1e-5;")]
    // Sizes and dims are not tensor values.
    [InlineData("[Fp16]", "return scores.view(-1, 100000);")]
    // bf16 has fp32's range.
    [InlineData("[Bf16]", "return functional.softmax(scores.masked_fill(mask, -1e9), -1);")]
    // fp32 model: the same literal is fine.
    [InlineData("", "return functional.softmax(scores.masked_fill(mask, -1e9), -1);")]
    // After an fp32-list op the tensor is fp32.
    [InlineData("[Fp16]", "return functional.softmax(scores, -1) * 1e-9;")]
    // The raw input's dtype is the caller's (fp32): only the plan's certain half counts.
    [InlineData("[Fp16]", "return scores + x * 1e-9;")]
    public Task Constant_in_fp32_or_range_safe_code_stays_silent(string classAttribute, string body) =>
        Verify.AnalyzerAsync(Attention(classAttribute, body));

    [Theory]
    [InlineData("[Fp16]", "return scores.masked_fill(mask, {|#0:-1e9|});", "-1e9", "float16", "-inf", "float16 overflows above 65504", "-65504 (float16's largest finite magnitude)")]
    [InlineData("[Fp16]", "return scores * {|#0:1e-9|};", "1e-9", "float16", "0", "float16 flushes magnitudes below 5.96e-8 to zero", "6.103515625e-5 (float16's smallest normal)")]
    [InlineData("[Fp16]", "return scores.masked_fill(mask, {|#0:MaskValue|});", "'MaskValue' (-1e9)", "float16", "-inf", "float16 overflows above 65504", "-65504 (float16's largest finite magnitude)")]
    [InlineData("[Bf16]", "return scores * {|#0:1e-41|};", "1e-41", "bfloat16", "0", "bfloat16 flushes magnitudes below 9.18e-41 to zero", "1.2e-38 (bfloat16's smallest normal)")]
    public Task Message_says_what_the_constant_becomes(string classAttribute, string body, string constant, string format, string becomes, string why, string use) =>
        Verify.AnalyzerAsync(
            Attention(classAttribute, body),
            new DiagnosticResult(DiagnosticDescriptors.ConstantOutOfHalfRange).WithLocation(0).WithArguments(constant, format, becomes, why, use));

    [Fact]
    public Task Constant_in_a_helper_called_from_Forward_is_reported() => Verify.AnalyzerAsync("""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(8, 8);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => Project(x);

            private Tensor Project(Tensor x) => fc.call(x) * {|PDSL005:1e-9|};

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """);

    [Fact]
    public Task Eps_of_a_norm_forced_to_fp16_is_reported() => Verify.AnalyzerAsync(Layers(
        "[Fp16] private readonly LayerNorm norm = LayerNorm(8, eps: {|PDSL005:1e-8|});"));

    [Fact]
    public Task Eps_of_a_norm_the_policy_keeps_in_fp32_stays_silent() => Verify.AnalyzerAsync(Layers(
        "private readonly LayerNorm norm = LayerNorm(8, eps: 1e-8);"));

    [Fact]
    public Task Fix_uses_the_largest_finite_fp16_magnitude() => Verify.CodeFixAsync<HalfSafeConstantCodeFixProvider>(
        Attention("[Fp16]", "return functional.softmax(scores.masked_fill(mask, {|PDSL005:-1e9|}), -1);"),
        Attention("[Fp16]", "return functional.softmax(scores.masked_fill(mask, -65504), -1);"),
        HalfSafeConstantCodeFixProvider.SafeValueKey);

    [Fact]
    public Task Fix_keeps_the_float_suffix() => Verify.CodeFixAsync<HalfSafeConstantCodeFixProvider>(
        Attention("[Fp16]", "return scores * {|PDSL005:1e-9f|};"),
        Attention("[Fp16]", "return scores * 6.103515625e-5f;"),
        HalfSafeConstantCodeFixProvider.SafeValueKey);

    [Fact]
    public Task Fix_keeps_a_half_layer_with_a_tiny_eps_in_fp32() => Verify.CodeFixAsync<HalfSafeConstantCodeFixProvider>(
        Layers("[Fp16] private readonly LayerNorm norm = LayerNorm(8, eps: {|PDSL005:1e-8|});"),
        Layers("[KeepFp32] private readonly LayerNorm norm = LayerNorm(8, eps: 1e-8);"),
        HalfSafeConstantCodeFixProvider.KeepFp32Key);
}

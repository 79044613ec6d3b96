using System.Threading.Tasks;
using PrecisionDsl.CodeFixes;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL004SensitiveLayerTests
{
    private static string Model(string normMember) => $$"""
        [Fp16]
        public partial class Block : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(8, 8);
            {{normMember}}
            public Block() : base(nameof(Block)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => norm.call(fc.call(x));

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    [Theory]
    [InlineData("[{|PDSL004:Fp16|}] private readonly LayerNorm norm = LayerNorm(8);")]
    [InlineData("[{|PDSL004:Bf16|}] private readonly BatchNorm1d norm = BatchNorm1d(8);")]
    [InlineData("[{|PDSL004:Fp16|}] private readonly GroupNorm norm = GroupNorm(2, 8);")]
    [InlineData("[{|PDSL004:Fp16|}] private readonly Softmax norm = Softmax(1);")]
    public Task Sensitive_layer_forced_to_half_is_reported_on_the_attribute(string member) => Verify.AnalyzerAsync(Model(member));

    [Theory]
    // Inheriting the class default: the op policy keeps a norm in fp32 by itself.
    [InlineData("private readonly LayerNorm norm = LayerNorm(8);")]
    [InlineData("[KeepFp32] private readonly LayerNorm norm = LayerNorm(8);")]
    // A compute layer in half is the point of the attribute.
    [InlineData("[Fp16] private readonly Linear norm = Linear(8, 8);")]
    public Task Sensitive_layer_left_to_the_policy_or_compute_layer_in_half_stays_silent(string member) => Verify.AnalyzerAsync(Model(member));

    [Fact]
    public Task Fix_replaces_the_attribute_with_KeepFp32() => Verify.CodeFixAsync<UseKeepFp32CodeFixProvider>(
        Model("[{|PDSL004:Fp16|}] private readonly LayerNorm norm = LayerNorm(8);"),
        Model("[KeepFp32] private readonly LayerNorm norm = LayerNorm(8);"));
}

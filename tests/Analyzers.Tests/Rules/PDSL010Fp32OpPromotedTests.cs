using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL010Fp32OpPromotedTests
{
    private static string Model(string classAttribute, string body, string fcAttribute = "") => $$"""
        {{classAttribute}}
        public partial class Head : Module<Tensor, Tensor>
        {
            {{fcAttribute}} private readonly Linear fc = Linear(8, 4);
            [KeepFp32] private readonly Linear keep = Linear(8, 4);
            public Head() : base(nameof(Head)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => {{body}};
        }
        """;

    [Theory]
    [InlineData("functional.{|PDSL010:log_softmax|}(fc.call(x), 1)")]
    [InlineData("fc.call(x).{|PDSL010:softmax|}(-1)")]
    [InlineData("torch.{|PDSL010:exp|}(fc.call(x))")]
    public Task Fp32_list_op_in_a_half_model_is_reported_on_its_name(string body) => Verify.AnalyzerAsync(Model("[Bf16]", body));

    // Fp32 statically: the output of a [KeepFp32] layer or of another fp32-list op needs no cast.
    [Theory]
    [InlineData("functional.log_softmax(keep.call(x), 1)")]
    [InlineData("torch.exp(functional.{|PDSL010:log_softmax|}(fc.call(x), 1))")]
    [InlineData("torch.exp(torch.{|PDSL010:exp|}(fc.call(x)) + 1)")]
    public Task Fp32_list_op_whose_input_is_fp32_in_a_half_model_stays_silent(string body) => Verify.AnalyzerAsync(Model("[Bf16]", body));

    // Half statically, whatever the class default: a half layer feeding an fp32-list op is cast.
    [Theory]
    [InlineData("[Bf16]", "functional.{|PDSL010:log_softmax|}(fc.call(x), 1)")]
    // (and PDSL006: an fp16 layer with no [LossScaled] loss)
    [InlineData("[{|PDSL006:Fp16|}]", "functional.{|PDSL010:log_softmax|}(fc.call(x), 1) + functional.log_softmax(keep.call(x), 1)")]
    public Task Fp32_list_op_fed_by_a_half_layer_in_an_fp32_model_is_reported(string fcAttribute, string body) =>
        Verify.AnalyzerAsync(Model("", body, fcAttribute));

    // Known only at run time (a forward parameter): reported in a half model as before, silent in an fp32 model.
    [Theory]
    [InlineData("[Bf16]", "functional.{|PDSL010:log_softmax|}(x, 1)")]
    [InlineData("[Bf16]", "functional.{|PDSL010:log_softmax|}(keep.call(x) + x, 1)")]
    [InlineData("", "functional.log_softmax(x, 1)")]
    public Task Fp32_list_op_whose_input_dtype_only_the_run_time_knows_follows_the_class_default(string classAttribute, string body) =>
        Verify.AnalyzerAsync(Model(classAttribute, body));

    [Theory]
    [InlineData("[Bf16]", "functional.relu(fc.call(x))")]
    [InlineData("", "functional.log_softmax(fc.call(x), 1)")]
    public Task Pass_through_op_or_fp32_model_stays_silent(string classAttribute, string body) =>
        Verify.AnalyzerAsync(Model(classAttribute, body));

    [Fact]
    public Task Message_names_the_half_dtype_the_op_receives() => Verify.AnalyzerAsync(
        Model("", "functional.{|#0:log_softmax|}(fc.call(x), 1)", "[Bf16]"),
        new DiagnosticResult("PDSL010", DiagnosticSeverity.Info).WithLocation(0).WithArguments(
            "log_softmax", "log_softmax receives a Bf16 tensor and runs in fp32 (op policy: fp32 list)"));
}

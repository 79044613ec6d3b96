using System.Threading.Tasks;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL010Fp32OpPromotedTests
{
    private static string Model(string classAttribute, string body) => $$"""
        {{classAttribute}}
        public partial class Head : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(8, 4);
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

    [Theory]
    [InlineData("[Bf16]", "functional.relu(fc.call(x))")]
    [InlineData("", "functional.log_softmax(fc.call(x), 1)")]
    public Task Pass_through_op_or_fp32_model_stays_silent(string classAttribute, string body) =>
        Verify.AnalyzerAsync(Model(classAttribute, body));
}

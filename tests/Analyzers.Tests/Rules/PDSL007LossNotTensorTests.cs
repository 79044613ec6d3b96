using System.Threading.Tasks;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL007LossNotTensorTests
{
    private static string Model(string loss) => $$"""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [LossScaled]
            {{loss}}
        }
        """;

    [Theory]
    [InlineData("private float {|PDSL007:Loss|}(Tensor logits, Tensor target) => functional.cross_entropy(logits, target).item<float>();")]
    [InlineData("private void {|PDSL007:Loss|}(Tensor logits, Tensor target) => functional.cross_entropy(logits, target).backward();")]
    public Task Loss_that_is_not_a_Tensor_is_reported_on_the_method(string loss) => Verify.AnalyzerAsync(Model(loss));

    [Fact]
    public Task Tensor_loss_stays_silent() => Verify.AnalyzerAsync(Model(
        "private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);"));
}

using System.Threading.Tasks;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL006MissingLossScalingTests
{
    [Fact]
    public Task Fp16_model_without_a_loss_is_reported_on_its_Fp16_attribute() => Verify.AnalyzerAsync("""
        [{|PDSL006:Fp16|}]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Fp16_layer_in_an_fp32_model_without_a_loss_is_reported() => Verify.AnalyzerAsync("""
        public partial class Net : Module<Tensor, Tensor>
        {
            [{|PDSL006:Fp16|}] private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Bf16_model_without_a_loss_stays_silent() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Fp16_model_with_a_LossScaled_loss_stays_silent() => Verify.AnalyzerAsync("""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [LossScaled(InitialScale = 1024)]
            private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
        }
        """);
}

using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
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

    // The class default reaches nothing: every layer stays fp32 and no half-list op runs in fp16.
    [Theory]
    [InlineData("norm.call(functional.relu(fc.call(x)))")]
    [InlineData("act.call(norm.call(x))")]
    public Task Fp16_model_in_which_nothing_runs_in_fp16_stays_silent(string forward) => Verify.AnalyzerAsync($$"""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        {
            [KeepFp32] private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
            private readonly GRU rnn = GRU(4, 4);
            private readonly ReLU act = ReLU();
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => {{forward}};
        }
        """);

    [Theory]
    [InlineData("torch.matmul(fc.call(x), x)")]
    [InlineData("Project(fc.call(x))")]
    public Task Fp16_model_whose_forward_or_helper_runs_a_half_list_op_in_fp16_is_reported(string forward) => Verify.AnalyzerAsync($$"""
        [{|PDSL006:Fp16|}]
        public partial class Net : Module<Tensor, Tensor>
        {
            [KeepFp32] private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => {{forward}};

            private Tensor Project(Tensor h) => functional.linear(h, fc.weight!);
        }
        """);

    [Fact]
    public Task Message_names_the_half_list_op_when_no_layer_runs_in_fp16() => Verify.AnalyzerAsync("""
        [{|#0:Fp16|}]
        public partial class Net : Module<Tensor, Tensor>
        {
            [KeepFp32] private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => torch.matmul(fc.call(x), x);
        }
        """,
        DiagnosticResult.CompilerWarning("PDSL006").WithLocation(0).WithArguments("Net", "matmul in fp16 but no [LossScaled] loss method"));

    [Fact]
    public Task Fp16_activation_in_an_fp32_model_stays_silent() => Verify.AnalyzerAsync("""
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            [Fp16] private readonly ReLU act = ReLU();
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => act.call(fc.call(x));
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

using System.Threading.Tasks;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL008ForwardTests
{
    [Fact]
    public Task Model_without_Forward_is_reported_on_its_name() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class {|PDSL008:Net|} : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Model_declaring_forward_itself_gets_one_diagnostic_saying_what_to_do() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class {|#0:Net|} : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            public override Tensor forward(Tensor x) => fc.call(x);
        }
        """,
        Microsoft.CodeAnalysis.Testing.DiagnosticResult.CompilerError("PDSL008").WithLocation(0).WithArguments(
            "Net",
            "it declares forward itself instead of a [Forward] method; move the body of forward into a method marked [Forward] and delete forward: the generator writes forward from that method"));

    [Fact]
    public Task Second_Forward_is_reported() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [Forward]
            private Tensor {|PDSL008:Other|}(Tensor x) => fc.call(x) * 2;
        }
        """);

    [Fact]
    public Task Forward_with_the_wrong_parameters_is_reported_on_the_method() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class Pair : Module<Tensor, Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Pair() : base(nameof(Pair)) => RegisterComponents();

            [Forward]
            private Tensor {|PDSL008:Compute|}(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Forward_matching_a_two_input_module_stays_silent() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class Pair : Module<Tensor, Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Pair() : base(nameof(Pair)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x, Tensor y) => fc.call(x) + y;
        }
        """);
}

using System.Threading.Tasks;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL002NotAModuleTests
{
    [Fact]
    public Task Annotated_class_without_a_module_base_is_reported_on_its_name() => Verify.AnalyzerAsync("""
        [Bf16]
        public partial class {|PDSL002:Encoder|}
        {
            private readonly Linear fc = Linear(16, 16);
        }
        """);

    [Fact]
    public Task Untyped_module_base_is_reported() => Verify.AnalyzerAsync("""
        public partial class {|PDSL002:Encoder|} : Module
        {
            [Bf16] private readonly Linear fc = Linear(16, 16);
            public Encoder() : base(nameof(Encoder)) { }
        }
        """);

    [Fact]
    public Task Typed_module_through_an_intermediate_base_stays_silent() => Verify.AnalyzerAsync("""
        public abstract class Block : Module<Tensor, Tensor>
        {
            protected Block(string name) : base(name) { }
        }

        [Bf16]
        public partial class Encoder : Block
        {
            private readonly Linear fc = Linear(16, 16);
            public Encoder() : base(nameof(Encoder)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """);
}

using System.Threading.Tasks;
using PrecisionDsl.CodeFixes;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL009UnknownLayerTests
{
    private static string Model(string member) => $$"""
        public sealed class Custom : Module<Tensor, Tensor>
        {
            public Custom() : base(nameof(Custom)) { }
            public override Tensor forward(Tensor x) => x * 2;
        }

        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            {{member}}
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }
        """;

    [Theory]
    [InlineData("[{|PDSL009:Bf16|}] private readonly Custom custom = new Custom();")]
    [InlineData("[{|PDSL009:Bf16|}] private readonly Tensor scale = torch.ones(4);")]
    // TorchSharp keeps these weights in native code: no half copy can be made.
    [InlineData("[{|PDSL009:Bf16|}] private readonly LSTM rnn = LSTM(4, 4);")]
    [InlineData("[{|PDSL009:Bf16|}] private readonly MultiheadAttention attention = MultiheadAttention(4, 2);")]
    public Task Annotated_member_that_is_no_known_layer_is_reported_on_the_attribute(string member) => Verify.AnalyzerAsync(Model(member));

    [Fact]
    public Task Annotated_known_layer_stays_silent() => Verify.AnalyzerAsync(Model("[Bf16] private readonly Conv1d conv = Conv1d(4, 4, 3);"));

    // Without an attribute there is nothing to remove: PDSL015 says that it runs in fp32 instead.
    [Fact]
    public Task Unannotated_custom_module_is_left_to_PDSL015() => Verify.AnalyzerAsync(Model("private readonly Custom {|PDSL015:custom|} = new Custom();"));

    [Fact]
    public Task Fix_removes_the_attribute() => Verify.CodeFixAsync<RemoveAttributeCodeFixProvider>(
        Model("""
            // the custom block
                [{|PDSL009:Bf16|}]
                private readonly Custom custom = new Custom();
            """),
        // Without the attribute, PDSL015 says the module runs in fp32.
        Model("""
            // the custom block
                private readonly Custom {|PDSL015:custom|} = new Custom();
            """));
}

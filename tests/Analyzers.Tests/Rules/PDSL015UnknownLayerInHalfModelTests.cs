using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL015UnknownLayerInHalfModelTests
{
    private static string Model(string classAttribute, string member) => $$"""
        public sealed class Custom : Module<Tensor, Tensor>
        {
            public Custom() : base(nameof(Custom)) { }
            public override Tensor forward(Tensor x) => x * 2;
        }

        [Bf16]
        public partial class Block : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Block() : base(nameof(Block)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);
        }

        {{classAttribute}}
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            {{member}}
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    [Theory]
    [InlineData("[Bf16]", "private readonly Custom {|PDSL015:custom|} = new Custom();")]
    [InlineData("[Fp16]", "private readonly Custom {|PDSL015:custom|} = new Custom();")]
    [InlineData("[Bf16]", "private Custom {|PDSL015:Head|} { get; } = new Custom();")]
    // A Module<...> member planned as the one type written to it.
    [InlineData("[Bf16]", "private readonly Module<Tensor, Tensor> {|PDSL015:custom|} = new Custom();")]
    // A TorchSharp module the op policy has no entry for.
    [InlineData("[Bf16]", "private readonly Unfold {|PDSL015:unfold|} = Unfold(2);")]
    public Task Unannotated_member_of_an_unknown_module_type_in_a_half_model_is_reported_on_its_name(string classAttribute, string member) =>
        Verify.AnalyzerAsync(Model(classAttribute, member));

    [Fact]
    public Task Message_names_the_member_and_its_type_and_how_to_run_it_in_mixed_precision() => Verify.AnalyzerAsync(
        Model("[Bf16]", "private readonly Custom {|#0:custom|} = new Custom();"),
        new DiagnosticResult("PDSL015", DiagnosticSeverity.Info).WithLocation(0).WithArguments(
            "custom",
            "its type Custom is neither a layer type the op policy knows nor a precision model; to run it in mixed precision, make Custom a precision model (its own [Fp16] or [Bf16] class attribute and a [Forward] method)"));

    [Theory]
    // Annotated: PDSL009 says the attribute has no effect.
    [InlineData("[Bf16]", "[{|PDSL009:Bf16|}] private readonly Custom custom = new Custom();")]
    [InlineData("[Bf16]", "[{|PDSL009:KeepFp32|}] private readonly Custom custom = new Custom();")]
    // Type not visible: PDSL013.
    [InlineData("[Bf16]", "private Module<Tensor, Tensor> {|PDSL013:head|};")]
    // Known mappings: native weights, a precision model, a container, a norm.
    [InlineData("[Bf16]", "private readonly LSTM rnn = LSTM(4, 4);")]
    [InlineData("[Bf16]", "private readonly MultiheadAttention attention = MultiheadAttention(4, 2);")]
    [InlineData("[Bf16]", "private readonly Block block = new Block();")]
    [InlineData("[Bf16]", "private readonly Sequential blocks = Sequential(new Custom());")]
    [InlineData("[Bf16]", "private readonly LayerNorm norm = LayerNorm(4);")]
    // No module, or no instance member.
    [InlineData("[Bf16]", "private readonly Tensor scale = torch.ones(4);")]
    [InlineData("[Bf16]", "private static readonly Custom Shared = new Custom();")]
    // The model's default is fp32 anyway.
    [InlineData("", "private readonly Custom custom = new Custom();")]
    public Task Annotated_invisible_known_or_non_module_member_or_fp32_model_stays_silent(string classAttribute, string member) =>
        Verify.AnalyzerAsync(Model(classAttribute, member));
}

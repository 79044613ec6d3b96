using System.Threading.Tasks;
using PrecisionDsl.CodeFixes;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL013LayerTypeNotVisibleTests
{
    private static string Model(string members, string constructor = "") => $$"""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            {{members}}
            public Net(Module<Tensor, Tensor> given, bool wide) : base(nameof(Net)) { {{constructor}} RegisterComponents(); }

            [Forward]
            private Tensor Compute(Tensor x) => head!.call(x);
        }
        """;

    [Theory]
    [InlineData("private Module<Tensor, Tensor> {|PDSL013:head|};", "")]
    [InlineData("private Module<Tensor, Tensor> {|PDSL013:head|};", "head = wide ? Linear(4, 8) : given;")]
    [InlineData("private Module<Tensor, Tensor> {|PDSL013:head|} = Linear(4, 4);", "if (wide) head = Conv1d(4, 4, 1);")]
    [InlineData("private Module<Tensor, Tensor> {|PDSL013:head|} { get; set; }", "head = given;")]
    public Task Member_whose_layer_type_the_source_does_not_show_is_reported_on_its_name(string member, string constructor) =>
        Verify.AnalyzerAsync(Model(member, constructor));

    [Theory]
    [InlineData("private Module<Tensor, Tensor> head = Linear(4, 4);", "")]
    [InlineData("private Module<Tensor, Tensor> head;", "head = Linear(4, 4);")]
    [InlineData("private Module<Tensor, Tensor> head;", "if (wide) this.head = Linear(4, 8); else head = Linear(4, 4);")]
    [InlineData("private Linear head = Linear(4, 4);", "")]
    public Task Member_assigned_one_layer_type_or_declared_with_it_stays_silent(string member, string constructor) =>
        Verify.AnalyzerAsync(Model(member, constructor));

    [Fact]
    public Task Message_names_the_member_and_says_it_runs_in_fp32() => Verify.AnalyzerAsync(
        Model("private Module<Tensor, Tensor> {|#0:head|};", "head = given;"),
        Microsoft.CodeAnalysis.Testing.DiagnosticResult.CompilerWarning("PDSL013").WithLocation(0).WithArguments(
            "head", "it is assigned 'given' of type TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>, which names no concrete layer type"));

    [Fact]
    public Task Fix_declares_the_initializer_layer_type() => Verify.CodeFixAsync<DeclareLayerTypeCodeFixProvider>(
        Model("private Module<Tensor, Tensor>? {|PDSL013:head|} = Linear(4, 4);", "if (wide) head = null;"),
        Model("private Linear? head = Linear(4, 4);", "if (wide) head = null;"));

    [Fact]
    public Task Fix_is_not_offered_when_another_value_would_no_longer_compile() => Verify.CodeFixAsync<DeclareLayerTypeCodeFixProvider>(
        Model("private Module<Tensor, Tensor> {|PDSL013:head|} = Linear(4, 4);", "if (wide) head = given;"),
        Model("private Module<Tensor, Tensor> {|PDSL013:head|} = Linear(4, 4);", "if (wide) head = given;"));
}

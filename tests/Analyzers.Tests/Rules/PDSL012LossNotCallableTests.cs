using System.Threading.Tasks;
using Microsoft.CodeAnalysis.Testing;
using PrecisionDsl.Generator.Diagnostics;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL012LossNotCallableTests
{
    private static string Model(string losses) => $$"""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            {{losses}}
        }
        """;

    [Fact]
    public Task Two_loss_methods_are_both_reported_and_named() => Verify.AnalyzerAsync(
        Model("""
            [LossScaled]
            private Tensor {|#0:Loss|}(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);

            [LossScaled]
            private Tensor {|#1:AuxLoss|}(Tensor logits, Tensor target) => functional.mse_loss(logits, target);
            """),
        Expected(0, "Loss", "the model has more than one [LossScaled] method (Loss, AuxLoss); keep the attribute on one"),
        Expected(1, "AuxLoss", "the model has more than one [LossScaled] method (Loss, AuxLoss); keep the attribute on one"));

    [Theory]
    [InlineData("private Tensor {|#0:Loss|}() => torch.zeros(1);",
        "it takes no parameters; its first must take the forward's result (TorchSharp.torch.Tensor)")]
    [InlineData("private Tensor {|#0:Loss|}(Tensor logits, ref Tensor target) => functional.mse_loss(logits, target);",
        "a call by name cannot pass its parameters as values (it is overloaded or generic, or has ref/out/in/params parameters)")]
    [InlineData("private Tensor {|#0:Loss|}(long[] shape, Tensor target) => target.sum();",
        "its first parameter 'shape' is long[], not the forward's result type TorchSharp.torch.Tensor")]
    public Task A_loss_the_training_step_cannot_call_says_why(string loss, string why) => Verify.AnalyzerAsync(
        Model("[LossScaled]\n" + loss), Expected(0, "Loss", why));

    [Fact]
    public Task One_callable_loss_stays_silent() => Verify.AnalyzerAsync(Model(
        "[LossScaled] private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);"));

    private static DiagnosticResult Expected(int location, string name, string why) =>
        new DiagnosticResult(DiagnosticDescriptors.LossNotCallable).WithLocation(location).WithArguments(name, why);
}

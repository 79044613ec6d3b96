using System.Threading.Tasks;
using PrecisionDsl.CodeFixes;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL003ConflictingAttributesTests
{
    private static string Model(string members) => $$"""
        [Bf16]
        public partial class Net : Module<Tensor, Tensor>
        {
        {{members}}
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => norm.call(fc.call(x));

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    [Fact]
    public Task Two_precisions_in_one_list_are_reported_on_the_second() => Verify.AnalyzerAsync(Model("""
            [Fp16, {|PDSL003:KeepFp32|}] private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """));

    [Fact]
    public Task Two_precisions_in_separate_lists_are_reported() => Verify.AnalyzerAsync(Model("""
            [Fp16]
            [{|PDSL003:Bf16|}]
            private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """));

    [Fact]
    public Task Conflicting_class_attributes_are_reported() => Verify.AnalyzerAsync("""
        [Fp16, {|PDSL003:Bf16|}]
        public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """);

    [Fact]
    public Task Member_attribute_overriding_the_class_default_stays_silent() => Verify.AnalyzerAsync(Model("""
            [Fp16] private readonly Linear fc = Linear(4, 4);
            [KeepFp32] private readonly LayerNorm norm = LayerNorm(4);
        """));

    [Fact]
    public Task Fix_keeps_the_chosen_attribute() => Verify.CodeFixAsync<KeepOneAttributeCodeFixProvider>(
        Model("""
            [Fp16, {|PDSL003:KeepFp32|}] private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """),
        Model("""
            [KeepFp32] private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """),
        equivalenceKey: "PDSL003.KeepFp32");

    [Fact]
    public Task Fix_removes_a_whole_attribute_list_and_keeps_the_layout() => Verify.CodeFixAsync<KeepOneAttributeCodeFixProvider>(
        Model("""
            // the projection
            [Fp16]
            [{|PDSL003:Bf16|}]
            private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """),
        Model("""
            // the projection
            [Bf16]
            private readonly Linear fc = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
        """),
        equivalenceKey: "PDSL003.Bf16");
}

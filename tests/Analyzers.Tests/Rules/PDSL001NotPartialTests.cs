using System.Threading.Tasks;
using PrecisionDsl.CodeFixes;
using Xunit;
using Verify = PrecisionDsl.Analyzers.Tests.Infrastructure.Verifier<PrecisionDsl.Generator.Analyzers.PrecisionModelAnalyzer>;

namespace PrecisionDsl.Analyzers.Tests.Rules;

public class PDSL001NotPartialTests
{
    private const string Body = """
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x) => fc.call(x);

            [LossScaled]
            private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
        }
        """;

    [Fact]
    public Task Model_that_is_not_partial_is_reported_on_its_name() => Verify.AnalyzerAsync("""
        [Fp16]
        public class {|PDSL001:Net|} : Module<Tensor, Tensor>
        """ + Body);

    [Fact]
    public Task Model_nested_in_a_class_that_is_not_partial_is_reported() => Verify.AnalyzerAsync("""
        public class Outer
        {
            [Fp16]
            public partial class {|PDSL001:Net|} : Module<Tensor, Tensor>
        """ + Body + "\n}");

    [Fact]
    public Task Partial_model_stays_silent() => Verify.AnalyzerAsync("""
        [Fp16]
        public partial class Net : Module<Tensor, Tensor>
        """ + Body);

    [Fact]
    public Task Plain_module_without_precision_attributes_stays_silent() => Verify.AnalyzerAsync("""
        public class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base(nameof(Net)) => RegisterComponents();
            public override Tensor forward(Tensor x) => fc.call(x);
        }
        """);

    [Fact]
    public Task Fix_adds_partial_after_the_other_modifiers() => Verify.CodeFixAsync<AddPartialCodeFixProvider>(
        """
        [Fp16]
        public sealed class {|PDSL001:Net|} : Module<Tensor, Tensor>
        """ + Body,
        """
        [Fp16]
        public sealed partial class Net : Module<Tensor, Tensor>
        """ + Body);

    [Fact]
    public Task Fix_adds_partial_to_the_containing_class() => Verify.CodeFixAsync<AddPartialCodeFixProvider>(
        """
        public class Outer
        {
            [Fp16]
            public partial class {|PDSL001:Net|} : Module<Tensor, Tensor>
        """ + Body + "\n}",
        """
        public partial class Outer
        {
            [Fp16]
            public partial class Net : Module<Tensor, Tensor>
        """ + Body + "\n}");

    [Fact]
    public Task Fix_adds_partial_to_a_class_without_modifiers() => Verify.CodeFixAsync<AddPartialCodeFixProvider>(
        """
        [Fp16]
        class {|PDSL001:Net|} : Module<Tensor, Tensor>
        """ + Body,
        """
        [Fp16]
        partial class Net : Module<Tensor, Tensor>
        """ + Body);
}

using System.Linq;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests
{
    /// <summary>Broken input never makes the generator throw, and never leaves an error in generated code.</summary>
    public sealed class RobustnessTests
    {
        public static TheoryData<string> BrokenModels => new()
        {
            // Syntax error inside the [Forward] body.
            "[Bf16] public partial class A : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public A() : base(\"A\") { } [Forward] Tensor F(Tensor x) { return fc.call(x; } }",
            // Unfinished class.
            "[Fp16] public partial class B : Module<Tensor, Tensor> { [Forward] Tensor F(Tensor x) => x",
            // Layer that does not exist, unknown method calls.
            "[Bf16] public partial class C : Module<Tensor, Tensor> { public C() : base(\"C\") { } [Forward] Tensor F(Tensor x) => missing.call(Nope(x)); }",
            // Not a module, annotated members.
            "[Bf16] public partial class D { [Fp16] Tensor t = torch.zeros(1); [Forward] Tensor F(Tensor x) => x; }",
            // Duplicate [Forward], loss returning void.
            "[Fp16] public partial class E : Module<Tensor, Tensor> { public E() : base(\"E\") { } [Forward] Tensor F(Tensor x) => x; [Forward] Tensor G(Tensor x) => x; [LossScaled] void L(Tensor y) { } }",
            // Generic model nested in a non-partial class.
            "public class Outer { [Bf16] public partial class F<T> : Module<Tensor, Tensor> { public F() : base(\"F\") { } [Forward] Tensor Fw(Tensor x) => x; } }",
            // Generic model with a generic [Forward] and a ref parameter elsewhere.
            "[Bf16] public partial class G<T> : Module<Tensor, Tensor> where T : class { public G() : base(\"G\") { } [Forward] Tensor Fw<U>(Tensor x) => x; void H(ref Tensor t) { } }",
            // Attribute on a static layer and a property layer without a getter body.
            "[Bf16] public partial class H : Module<Tensor, Tensor> { [Fp16] static Linear s = Linear(1, 1); [KeepFp32] Linear P { get; } = Linear(2, 2); public H() : base(\"H\") { } [Forward] Tensor Fw(Tensor x) { Tensor y; y = P.call(x); y += x; return y; } }",
            // Declares forward itself.
            "[Bf16] public partial class I : Module<Tensor, Tensor> { public I() : base(\"I\") { } public override Tensor forward(Tensor x) => x; [Forward] Tensor Fw(Tensor x) => x; }",
        };

        [Theory]
        [MemberData(nameof(BrokenModels))]
        public void Broken_model_neither_throws_nor_leaves_errors_in_generated_code(string model)
        {
            var (_, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", SnapshotTests.Usings + model)));

            Assert.All(result.Results, r => Assert.Null(r.Exception));
            Assert.Empty(result.Diagnostics);
            var generatedTrees = result.GeneratedTrees.ToHashSet();
            var generatedErrors = output.GetDiagnostics()
                .Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree is { } tree && generatedTrees.Contains(tree))
                .Select(d => d.ToString());
            Assert.Empty(generatedErrors);
        }

        [Fact]
        public void Cancellation_is_honoured()
        {
            using var cancelled = new System.Threading.CancellationTokenSource();
            cancelled.Cancel();
            var compilation = GeneratorHarness.Compile(GeneratorHarness.ModelSources.Select(kv => (kv.Key, kv.Value)).ToArray());

            Assert.ThrowsAny<System.OperationCanceledException>(() => GeneratorHarness.CreateDriver().RunGenerators(compilation, cancelled.Token));
        }
    }
}

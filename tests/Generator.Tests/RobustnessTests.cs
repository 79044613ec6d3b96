using System.Linq;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

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
        // Generic model nested in a non-partial class: only the PDSL001 error file.
        "public class Outer { [Bf16] public partial class F<T> : Module<Tensor, Tensor> { public F() : base(\"F\") { } [Forward] Tensor Fw(Tensor x) => x; } }",
        // Generic model with a generic [Forward] and a ref parameter elsewhere.
        "[Bf16] public partial class G<T> : Module<Tensor, Tensor> where T : class { public G() : base(\"G\") { } [Forward] Tensor Fw<U>(Tensor x) => x; void H(ref Tensor t) { } }",
        // Attribute on a static layer and a property layer without a getter body.
        "[Bf16] public partial class H : Module<Tensor, Tensor> { [Fp16] static Linear s = Linear(1, 1); [KeepFp32] Linear P { get; } = Linear(2, 2); public H() : base(\"H\") { } [Forward] Tensor Fw(Tensor x) { Tensor y; y = P.call(x); y += x; return y; } }",
        // A broken field initializer parses as extra declarators without names (fuzz seed 20261128, case 332).
        "[Fp16] public partial class J : Module<Tensor, Tensor> { Conv2d conv = Conv2d8, 16, 3, padding: 1); public J() : base(\"J\") { } [Forward] Tensor Fw(Tensor x) => conv.call(x); }",
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
        Assert.Empty(GeneratedErrors(output, result));
    }

    // Fuzz findings: declarations the generated partial cannot extend, or would copy with their errors.
    public static TheoryData<string> ModelsThatGetNoSource => new()
    {
        "[Bf16] public partial record R : Module<Tensor, Tensor> { public R() : base(\"R\") { } [Forward] Tensor F(Tensor x) => x; }",
        "[Bf16] public static partial class S : Module<Tensor, Tensor> { [Forward] static Tensor F(Tensor x) => x; }",
        "[Bf16] public partial struct T { [Forward] Tensor F(Tensor x) => x; }",
        "[Bf16] public partial interface I { [Forward] Tensor F(Tensor x); }",
        // Broken base type list, broken type parameter list, broken namespace name.
        "[Bf16] public partial class A : Module<Tensor, Tensor>, { public A() : base(\"A\") { } [Forward] Tensor F(Tensor x) => x; }",
        "[Bf16] public partial class B<T, > : Module<Tensor, Tensor> { public B() : base(\"B\") { } [Forward] Tensor F(Tensor x) => x; }",
        "namespace N. { [Bf16] public partial class C : Module<Tensor, Tensor> { public C() : base(\"C\") { } [Forward] Tensor F(Tensor x) => x; } }",
        // Fuzz seed 5 cases 792 and 1958: 'partial' or '::' inserted into the Module base's type arguments.
        "[Bf16] public partial class E : Module<Tensor, partial (Tensor A, Tensor B)> { public E() : base(\"E\") { } [Forward] (Tensor A, Tensor B) F(Tensor x) => (x, x); }",
        "[Bf16] public partial class G : Module<Tensor, Tensor::> { public G() : base(\"G\") { } [Forward] Tensor F(Tensor x) => x; }",
        // A Module type argument that does not bind: the forward signature cannot be written.
        "[Bf16] public partial class D : Module<Tensor, Missing> { public D() : base(\"D\") { } [Forward] Missing F(Tensor x) => default!; }",
    };

    [Theory]
    [MemberData(nameof(ModelsThatGetNoSource))]
    public void Model_the_partial_cannot_repeat_gets_no_source(string model)
    {
        var (generated, _, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", SnapshotTests.Usings + model)));

        Assert.All(result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(generated);
    }

    public static TheoryData<string, string> ModelsWithBrokenCopiedText => new()
    {
        // A using directive with a syntax error, one naming no namespace, a [Forward] parameter without a name.
        { "using TorchSharp.;\n", "[Bf16] public partial class U : Module<Tensor, Tensor> { public U() : base(\"U\") { } [Forward] Tensor F(Tensor x) => x; }" },
        { "using Not.There;\n", "[Bf16] public partial class V : Module<Tensor, Tensor> { public V() : base(\"V\") { } [Forward] Tensor F(Tensor x) => x; }" },
        { "", "[Bf16] public partial class W : Module<Tensor, Tensor> { public W() : base(\"W\") { } [Forward] Tensor F(Tensor ) => torch.zeros(1); }" },
    };

    [Theory]
    [MemberData(nameof(ModelsWithBrokenCopiedText))]
    public void Broken_usings_or_forward_signature_get_only_the_throwing_forward(string usings, string model)
    {
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", usings + SnapshotTests.Usings + model)));

        Assert.Empty(result.Diagnostics);
        var source = Assert.Single(generated).Value;
        Assert.Contains("throw new global::System.InvalidOperationException(", source);
        Assert.DoesNotContain("using", source);
        Assert.Empty(GeneratedErrors(output, result));
    }

    public static TheoryData<string> LossesTrainStepCannotCall => new()
    {
        // Two identical [LossScaled] methods: a call to either is ambiguous.
        "[LossScaled] Tensor L(Tensor y, Tensor t) => y; [LossScaled] Tensor L(Tensor y, Tensor t) => y;",
        "[LossScaled] Tensor L(Tensor y, __arglist) => y;",
        "[LossScaled] Tensor L(Tensor y, ref Tensor t) => y;",
        "[LossScaled] Tensor L(Tensor y, out Tensor t) { t = y; return y; }",
        "[LossScaled] Tensor L(Tensor y, in Tensor t) => y;",
        "[LossScaled] Tensor L(Tensor y, params Tensor[] t) => y;",
        // Fuzz seed 6 case 689: a same-signature duplicate without the attribute makes the call just as ambiguous.
        "[LossScaled] Tensor L(Tensor y, Tensor t) => y; Tensor L(Tensor y, Tensor t) => t;",
        // Fuzz seed 6 case 1852: an alias-qualified parameter type with no alias was copied as '?.Tensor'.
        "[LossScaled] Tensor L(Tensor y, ::Tensor t) => y;",
    };

    [Theory]
    [MemberData(nameof(LossesTrainStepCannotCall))]
    public void Loss_a_generated_call_cannot_pass_values_to_gets_no_training_members(string loss)
    {
        var model = SnapshotTests.Usings + "[Bf16] public partial class M : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public M() : base(\"M\") { } "
            + "[Forward] Tensor F(Tensor x) => fc.call(x); " + loss + " }";
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", model)));

        Assert.Empty(result.Diagnostics);
        var source = Assert.Single(generated).Value;
        Assert.Contains("public override global::TorchSharp.torch.Tensor forward(", source);
        Assert.DoesNotContain("TrainStep", source);
        Assert.DoesNotContain("AccumulateGradients", source);
        Assert.Empty(GeneratedErrors(output, result));
    }

    [Fact]
    public void Single_loss_taking_values_gets_the_training_members()
    {
        var model = SnapshotTests.Usings + "[Bf16] public partial class M : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public M() : base(\"M\") { } "
            + "[Forward] Tensor F(Tensor x) => fc.call(x); [LossScaled] Tensor L(Tensor y, Tensor t) => y; }";
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", model)));

        var source = Assert.Single(generated).Value;
        Assert.Contains("TrainStep(", source);
        Assert.Empty(GeneratedErrors(output, result));
    }

    /// <summary>Errors in generated files, except the deliberate one that reports PDSL001 for a class that is not partial.</summary>
    private static string[] GeneratedErrors(Compilation output, GeneratorDriverRunResult result)
    {
        var generatedTrees = result.GeneratedTrees.ToHashSet();
        return output.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree is { } tree && generatedTrees.Contains(tree))
            .Where(d => !(d.Id == "CS0619" && d.GetMessage().Contains("'PDSL001: ", System.StringComparison.Ordinal)))
            .Select(d => d.ToString())
            .ToArray();
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

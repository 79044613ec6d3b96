using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>The generated file of every representative model (tests/Models) and of rejected models, as committed snapshots.</summary>
public sealed class SnapshotTests
{
    private static readonly Lazy<(IReadOnlyDictionary<string, string> Generated, Compilation Output, GeneratorDriverRunResult Result)> Models =
        new(GeneratorHarness.RunOnModels);

    public static TheoryData<string> ModelNames => new(ModelFullNames);

    private static readonly string[] ModelFullNames =
    {
        "PrecisionDsl.TestModels.Mlp",
        "PrecisionDsl.TestModels.Classifier",
        "PrecisionDsl.TestModels.ConvNet",
        "PrecisionDsl.TestModels.AttentionBlock",
        "PrecisionDsl.TestModels.PairScorer",
        "PrecisionDsl.TestModels.SequenceTagger",
        "PrecisionDsl.TestModels.Encoder",
        "PrecisionDsl.TestModels.EncoderClassifier",
        "PrecisionDsl.TestModels.TrunkModel",
        "PrecisionDsl.TestModels.HeadedTrunk",
        "PrecisionDsl.TestModels.EncoderStack",
        "PrecisionDsl.TestModels.Fp16Encoder",
        "PrecisionDsl.TestModels.Fp16EncoderClassifier",
        "PrecisionDsl.TestModels.Deep.Zoo.Regressor",
        "PrecisionDsl.TestModels.HelperModel",
        "PrecisionDsl.TestModels.PartialModel",
        "PrecisionDsl.TestModels.GatedModel",
        "PrecisionDsl.TestModels.ContainerNet",
    };

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void Generated_model_matches_its_snapshot(string model)
    {
        Assert.True(Models.Value.Generated.TryGetValue(model + ".PrecisionDsl.g.cs", out var source), $"nothing generated for {model}");
        Snapshot.Verify(model, source!);
    }

    [Fact]
    public void Every_model_generates_exactly_one_snapshotted_file()
    {
        var expected = ModelFullNames.Select(name => name + ".PrecisionDsl.g.cs").OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(expected, Models.Value.Generated.Keys.OrderBy(n => n, StringComparer.Ordinal));
    }

    [Fact]
    public void Generated_models_compile_without_warnings()
    {
        Assert.Empty(Models.Value.Result.Diagnostics);
        var problems = Models.Value.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString());
        Assert.Empty(problems);
    }

    public static TheoryData<string, string> RejectedModels => new()
    {
        {
            "Rejected.NoForward",
            """
            [Bf16]
            public partial class NoForward : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public NoForward() : base(nameof(NoForward)) => RegisterComponents();
            }
            """
        },
        {
            "Rejected.ConflictingAttributes",
            """
            public partial class ConflictingAttributes : Module<Tensor, Tensor, Tensor>
            {
                [Fp16, Bf16] private readonly Linear fc = Linear(4, 4);
                public ConflictingAttributes() : base(nameof(ConflictingAttributes)) => RegisterComponents();
                [Forward] private Tensor Compute(Tensor x, Tensor y) => fc.call(x + y);
            }
            """
        },
        {
            "Rejected.WrongSignature",
            """
            [Fp16]
            public partial class WrongSignature : Module<Tensor, (Tensor, Tensor)>
            {
                private readonly Linear fc = Linear(4, 4);
                public WrongSignature() : base(nameof(WrongSignature)) => RegisterComponents();
                [Forward] private Tensor Compute(Tensor x) => fc.call(x);
                [LossScaled] private Tensor Loss(Tensor y, Tensor target) => y - target;
            }
            """
        },
    };

    [Theory]
    [MemberData(nameof(RejectedModels))]
    public void Rejected_model_gets_a_compiling_forward_that_names_the_rule(string name, string model)
    {
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", Usings + model)));

        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()));
        var source = Assert.Single(generated).Value;
        Assert.Contains("throw new global::System.InvalidOperationException(\"PDSL0", source);
        Snapshot.Verify(name, source);
    }

    [Fact]
    public void Model_that_is_not_partial_gets_nothing()
    {
        var model = Usings + """
            [Bf16]
            public class Sealed : Module<Tensor, Tensor>
            {
                public Sealed() : base(nameof(Sealed)) { }
                public override Tensor forward(Tensor x) => x;
                [Forward] private Tensor Compute(Tensor x) => x;
            }
            """;

        var (generated, _, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", model)));

        Assert.Empty(result.Diagnostics);
        Assert.Empty(generated);
    }

    [Fact]
    public void Model_that_is_not_partial_and_leaves_forward_to_the_generator_gets_only_an_error_directive()
    {
        var model = Usings + """
            namespace Shop;

            [Bf16]
            public class Forgotten : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public Forgotten() : base(nameof(Forgotten)) { }
                [Forward] private Tensor Compute(Tensor x) => fc.call(x);
            }
            """;

        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", model)));

        Assert.Empty(result.Diagnostics);
        var source = Assert.Single(generated).Value;
        Snapshot.Verify("Rejected.NotPartial", source);
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.Equal(new[] { "CS0534", "CS0619" }, errors.Select(d => d.Id).OrderBy(id => id, StringComparer.Ordinal));
        Assert.Contains("PDSL001: precision model 'Shop.Forgotten' must be declared partial", errors.Single(d => d.Id == "CS0619").GetMessage(), StringComparison.Ordinal);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Warning));
    }

    [Theory]
    [InlineData("[Forward] private Tensor Classify(Tensor x) => head.call(base.forward(x));")]
    [InlineData("[Forward] private Tensor Classify(Tensor x) => Head(x);\n    private Tensor Head(Tensor x) => head.call(base.forward(x));")]
    public async Task A_forward_calling_a_base_models_generated_forward_is_reported_at_the_call_and_still_compiles(string forward)
    {
        // The generator sees base.forward as Module's abstract forward (CS0205): the model must be reported, not
        // silently given a throwing forward, and the analyzers (which see the generated sources) must agree.
        var model = Usings + """
            [Bf16]
            public partial class Trunk : Module<Tensor, Tensor>
            {
                protected readonly Linear trunk = Linear(4, 4);
                public Trunk() : base(nameof(Trunk)) => RegisterComponents();
                [Forward] private Tensor Run(Tensor x) => trunk.call(x);
            }

            [Bf16]
            public partial class Headed : Trunk
            {
                private readonly Linear head = Linear(4, 2);
                FORWARD
            }
            """.Replace("FORWARD", forward, StringComparison.Ordinal);

        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(("Model.cs", model)));

        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()));
        Assert.Contains(
            "throw new global::System.InvalidOperationException(\"PDSL014: base.forward(x): runs the generated forward of the base precision model 'Trunk'.",
            generated["Headed.PrecisionDsl.g.cs"], StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException(\"PDSL", generated["Trunk.PrecisionDsl.g.cs"], StringComparison.Ordinal);
        var diagnostics = await output.WithAnalyzers(GeneratorHarness.Analyzers).GetAnalyzerDiagnosticsAsync();
        var reported = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal("PDSL014", reported.Id);
        Assert.Equal("base.forward(x)", reported.Location.SourceTree!.GetText().ToString(reported.Location.SourceSpan));
    }

    internal const string Usings = """
        using PrecisionDsl;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;
}

using System.Linq;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>Unusual but valid declarations and statement shapes: the generated code compiles without a warning.</summary>
public sealed class ShapeTests
{
    public static TheoryData<string, string[]> ValidModels => new()
    {
        {
            "generic model class",
            new[] { SnapshotTests.Usings + "[Bf16] public partial class Gen<T> : Module<Tensor, Tensor> where T : struct { Linear fc = Linear(2, 2); public Gen() : base(\"G\") => RegisterComponents(); [Forward] Tensor F(Tensor x) => fc.call(x); }" }
        },
        {
            "file-scoped namespace with namespace-level usings",
            new[] { "namespace Shapes;\nusing PrecisionDsl;\nusing TorchSharp.Modules;\nusing static TorchSharp.torch;\nusing static TorchSharp.torch.nn;\n[Fp16] public partial class Scoped : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public Scoped() : base(\"S\") => RegisterComponents(); [Forward] Tensor F(Tensor x) => functional.softmax(fc.call(x), -1); [LossScaled] Tensor L(Tensor y, Tensor t) => functional.mse_loss(y, t); }" }
        },
        {
            "attributes and [Forward] in different partial parts",
            new[]
            {
                SnapshotTests.Usings + "[Bf16] public partial class Split : Module<Tensor, Tensor> { [KeepFp32] LayerNorm norm = LayerNorm(2); Linear fc = Linear(2, 2); public Split() : base(\"S\") => RegisterComponents(); }",
                SnapshotTests.Usings + "public partial class Split { [Forward] Tensor F(Tensor x) => norm.call(fc.call(x)); }",
            }
        },
        {
            "nullable-disabled file",
            new[] { "#nullable disable\n" + SnapshotTests.Usings + "[Bf16] public partial class Oblivious : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public Oblivious() : base(\"O\") => RegisterComponents(); [Forward] Tensor F(Tensor x) { Tensor h = null; h = fc.call(x); return h; } }" }
        },
        {
            "model nested in a record, layers as properties",
            new[] { SnapshotTests.Usings + "public partial record Holder { [Bf16] public partial class Inner : Module<Tensor, Tensor> { Linear Fc { get; } = Linear(2, 2); Linear Alias => Fc; public Inner() : base(\"I\") => RegisterComponents(); [Forward] Tensor F(Tensor x) => Alias.call(Fc.call(x)); } }" }
        },
        {
            "user declares PrecisionPlan and TrainStep itself",
            new[] { SnapshotTests.Usings + "[Bf16] public partial class Own : Module<Tensor, Tensor> { Linear fc = Linear(2, 2); public Own() : base(\"O\") => RegisterComponents(); public static string PrecisionPlan => \"mine\"; public void TrainStep(Tensor x, Tensor t, torch.optim.Optimizer o, PrecisionDsl.GradScaler s, double? m = null) { } [Forward] Tensor F(Tensor x) => fc.call(x); [LossScaled] Tensor L(Tensor y, Tensor t) => y - t; }" }
        },
        {
            "three inputs, keyword parameter names, local function, switch, while, patterns",
            new[]
            {
                SnapshotTests.Usings + """
                [Bf16]
                public partial class Busy : Module<Tensor, Tensor, Tensor, Tensor>
                {
                    Linear fc = Linear(2, 2);
                    public Busy() : base("B") => RegisterComponents();

                    [Forward]
                    Tensor F(Tensor @base, Tensor @event, Tensor other)
                    {
                        Tensor Twice(Tensor t) { return fc.call(fc.call(t)); }
                        var h = Twice(@base);
                        var steps = 0;
                        while (steps++ < 2) { h = h + @event; }
                        switch (other.dim())
                        {
                            case 2: h = torch.cat(new[] { h, other }, 0); break;
                            default: break;
                        }

                        return h is { } result ? fc.call(result) : other;
                    }
                }
                """,
            }
        },
    };

    [Theory]
    [MemberData(nameof(ValidModels))]
    public void Generated_code_compiles_without_warnings(string shape, string[] sources)
    {
        var (generated, output, result) = GeneratorHarness.Run(GeneratorHarness.Compile(sources.Select((s, i) => ($"File{i}.cs", s)).ToArray()));

        Assert.Empty(result.Diagnostics);
        Assert.Contains(generated.Values, source => source.Contains("using var __weights = __PdslState.EnterForward();"));
        var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString());
        Assert.True(!problems.Any(), shape + ":\n" + string.Join("\n", problems) + "\n" + string.Join("\n", generated.Values));
    }
}

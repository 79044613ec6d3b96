using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// Activations stay in half between half layers: no cast to fp32 and back is emitted across pass-through ops,
/// operators, activation and dropout layers, views or the liveness pass's statement scopes (issue 17).
/// </summary>
public sealed class HalfActivationTests
{
    private const string Chain = SnapshotTests.Usings + """
        [Bf16]
        public partial class Chain : Module<Tensor, Tensor>
        {
            private readonly Linear fc1 = Linear(8, 16);
            private readonly Linear fc2 = Linear(16, 16);
            private readonly Linear fc3 = Linear(16, 8);
            private readonly GELU act = GELU();
            private readonly Dropout drop = Dropout(0.1);

            public Chain() : base(nameof(Chain)) => RegisterComponents();

            [Forward]
            private Tensor Compute(Tensor x)
            {
                var h = fc1.call(x);
                h = functional.gelu(h) * 0.5;
                h = drop.call(act.call(h)).view(-1, 16);
                h = fc2.call(h.transpose(0, 1).transpose(0, 1) + h);
                return fc3.call(torch.tanh(h));
            }
        }
        """;

    [Fact]
    public void Consecutive_half_layers_get_their_input_cast_once_and_never_go_through_fp32()
    {
        var (generated, output, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("Chain.cs", Chain)));
        var text = generated.Single().Value;
        var body = text.Substring(text.IndexOf("using var __weights", System.StringComparison.Ordinal));
        body = body.Substring(0, body.IndexOf("// The result leaves", System.StringComparison.Ordinal));

        var cast = Assert.Single(Regex.Matches(body, @"Precision\.Cast\(\w+, [^)]*\)").Select(m => m.Value));
        Assert.StartsWith("Precision.Cast(x, __weights.Bf16", cast);
        Assert.DoesNotContain("Float32", body);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }
}

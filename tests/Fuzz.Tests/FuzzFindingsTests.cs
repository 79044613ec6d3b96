using System.Linq;
using Xunit;

namespace PrecisionDsl.Fuzz.Tests;

/// <summary>Bugs the fuzzer found and that were fixed, kept as plain regression cases.</summary>
public sealed class FuzzFindingsTests
{
    private const string Usings = """
        using PrecisionDsl;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;

    [Theory]
    // A layer field declared twice (a pasted line) and called from a helper: the planner threw "An item with the
    // same key has already been added" (seed 2, case 731).
    [InlineData("""
        [Bf16]
        public partial class Twice : Module<Tensor, Tensor>
        {
            private readonly Linear input = Linear(4, 4);
            private readonly Linear refine = Linear(4, 4);
            private readonly Linear refine = Linear(4, 4);
            public Twice() : base(nameof(Twice)) => RegisterComponents();
            [Forward] private Tensor Compute(Tensor x) => Refine(input.call(x));
            private Tensor Refine(Tensor h) => refine.call(h) + h;
        }
        """)]
    public void Generator_and_analyzers_keep_their_promises(string model)
    {
        var result = FuzzHarness.Check(new[] { new SourceFile("Model.cs", Usings + model) });

        Assert.Empty(result.Problems.Select(p => p.Text));
        Assert.NotEmpty(result.Generated);
    }
}

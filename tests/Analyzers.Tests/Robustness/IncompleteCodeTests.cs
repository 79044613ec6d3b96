using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using PrecisionDsl.Analyzers.Tests.Infrastructure;
using PrecisionDsl.Generator.Analyzers;
using PrecisionDsl.Generator.Planning;
using Xunit;

namespace PrecisionDsl.Analyzers.Tests.Robustness;

/// <summary>
/// Analyzers run on every keystroke, so mostly on code that does not compile yet. None of them may throw
/// (an exception surfaces as AD0001 and silences the analyzer for the file), and the planner they share must
/// not either, or they would quietly report nothing.
/// </summary>
public class IncompleteCodeTests
{
    public static TheoryData<string> Sources => new()
    {
        // Half-typed member and forward.
        "[Fp16] public partial class Net : Module<Tensor, Tensor> { private readonly Linear fc = Linear(4, ; [Forward] private Tensor Compute(Tensor x) => fc.call(x.half( }",
        // Wrong Module arity, missing name, unknown types.
        "[Fp16] public partial class Net : Module<Tensor> { [Forward] private Tensor Compute(Tensor x) => x; }",
        "[Forward] public partial class : Module<Tensor, Tensor> { }",
        "[Bf16] public partial class Net : Module<Tensor, Tensor> { [Forward] private Tensor Compute(Tensor x) => missing.call(x) * 1e-9; [LossScaled] private Unknown Loss(Tensor a, Tensor b) => a; }",
        // Generic model, expression-bodied layer property, static forward, empty body.
        "[Fp16] public partial class Net<T> : Module<T, T> where T : Tensor { [Forward] private T Compute(T x) => (T)(x * 1e9); }",
        "[Fp16] public partial class Net : Module<Tensor, Tensor> { [Fp16] private Linear fc => Linear(4, 4); [Forward] private static Tensor Compute(Tensor x) { } }",
        // Lambdas, local functions, a cast by number, constants in odd places.
        """
        [Fp16] public partial class Net : Module<Tensor, Tensor>
        {
            private readonly Linear fc = Linear(4, 4);
            public Net() : base("n") { }
            [Forward] private Tensor Compute(Tensor x)
            {
                System.Func<Tensor, Tensor> fill = t => t.masked_fill(t > 0, -1e9);
                Tensor Scale(Tensor t) => t * 1e-12;
                var h = fc.call(x).to((ScalarType)5);
                for (var i = 0; i < 3; i++) { h = Scale(fill(h)) + 1e6f; }
                return h.masked_fill(h < 0, value: -1e9 *
            }
        }
        """,
        // Attributes on the wrong kinds of declarations.
        "[Fp16] public partial struct Net { [Forward] Tensor Compute(Tensor x) => x; }",
        "[Fp16] public partial record Net(int Size) : Module<Tensor, Tensor>(\"n\") { [Forward] private Tensor Compute(Tensor x) => x * 1e-9; }",
        "public partial class Outer { [Fp16] public partial class Net : Module<Tensor, Tensor> { [Forward] private Tensor Compute(Tensor x) => x; } [KeepFp32] int count; }",
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task Analyzers_and_planner_do_not_throw(string source)
    {
        var tree = CSharpSyntaxTree.ParseText(Verifier<PrecisionModelAnalyzer>.Usings + source, path: "/0/Model.cs");
        var compilation = CSharpCompilation.Create("Incomplete", new[] { tree }, TestReferences.All,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var exceptions = new ConcurrentQueue<Exception>();
        var analyzers = ImmutableArray.Create<DiagnosticAnalyzer>(new PrecisionModelAnalyzer(), new HalfConstantAnalyzer());
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            onAnalyzerException: (exception, _, _) => exceptions.Enqueue(exception),
            concurrentAnalysis: false,
            logAnalyzerExecutionTime: false);

        var diagnostics = await compilation.WithAnalyzers(analyzers, options).GetAnalyzerDiagnosticsAsync();

        Assert.Empty(exceptions);
        Assert.DoesNotContain(diagnostics, d => d.Id == "AD0001");
        foreach (var type in compilation.GetSymbolsWithName(_ => true, SymbolFilter.Type).OfType<INamedTypeSymbol>())
        {
            var plan = PrecisionAnalysis.Analyze(type, compilation, default);
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                plan?.PrecisionAt(tree.FilePath, node.Span);
            }
        }
    }
}

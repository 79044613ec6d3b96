using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace PrecisionDsl.Analyzers.Tests.Infrastructure;

/// <summary>
/// Runs an analyzer (and optionally its code fix) over C# source with markup spans: <c>{|PDSL004:...|}</c>
/// marks exactly where a diagnostic must land; unmarked code must stay silent and compile. Every source gets
/// the usings a TorchSharp model file has, so the tests show only the model.
/// </summary>
internal static class Verifier<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    public const string Usings = """
        using PrecisionDsl;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;

    /// <summary>Checks the markup spans, and for <paramref name="expected"/> (located with <c>{|#0:...|}</c>) the message arguments too.</summary>
    public static Task AnalyzerAsync(string source, params DiagnosticResult[] expected)
    {
        var test = new AnalyzerTest { TestCode = Usings + source, ReferenceAssemblies = TestReferences.None };
        test.TestState.AdditionalReferences.AddRange(TestReferences.All);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync();
    }

    /// <summary>Applies the fix (the one registered under <paramref name="equivalenceKey"/> when given) to every marked diagnostic.</summary>
    public static Task CodeFixAsync<TCodeFix>(string source, string fixedSource, string? equivalenceKey = null)
        where TCodeFix : CodeFixProvider, new()
    {
        var test = new CodeFixTest<TCodeFix>
        {
            TestCode = Usings + source,
            FixedCode = Usings + fixedSource,
            ReferenceAssemblies = TestReferences.None,
            CodeActionEquivalenceKey = equivalenceKey,
        };
        test.TestState.AdditionalReferences.AddRange(TestReferences.All);
        return test.RunAsync();
    }

    // The generator emits `forward` and is not run here, so "forward not implemented" (CS0534) is expected;
    // every other compiler diagnostic still fails the test, so a typo cannot make a negative test pass.
    private static bool IsExpectedCompilerDiagnostic(Diagnostic diagnostic) => diagnostic.Id == "CS0534";

    private sealed class AnalyzerTest : CSharpAnalyzerTest<TAnalyzer, DefaultVerifier>
    {
        protected override bool IsCompilerDiagnosticIncluded(Diagnostic diagnostic, CompilerDiagnostics compilerDiagnostics) =>
            !IsExpectedCompilerDiagnostic(diagnostic) && base.IsCompilerDiagnosticIncluded(diagnostic, compilerDiagnostics);
    }

    private sealed class CodeFixTest<TCodeFix> : CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
        where TCodeFix : CodeFixProvider, new()
    {
        protected override bool IsCompilerDiagnosticIncluded(Diagnostic diagnostic, CompilerDiagnostics compilerDiagnostics) =>
            !IsExpectedCompilerDiagnostic(diagnostic) && base.IsCompilerDiagnosticIncluded(diagnostic, compilerDiagnostics);
    }
}

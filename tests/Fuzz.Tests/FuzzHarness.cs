using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using PrecisionDsl.Generator;
using TorchSharp;

namespace PrecisionDsl.Fuzz.Tests;

/// <summary>What kind of promise a fuzz case broke.</summary>
internal enum ProblemKind
{
    GeneratorException,
    AnalyzerException,
    Timeout,
    NondeterministicOutput,
    ErrorInGeneratedCode,
}

/// <summary>
/// One broken promise. For <see cref="ProblemKind.ErrorInGeneratedCode"/>: the compiler error's id, and whether it
/// is a syntax error (the generated file itself does not parse).
/// </summary>
internal sealed record Problem(ProblemKind Kind, string Text, string? ErrorId = null, bool IsSyntaxError = false)
{
    public override string ToString() => Text;
}

/// <summary>The broken promises of one fuzz case, the files the generator produced, and whether the user's files parse.</summary>
internal sealed record CaseResult(IReadOnlyList<Problem> Problems, IReadOnlyList<SourceFile> Generated, bool UserCodeParses);

/// <summary>
/// Runs PrecisionDsl's generator and analyzers in memory over one fuzz case, as a build and an IDE would,
/// and lists every broken promise: a generator or analyzer exception (CS8785 / AD0001), an error located
/// in generated code, generated output that differs between two runs over the same input.
/// </summary>
internal static class FuzzHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>Every generator and analyzer the PrecisionDsl generator assembly ships, found the way the compiler finds them.</summary>
    public static readonly ImmutableArray<ISourceGenerator> Generators = ShippedTypes<GeneratorAttribute>()
        .Select(t => Activator.CreateInstance(t) switch
        {
            IIncrementalGenerator incremental => incremental.AsSourceGenerator(),
            ISourceGenerator generator => generator,
            var other => throw new InvalidOperationException($"{other} is no generator"),
        })
        .ToImmutableArray();

    public static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers = ShippedTypes<DiagnosticAnalyzerAttribute>()
        .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
        .ToImmutableArray();

    /// <summary>"Not all code paths return a value" names the method it is reported on.</summary>
    private static readonly HashSet<string> BodyErrorsNamingTheMethod = new() { "CS0161" };

    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(30);

    private static readonly MetadataReference[] References = Basic.Reference.Assemblies.Net100.References.All
        .Cast<MetadataReference>()
        .Append(MetadataReference.CreateFromFile(typeof(torch).Assembly.Location))
        .Append(MetadataReference.CreateFromFile(typeof(Precision).Assembly.Location))
        .ToArray();

    // TorchSharp references older framework assembly versions; like the SDK, accept the unification.
    private static readonly CSharpCompilationOptions CompilationOptions =
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
            .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic>
            {
                ["CS1701"] = ReportDiagnostic.Suppress,
                ["CS1702"] = ReportDiagnostic.Suppress,
            });

    /// <summary>What went wrong for <paramref name="files"/> (empty when every promise held), and the generated files.</summary>
    public static CaseResult Check(IReadOnlyList<SourceFile> files)
    {
        using var timeout = new CancellationTokenSource(CaseTimeout);
        try
        {
            return CheckCore(files, timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new CaseResult(new[] { new Problem(ProblemKind.Timeout, $"generator and analyzers took longer than {CaseTimeout.TotalSeconds} s") }, Array.Empty<SourceFile>(), UserCodeParses: true);
        }
    }

    private static CaseResult CheckCore(IReadOnlyList<SourceFile> files, CancellationToken cancellationToken)
    {
        var problems = new List<Problem>();
        var compilation = CSharpCompilation.Create(
            "Fuzzed",
            files.Select(f => CSharpSyntaxTree.ParseText(f.Text, ParseOptions, f.Path, cancellationToken: cancellationToken)),
            References,
            CompilationOptions);

        var (output, run) = RunGenerators(compilation, cancellationToken);
        foreach (var result in run.Results.Where(r => r.Exception is not null))
        {
            problems.Add(new Problem(ProblemKind.GeneratorException, $"generator {result.Generator.GetGeneratorType().Name} threw: {result.Exception}"));
        }

        problems.AddRange(run.Diagnostics.Where(d => d.Id is "CS8784" or "CS8785").Select(d => new Problem(ProblemKind.GeneratorException, $"generator failure reported: {d}")));

        var (_, again) = RunGenerators(compilation, cancellationToken);
        if (!Generated(run).SequenceEqual(Generated(again)))
        {
            problems.Add(new Problem(ProblemKind.NondeterministicOutput, "generated output differs between two runs over the same input"));
        }

        // The build and the IDE compile and analyze the compilation with the generated code in it: one pass
        // gives the compiler's and the analyzers' diagnostics.
        var exceptions = new ConcurrentQueue<Problem>();
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            (exception, analyzer, _) => exceptions.Enqueue(new Problem(ProblemKind.AnalyzerException, $"analyzer {analyzer.GetType().Name} threw: {exception}")),
            concurrentAnalysis: false,
            logAnalyzerExecutionTime: false);
        var diagnostics = output.WithAnalyzers(Analyzers, options).GetAllDiagnosticsAsync(cancellationToken).GetAwaiter().GetResult();
        problems.AddRange(exceptions);
        problems.AddRange(diagnostics.Where(d => d.Id == "AD0001").Select(d => new Problem(ProblemKind.AnalyzerException, $"analyzer failure reported: {d}")));
        problems.AddRange(ErrorsOfGeneratedCode(diagnostics, run.GeneratedTrees));
        var userCodeParses = compilation.SyntaxTrees.All(t => !t.GetDiagnostics(cancellationToken).Any(d => d.Severity == DiagnosticSeverity.Error));
        return new CaseResult(problems, Generated(run).Select(g => new SourceFile(g.HintName, g.Text)).ToList(), userCodeParses);
    }

    private static (Compilation Output, GeneratorDriverRunResult Run) RunGenerators(Compilation compilation, CancellationToken cancellationToken)
    {
        var driver = CSharpGeneratorDriver.Create(Generators, parseOptions: ParseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out _, cancellationToken);
        return (output, driver.GetRunResult());
    }

    /// <summary>
    /// Compiler errors located in generated files, except those the user's own files report too: an error is the
    /// generator's own only when the user's code does not already have it. "Too" means the same id and message
    /// (e.g. a type name the user's broken using cannot resolve, repeated in the generated signature), or, for
    /// errors whose message names the method, the same id: the generated forward carries the [Forward] body, so
    /// a body that misses a return fails in both methods. The generator's own PDSL001 error (CS0619, an obsolete type) for
    /// a model that is not partial is the one deliberate error: it explains the CS0534 the user's class has.
    /// </summary>
    private static IEnumerable<Problem> ErrorsOfGeneratedCode(ImmutableArray<Diagnostic> diagnostics, ImmutableArray<SyntaxTree> generatedTrees)
    {
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var inGenerated = errors.Where(d => d.Location.SourceTree is { } tree && generatedTrees.Contains(tree)).ToList();
        var userErrors = errors.Except(inGenerated).Select(d => (d.Id, d.GetMessage(CultureInfo.InvariantCulture))).ToHashSet();
        return inGenerated
            .Where(d => !(d.Id == "CS0619" && d.GetMessage(CultureInfo.InvariantCulture).Contains("'PDSL001: ", StringComparison.Ordinal) && userErrors.Any(u => u.Id == "CS0534")))
            .Where(d => !userErrors.Contains((d.Id, d.GetMessage(CultureInfo.InvariantCulture)))
                && !(BodyErrorsNamingTheMethod.Contains(d.Id) && userErrors.Any(u => u.Id == d.Id)))
            .Select(d => new Problem(ProblemKind.ErrorInGeneratedCode, $"error in generated {System.IO.Path.GetFileName(d.Location.SourceTree!.FilePath)}: {d}", d.Id,
                IsSyntaxError: d.Location.SourceTree!.GetDiagnostics().Contains(d)));
    }

    private static IEnumerable<(string HintName, string Text)> Generated(GeneratorDriverRunResult run) =>
        run.Results.SelectMany(r => r.GeneratedSources).Select(s => (s.HintName, s.SourceText.ToString()));

    private static IEnumerable<Type> ShippedTypes<TAttribute>()
        where TAttribute : Attribute =>
        typeof(PrecisionGenerator).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<TAttribute>() is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
}

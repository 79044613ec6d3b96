using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using TorchSharp;

namespace PrecisionDsl.Generator.Tests.Support;

/// <summary>Runs the generator in memory over C# sources, with TorchSharp and the PrecisionDsl runtime referenced.</summary>
internal static class GeneratorHarness
{
    private static readonly MetadataReference[] References = Basic.Reference.Assemblies.Net100.References.All
        .Cast<MetadataReference>()
        .Append(MetadataReference.CreateFromFile(typeof(torch).Assembly.Location))
        .Append(MetadataReference.CreateFromFile(typeof(PrecisionDsl.Precision).Assembly.Location))
        .ToArray();

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>The model sources of tests/Models, by file name.</summary>
    public static IReadOnlyDictionary<string, string> ModelSources { get; } = Directory
        .GetFiles(ModelsDirectory, "*.cs")
        .OrderBy(path => path, StringComparer.Ordinal)
        .ToDictionary(path => Path.GetFileName(path), File.ReadAllText);

    public static string SnapshotDirectory => Path.Combine(TestsDirectory(), "Generator.Tests", "Snapshots");

    public static string ModelsDirectory => Path.Combine(TestsDirectory(), "Models");

    /// <summary>Every analyzer the generator assembly ships.</summary>
    public static ImmutableArray<DiagnosticAnalyzer> Analyzers { get; } = typeof(PrecisionGenerator).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && t.GetCustomAttributes(typeof(DiagnosticAnalyzerAttribute), false).Length > 0)
        .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
        .ToImmutableArray();

    public static CSharpCompilation Compile(params (string Path, string Source)[] sources) =>
        CSharpCompilation.Create(
            "Models",
            sources.Select(s => CSharpSyntaxTree.ParseText(s.Source, ParseOptions, s.Path)),
            References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
                .WithSpecificDiagnosticOptions(AssemblyUnificationWarnings));

    // TorchSharp references older framework assembly versions; like the SDK, accept the unification.
    private static readonly Dictionary<string, ReportDiagnostic> AssemblyUnificationWarnings = new()
    {
        ["CS1701"] = ReportDiagnostic.Suppress,
        ["CS1702"] = ReportDiagnostic.Suppress,
    };

    public static GeneratorDriver CreateDriver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            new[] { new PrecisionGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator; returns the generated sources by hint name and the compilation that includes them.</summary>
    public static (IReadOnlyDictionary<string, string> Generated, Compilation Output, GeneratorDriverRunResult Result) Run(Compilation compilation)
    {
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var result = driver.GetRunResult();
        var generated = result.Results.SelectMany(r => r.GeneratedSources).ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        return (generated, output, result);
    }

    /// <summary>Compiles <paramref name="source"/> with the generator and loads the assembly, for running generated code.</summary>
    public static System.Reflection.Assembly LoadGenerated(string source)
    {
        var (_, output, _) = Run(Compile(("Model.cs", source)));
        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        if (!emitted.Success)
        {
            throw new InvalidOperationException(string.Join("\n", emitted.Diagnostics));
        }

        return System.Reflection.Assembly.Load(image.ToArray());
    }

    public static (IReadOnlyDictionary<string, string> Generated, Compilation Output, GeneratorDriverRunResult Result) RunOnModels() =>
        Run(Compile(ModelSources.Select(kv => (kv.Key, kv.Value)).ToArray()));

    private static string TestsDirectory([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", ".."));
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Tasks;
using Xunit;
using Xunit.Abstractions;

namespace PrecisionDsl.Fuzz.Tests;

/// <summary>
/// Mutation fuzzing of the generator and analyzers over the snapshot models (tests/Models) and the samples.
/// Case <c>i</c> is fully determined by the base seed and <c>i</c>, so any failure is reproduced by running
/// that one case. Environment variables: <c>PDSL_FUZZ_CASES</c> (default 2000; raise it for a long run),
/// <c>PDSL_FUZZ_SEED</c> (default 20261128), <c>PDSL_FUZZ_CASE</c> (run only that case index).
/// </summary>
public sealed class GeneratorFuzzTests(ITestOutputHelper output)
{
    private const int DefaultCases = 2000;
    private const int DefaultSeed = 20261128;
    private const int ReportedFailures = 5;

    [Fact]
    public void Generator_and_analyzers_survive_mutated_models()
    {
        Assert.NotEmpty(FuzzHarness.Generators);
        Assert.NotEmpty(FuzzHarness.Analyzers);
        var seeds = Seeds();
        Assert.True(seeds.Count >= 5, $"only {seeds.Count} seed models found");
        var baseSeed = Setting("PDSL_FUZZ_SEED") ?? DefaultSeed;
        var cases = Setting("PDSL_FUZZ_CASE") is { } single
            ? new[] { single }
            : Enumerable.Range(0, Setting("PDSL_FUZZ_CASES") ?? DefaultCases).ToArray();

        var clock = Stopwatch.StartNew();
        var failures = new ConcurrentBag<(int Case, Mutant Mutant, CaseResult Result)>();
        var known = new ConcurrentBag<(int Case, string Issue)>();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, index =>
        {
            var mutant = CreateCase(seeds, baseSeed, index);
            var result = FuzzHarness.Check(mutant.Files);
            if (KnownIssues.Explain(mutant, result) is { } issue)
            {
                known.Add((index, issue));
            }
            else if (result.Problems.Count > 0)
            {
                failures.Add((index, mutant, result));
            }
        });

        output.WriteLine($"{cases.Length} cases over {seeds.Count} seed models, seed {baseSeed}: {failures.Count} failing, {known.Count} known generator issues, {clock.Elapsed.TotalSeconds:F0} s");
        foreach (var group in known.GroupBy(k => k.Issue))
        {
            output.WriteLine($"known issue, {group.Count()} cases (e.g. {string.Join(", ", group.Select(k => k.Case).OrderBy(c => c).Take(5))}): {group.Key}");
        }

        if (!failures.IsEmpty)
        {
            var ordered = failures.OrderBy(f => f.Case).ToList();
            var directory = SaveFailures(ordered);
            Assert.Fail($"{ordered.Count} of {cases.Length} fuzz cases broke a promise (cases {string.Join(", ", ordered.Select(f => f.Case).Take(50))}); " +
                $"sources saved under {directory}; rerun one with PDSL_FUZZ_SEED={baseSeed} PDSL_FUZZ_CASE=<case>.\n\n" +
                string.Join("\n\n", ordered.Take(ReportedFailures).Select(Describe)));
        }
    }

    [Fact]
    public void Cases_are_reproducible_from_the_seed()
    {
        var seeds = Seeds();
        var first = Enumerable.Range(0, 200).Select(i => CreateCase(seeds, DefaultSeed, i)).ToList();
        var second = Enumerable.Range(0, 200).Select(i => CreateCase(seeds, DefaultSeed, i)).ToList();

        Assert.Equal(first.Select(Fingerprint), second.Select(Fingerprint));
        Assert.True(first.Select(Fingerprint).Distinct().Count() > 160, "mutations should differ from case to case");
        Assert.Contains(first, m => m.Files.Count > 1); // some cases split a class over two files
    }

    private static Mutant CreateCase(IReadOnlyList<(string Name, SourceFile File)> seeds, int baseSeed, int index)
    {
        var random = new Random(unchecked((baseSeed * 1_000_003) + index));
        var (name, file) = seeds[random.Next(seeds.Count)];
        return Mutator.Mutate(name, file, random);
    }

    /// <summary>The model files (those with a <c>[Forward]</c>) of the generator's snapshot tests and the samples, in a stable order.</summary>
    private static IReadOnlyList<(string Name, SourceFile File)> Seeds()
    {
        var root = RepositoryRoot();
        var models = Directory.GetFiles(Path.Combine(root, "tests", "Models"), "*.cs");
        var samples = Directory.Exists(Path.Combine(root, "samples"))
            ? Directory.GetFiles(Path.Combine(root, "samples"), "*.cs", SearchOption.AllDirectories)
                .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            : Enumerable.Empty<string>();
        return models.Concat(samples)
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/'))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (p, new SourceFile(Path.GetFileName(p), File.ReadAllText(Path.Combine(root, p)))))
            .Where(seed => seed.Item2.Text.Contains("[Forward", StringComparison.Ordinal))
            .ToList();
    }

    private static string Fingerprint(Mutant mutant) => string.Join("\u0001", mutant.Files.Select(f => f.Path + "\u0002" + f.Text));

    private static string Describe((int Case, Mutant Mutant, CaseResult Result) failure) =>
        $"case {failure.Case} (seed model {failure.Mutant.SeedName}; {string.Join("; ", failure.Mutant.Mutations)}):\n  " +
        string.Join("\n  ", failure.Result.Problems.Select(p => p.Text.Length > 1500 ? p.Text.Substring(0, 1500) + "..." : p.Text));

    private static string SaveFailures(IEnumerable<(int Case, Mutant Mutant, CaseResult Result)> failures)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "fuzz-failures");
        foreach (var failure in failures)
        {
            var caseDirectory = Path.Combine(directory, $"case-{failure.Case}");
            Directory.CreateDirectory(caseDirectory);
            foreach (var file in failure.Mutant.Files)
            {
                File.WriteAllText(Path.Combine(caseDirectory, file.Path), file.Text);
            }

            foreach (var file in failure.Result.Generated)
            {
                File.WriteAllText(Path.Combine(caseDirectory, "generated." + file.Path), file.Text);
            }

            File.WriteAllText(Path.Combine(caseDirectory, "problems.txt"), Describe(failure), Encoding.UTF8);
        }

        return directory;
    }

    private static int? Setting(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : null;

    private static string RepositoryRoot([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", ".."));
}

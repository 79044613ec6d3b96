using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using PrecisionDsl.Analyzers.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace PrecisionDsl.Analyzers.Tests.Build;

/// <summary>
/// What a user sees in `dotnet build`: a project holding many flawed precision models at once prints every
/// PDSL rule with file, line and column. That only works if no flawed model leaves a compiler error behind
/// (the compiler drops analyzer diagnostics when it has errors): the generator must give each rejected model a
/// compiling forward. One build (the slow part) serves every assertion. The compiler prints errors and
/// warnings to the console but info diagnostics (PDSL010, PDSL015) only to its SARIF error log, which IDEs and CI read:
/// those are checked there.
/// </summary>
public sealed class DotnetBuildTests : IDisposable
{
    private static readonly Regex DiagnosticLine = new(
        @"(?<file>[^\s:(]+\.cs)\((?<line>\d+),(?<column>\d+)\): (?<severity>error|warning|info) (?<id>[A-Z]+\d+): (?<message>.*?)( \(https?://[^)]*\))? \[[^\[\]]+\.csproj\]\s*$",
        RegexOptions.Compiled);

    // The configuration this test project (and so the referenced runtime and generator) was built in.
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private readonly ITestOutputHelper output;
    private readonly string directory = Path.Combine(Path.GetTempPath(), "pdsl-build-" + Guid.NewGuid().ToString("N"));

    public DotnetBuildTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void Build_prints_every_rule_with_file_line_and_column_and_nothing_for_the_clean_model()
    {
        WriteProject(FlawedModels.Files);
        var log = Build();
        var reported = log.Split('\n')
            .Select(line => DiagnosticLine.Match(line))
            .Where(match => match.Success)
            .Select(match => new Reported(
                Path.GetFileName(match.Groups["file"].Value),
                int.Parse(match.Groups["line"].Value),
                int.Parse(match.Groups["column"].Value),
                match.Groups["severity"].Value,
                match.Groups["id"].Value,
                match.Groups["message"].Value))
            .Concat(ReadInfoDiagnostics())
            .Distinct()
            .ToList();

        Assert.DoesNotContain(reported, d => d.Id.StartsWith("CS", StringComparison.Ordinal) && d.Severity == "error");
        foreach (var (id, file, snippet, severity, names) in FlawedModels.Expected)
        {
            var (line, column) = Position(file, snippet);
            Assert.True(
                reported.Any(d => d == new Reported(file, line, column, severity, id, d.Message) && d.Message.Contains(names, StringComparison.Ordinal)),
                $"expected '{file}({line},{column}): {severity} {id}: ...{names}...' in the build output; PDSL lines were:\n"
                + string.Join("\n", reported.Where(d => d.Id.StartsWith("PDSL", StringComparison.Ordinal))));
        }

        Assert.DoesNotContain(reported, d => d.File == "Clean.cs" && d.Id.StartsWith("PDSL", StringComparison.Ordinal));
        var unexpected = reported
            .Where(d => d.Id.StartsWith("PDSL", StringComparison.Ordinal))
            .Where(d => !FlawedModels.Expected.Any(e => e.Id == d.Id && e.File == d.File && Position(e.File, e.Snippet) == (d.Line, d.Column)))
            .ToList();
        Assert.Empty(unexpected);
    }

    /// <summary>
    /// A model that is not partial gets no forward, so its class fails with CS0534, which hides every analyzer
    /// diagnostic: the generator's own error puts PDSL001, the class and the fix into the build output instead.
    /// </summary>
    [Fact]
    public void Build_of_a_model_that_is_not_partial_fails_with_PDSL001_naming_the_class_and_the_fix()
    {
        WriteProject(FlawedModels.NotPartialFiles);
        var log = Build();

        var errors = log.Split('\n').Select(line => DiagnosticLine.Match(line)).Where(m => m.Success && m.Groups["severity"].Value == "error")
            .Select(m => (Id: m.Groups["id"].Value, Message: m.Groups["message"].Value))
            .Distinct()
            .ToList();
        var error = Assert.Single(errors, e => e.Id == "CS0619");
        Assert.Contains("PDSL001: precision model 'Flawed.Forgotten' must be declared partial", error.Message, StringComparison.Ordinal);
        Assert.Contains("add the 'partial' modifier to the declaration of Forgotten", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private void WriteProject((string File, string Source)[] files)
    {
        var repository = Repository.Root();
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "Flawed.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{repository}/src/Runtime/PrecisionDsl.csproj" />
                <ProjectReference Include="{repository}/src/Generator/PrecisionDsl.Generator.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" />
              </ItemGroup>
            </Project>
            """);
        foreach (var (file, source) in files)
        {
            File.WriteAllText(Path.Combine(directory, file), source);
        }
    }

    private string Build()
    {
        // The referenced projects were built with this test project: only read their outputs, so a parallel
        // test run building them too cannot collide. No node reuse or compiler server: no process stays behind.
        var start = new ProcessStartInfo("dotnet", $"build \"{directory}/Flawed.csproj\" -c {Configuration} -nologo -v:n -nodeReuse:false -p:BuildProjectReferences=false -p:UseSharedCompilation=false \"-p:ErrorLog={ErrorLog}%2Cversion=2.1\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), "dotnet build did not finish within 5 minutes");
        var log = stdout + stderr.Result;
        output.WriteLine(string.Join("\n", log.Split('\n').Where(l => l.Contains("PDSL") || l.Contains("error"))));
        return log;
    }

    private string ErrorLog => Path.Combine(directory, "build.sarif");

    /// <summary>PrecisionDsl's info-level results in the compiler's SARIF 2.1 log ("note").</summary>
    private Reported[] ReadInfoDiagnostics()
    {
        using var sarif = JsonDocument.Parse(File.ReadAllText(ErrorLog));
        return sarif.RootElement.GetProperty("runs")[0].GetProperty("results").EnumerateArray()
            .Where(result => result.GetProperty("level").GetString() == "note"
                && result.GetProperty("ruleId").GetString()!.StartsWith("PDSL", StringComparison.Ordinal))
            .Select(result =>
            {
                var location = result.GetProperty("locations")[0].GetProperty("physicalLocation");
                var region = location.GetProperty("region");
                return new Reported(
                    Path.GetFileName(new Uri(location.GetProperty("artifactLocation").GetProperty("uri").GetString()!).LocalPath),
                    region.GetProperty("startLine").GetInt32(),
                    region.GetProperty("startColumn").GetInt32(),
                    "info",
                    result.GetProperty("ruleId").GetString()!,
                    result.GetProperty("message").GetProperty("text").GetString()!);
            })
            .ToArray();
    }

    private readonly record struct Reported(string File, int Line, int Column, string Severity, string Id, string Message);

    private static (int Line, int Column) Position(string file, string snippet)
    {
        var source = FlawedModels.Files.Single(f => f.File == file).Source;
        var index = source.IndexOf(snippet, StringComparison.Ordinal);
        Assert.True(index >= 0, $"snippet '{snippet}' not in {file}");
        var lineStart = index == 0 ? 0 : source.LastIndexOf('\n', index - 1) + 1;
        return (source.Take(index).Count(c => c == '\n') + 1, index - lineStart + 1);
    }
}

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PrecisionDsl.Package.Tests;

/// <summary>
/// Packs PrecisionDsl once, then builds and runs consumer projects that live outside the repository
/// and know the package only by name — what a user who adds the package sees.
/// </summary>
public sealed class PackageConsumerTests : IClassFixture<PackageConsumerTests.PackedFeed>
{
    private readonly PackedFeed _feed;
    private readonly ITestOutputHelper _output;

    public PackageConsumerTests(PackedFeed feed, ITestOutputHelper output)
    {
        _feed = feed;
        _output = output;
    }

    [Fact]
    public void Package_carries_runtime_generator_code_fixes_native_target_readme_and_licence()
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(_feed.PackagePath);
        var entries = archive.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("lib/net10.0/PrecisionDsl.dll", entries);
        Assert.Contains("lib/net10.0/PrecisionDsl.xml", entries);
        Assert.Contains("analyzers/dotnet/cs/PrecisionDsl.Generator.dll", entries);
        Assert.Contains("analyzers/dotnet/cs/PrecisionDsl.CodeFixes.dll", entries);
        Assert.Contains("buildTransitive/PrecisionDsl.targets", entries);
        Assert.Contains("buildTransitive/ElfVersionNeedPatcher.cs", entries);
        Assert.Contains("README.md", entries);
        Assert.Contains("LICENSE", entries);

        using var nuspec = new StreamReader(archive.GetEntry("PrecisionDsl.nuspec")!.Open());
        var text = nuspec.ReadToEnd();
        Assert.Contains("<version>0.1.0</version>", text);
        Assert.Contains("id=\"TorchSharp\"", text);
        Assert.Contains("id=\"libtorch-cpu-linux-x64\"", text);
        Assert.Contains("<repository", text);
    }

    [Fact]
    public void A_consumer_project_gets_the_generator_a_planted_warning_and_a_working_training_step()
    {
        var dir = _feed.NewConsumerFolder("App");

        var build = Dotnet(dir, "build App/App.csproj -c Release");
        Assert.True(build.ExitCode == 0, build.Output);
        // The planted mistake (fp16 without [LossScaled]) is reported with file, line and column.
        Assert.Matches(new Regex(@"TwoLayer\.cs\(\d+,\d+\): warning PDSL006"), build.Output);

        var run = Dotnet(dir, "run --project App/App.csproj -c Release --no-build");
        Assert.True(run.ExitCode == 0, run.Output);
        var losses = Regex.Match(run.Output, @"first-loss=([\d.]+) last-loss=([\d.]+) stepped=(\w+)");
        Assert.True(losses.Success, run.Output);
        Assert.True(double.Parse(losses.Groups[2].Value) < double.Parse(losses.Groups[1].Value), run.Output);
        Assert.Equal("True", losses.Groups[3].Value);
        Assert.Contains("weight-dtype=Float32", run.Output); // the optimizer trains fp32 masters
        AssertNativesLoadedFromOutput(Path.Combine(dir, "App"));
    }

    [Fact]
    public void An_app_two_references_deep_still_gets_the_generator_and_the_native_fix()
    {
        var dir = _feed.NewConsumerFolder("Library", "LibApp");

        var build = Dotnet(dir, "build LibApp/LibApp.csproj -c Release");
        Assert.True(build.ExitCode == 0, build.Output);

        var run = Dotnet(dir, "run --project LibApp/LibApp.csproj -c Release --no-build");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("output-dtype=Float32 shape=2x3", run.Output);
        Assert.Contains("fc", run.Output); // the app's own generated precision plan
        AssertNativesLoadedFromOutput(Path.Combine(dir, "LibApp"));
    }

    private static void AssertNativesLoadedFromOutput(string projectDir)
    {
        var bin = Path.Combine(projectDir, "bin");
        Assert.Empty(Directory.GetDirectories(bin, "cpu", SearchOption.AllDirectories));
    }

    private (int ExitCode, string Output) Dotnet(string workingDirectory, string arguments)
    {
        var result = PackedFeed.RunDotnet(workingDirectory, arguments);
        _output.WriteLine($"> dotnet {arguments}\n{result.Output}");
        return result;
    }

    /// <summary>The package, packed once from this configuration's build outputs into a scratch feed.</summary>
    public sealed class PackedFeed : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("pdsl-package-").FullName;

        public PackedFeed()
        {
            var repo = FindRepositoryRoot();
            var configuration = typeof(PackedFeed).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
            var feed = Path.Combine(_root, "feed");
            var pack = RunDotnet(repo, $"pack src/Runtime/PrecisionDsl.csproj -c {configuration} --no-build -o \"{feed}\"");
            if (pack.ExitCode != 0) throw new InvalidOperationException("dotnet pack failed:\n" + pack.Output);
            PackagePath = Path.Combine(feed, "PrecisionDsl.0.1.0.nupkg");
            if (!File.Exists(PackagePath)) throw new InvalidOperationException($"expected {PackagePath}:\n{pack.Output}");

            // The consumer restores PrecisionDsl into its own packages folder (a stale 0.1.0 in the user's
            // cache must not be used) and takes TorchSharp/libtorch from the user's cache as a fallback.
            var userCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            File.WriteAllText(Path.Combine(_root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="precisiondsl-local" value="{feed}" />
                  </packageSources>
                  <config>
                    <add key="globalPackagesFolder" value="{Path.Combine(_root, "packages")}" />
                  </config>
                  <fallbackPackageFolders>
                    <add key="user-cache" value="{userCache}" />
                  </fallbackPackageFolders>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(_root, "Directory.Build.props"), """
                <Project>
                  <PropertyGroup><PrecisionDslVersion>0.1.0</PrecisionDslVersion></PropertyGroup>
                </Project>
                """);
        }

        public string PackagePath { get; }

        /// <summary>Copies the named consumer projects into a fresh folder beside the feed's nuget.config.</summary>
        public string NewConsumerFolder(params string[] projects)
        {
            var dir = Path.Combine(_root, "consumer-" + Guid.NewGuid().ToString("N")[..8]);
            var templates = Path.Combine(AppContext.BaseDirectory, "Consumers");
            foreach (var project in projects)
                foreach (var file in Directory.GetFiles(Path.Combine(templates, project)))
                {
                    Directory.CreateDirectory(Path.Combine(dir, project));
                    File.Copy(file, Path.Combine(dir, project, Path.GetFileName(file)));
                }
            return dir;
        }

        public void Dispose()
        {
            try { Directory.Delete(_root, recursive: true); }
            catch (IOException) { /* a scratch folder left in /tmp is harmless */ }
        }

        internal static (int ExitCode, string Output) RunDotnet(string workingDirectory, string arguments)
        {
            var start = new ProcessStartInfo("dotnet", arguments)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            // The outer `dotnet test` sets MSBuild variables that would leak into the child build.
            foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" })
                start.Environment.Remove(name);
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["DOTNET_NOLOGO"] = "1";
            using var process = Process.Start(start)!;
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.WaitForExit();
            return (process.ExitCode, output.ToString());
        }

        private static string FindRepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "PrecisionDsl.sln"))) return dir.FullName;
            throw new InvalidOperationException("PrecisionDsl.sln not found above " + AppContext.BaseDirectory);
        }
    }
}

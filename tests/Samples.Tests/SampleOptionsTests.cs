using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using TinyGpt;
using Xunit;

namespace PrecisionDsl.Samples.Tests;

public sealed class SampleOptionsTests
{
    private static SampleOptions Read(params string[] args)
    {
        var result = SampleOptions.CreateCommand().Parse(args);
        Assert.Empty(result.Errors);
        return SampleOptions.From(result);
    }

    [Fact]
    public void No_arguments_give_the_documented_defaults()
    {
        Assert.Equal(new SampleOptions(), Read());
        var defaults = new SampleOptions();
        Assert.Equal((SizeChoice.Auto, null, 1, true, "out/tinygpt", 1234), (defaults.Size, defaults.Steps, defaults.Seeds, defaults.Compare, defaults.OutputFolder, defaults.Seed));
    }

    [Fact]
    public void Every_option_is_read()
    {
        var options = Read("--size", "medium", "--layers", "3", "--width", "96", "--heads", "6", "--context", "40", "--batch", "8",
            "--steps", "12", "--precision", "bf16", "--device", "cpu", "--compare", "off", "--out", "x/y", "--seed", "7", "--seeds", "3");

        Assert.Equal(new SampleOptions
        {
            Size = SizeChoice.Medium, Layers = 3, Width = 96, Heads = 6, Context = 40, BatchSize = 8, Steps = 12,
            Precision = PrecisionChoice.Bf16, Device = DeviceChoice.Cpu, Compare = false, OutputFolder = "x/y", Seed = 7, Seeds = 3,
        }, options);
        Assert.Equal(new SampleOptions { CheckpointFolder = "ck", CheckpointEvery = 5, Resume = true },
            Read("--checkpoint", "ck", "--checkpoint-every", "5", "--resume"));
    }

    [Theory]
    [InlineData(new[] { "--steps", "0" }, "'--steps' expects a positive integer, got '0'")]
    [InlineData(new[] { "--seeds", "-3" }, "'--seeds' expects a positive integer, got '-3'")]
    [InlineData(new[] { "--precision", "fp8" }, "'fp8' not recognized")]
    [InlineData(new[] { "--size", "huge" }, "'huge' not recognized")]
    [InlineData(new[] { "--compare", "yes" }, "'yes' not recognized")]
    [InlineData(new[] { "--out" }, "--out")]
    [InlineData(new[] { "--stepz", "5" }, "'--stepz'")]
    [InlineData(new[] { "--resume" }, "'--resume' needs --checkpoint")]
    [InlineData(new[] { "--seeds", "2", "--checkpoint", "ck" }, "use --checkpoint with a single seed")]
    public void A_bad_option_is_an_error_that_names_it(string[] args, string why)
    {
        var errors = SampleOptions.CreateCommand().Parse(args).Errors;

        Assert.Contains(errors, error => error.Message.Contains(why));
    }

    [Theory]
    [InlineData(new[] { "--stepz", "5" }, 2, "error: Unrecognized command or argument '--stepz'")]
    [InlineData(new[] { "--width", "64", "--heads", "5", "--device", "cpu", "--size", "tiny" }, 2, "error: width 64 is not a multiple of heads 5")]
    [InlineData(new[] { "--help" }, 0, "--size <tiny|small|medium|large|auto>")]
    public void The_program_exits_2_on_a_bad_command_line_and_0_for_help(string[] args, int exitCode, string output)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "TinyGpt")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string text = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(exitCode, process.ExitCode);
        Assert.Contains(output, text);
    }

    [Fact]
    public async Task A_compared_run_times_both_precisions_together_and_reports_that_ratio()
    {
        var folder = Directory.CreateTempSubdirectory("tinygpt-").FullName;
        try
        {
            var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "TinyGpt")) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { "--size", "tiny", "--device", "cpu", "--steps", "100", "--out", folder }) start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            string text = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();

            Assert.True(process.ExitCode == 0, text + await error);
            Assert.Contains("Timing both precisions together (10 alternating blocks of 2 steps)", text);
            Assert.Contains("Mixed vs fp32 (tiny, Cpu)", text, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("step times measured together after training", File.ReadAllText(Path.Combine(folder, "report.md")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

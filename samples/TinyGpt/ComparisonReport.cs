using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace TinyGpt;

/// <summary>The comparison table (console and Markdown), held-out examples and the report folder.</summary>
public static class ComparisonReport
{
    /// <summary>Rows of metric name then one value per run; with two runs a third column says mixed vs fp32.</summary>
    public static List<string[]> Rows(IReadOnlyList<RunResult> runs)
    {
        var rows = new List<string[]>();
        void Add(string metric, Func<RunResult, string> value, string? comparison = null)
        {
            var row = new List<string> { metric };
            row.AddRange(runs.Select(value));
            if (runs.Count == 2) row.Add(comparison ?? "");
            rows.Add(row.ToArray());
        }

        var header = new List<string> { "metric" };
        header.AddRange(runs.Select(run => run.Label));
        if (runs.Count == 2) header.Add("mixed vs fp32");
        rows.Add(header.ToArray());

        RunResult? mixed = runs.Count == 2 ? runs[0] : null, reference = runs.Count == 2 ? runs[1] : null;
        Add("validation loss", run => F(run.ValidationLoss, "F4"),
            mixed is null ? null : Percent((mixed.ValidationLoss - reference!.ValidationLoss) / reference.ValidationLoss));
        Add("held-out exact match", run => F(100 * run.Accuracy, "F1") + " %",
            mixed is null ? null : F(100 * (mixed.Accuracy - reference!.Accuracy), "+0.0;-0.0;0.0") + " points");
        Add("step time", run => F(run.MeanStepMilliseconds, "F1") + " ms");
        Add("tokens/s", run => F(run.TokensPerSecond, "N0"));
        Add("speedup", run => F(runs[^1].MeanStepMilliseconds / run.MeanStepMilliseconds, "F2") + "x",
            mixed is null ? null : SpeedRatio(reference!.MeanStepMilliseconds / mixed.MeanStepMilliseconds));
        Add("peak memory (RSS)", run => Megabytes(run.PeakResidentBytes),
            mixed is null ? null : F((double)mixed.PeakResidentBytes / reference!.PeakResidentBytes, "F2") + "x");
        Add("memory growth after warm-up", run => Megabytes(run.ResidentGrowthBytes));
        Add("tensors leaked after warm-up", run => run.LeakedTensors.ToString(CultureInfo.InvariantCulture));
        if (runs.Any(run => run.PeakDeviceBytes is not null))
        {
            Add("peak device memory (cudaMemGetInfo)", run => run.PeakDeviceBytes is { } bytes ? Megabytes(bytes) : "n/a",
                mixed?.PeakDeviceBytes is { } m && reference!.PeakDeviceBytes is { } f ? F((double)m / f, "F2") + "x" : null);
        }
        Add("skipped steps", run => run.SkippedSteps.ToString(CultureInfo.InvariantCulture));
        Add("final loss scale", run => F(run.FinalScale, "G6"));
        Add("wall time (train+eval)", run => F(run.WallTime.TotalSeconds, "F1") + " s");
        return rows;
    }

    public static string MarkdownTable(List<string[]> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", rows[0]) + " |");
        text.AppendLine("|" + string.Join("|", rows[0].Select((_, c) => c == 0 ? "---" : "---:")) + "|");
        foreach (var row in rows.Skip(1)) text.AppendLine("| " + string.Join(" | ", row) + " |");
        return text.ToString();
    }

    /// <summary>A few held-out problems with the answer of every run.</summary>
    public static List<string[]> Examples(IReadOnlyList<RunResult> runs, int digits, int count)
    {
        var rows = new List<string[]> { new[] { "problem", "expected" }.Concat(runs.Select(run => run.Label)).ToArray() };
        var problems = runs[0].HeldOutProblems;
        for (int i = 0; i < Math.Min(count, problems.Count); i++)
        {
            var row = new List<string> { problems[i].Prompt(digits), problems[i].Answer(digits) };
            row.AddRange(runs.Select(run => run.HeldOutAnswers[i] + (run.HeldOutAnswers[i] == problems[i].Answer(digits) ? " ok" : " WRONG")));
            rows.Add(row.ToArray());
        }
        return rows;
    }

    /// <summary>Writes report.md, loss.png and loss.svg into <paramref name="folder"/> and returns the report's path.</summary>
    public static string Write(string folder, IReadOnlyList<RunResult> runs, string setup, string precisionPlan, int digits, SeedSummary? seeds = null)
    {
        Directory.CreateDirectory(folder);
        LossPlot.Save(runs, Path.Combine(folder, "loss.png"), Path.Combine(folder, "loss.svg"));
        var markdown = new StringBuilder();
        markdown.AppendLine("# TinyGpt: mixed precision vs fp32");
        markdown.AppendLine();
        markdown.AppendLine(setup);
        markdown.AppendLine();
        markdown.AppendLine("## Results");
        markdown.AppendLine();
        markdown.Append(MarkdownTable(Rows(runs)));
        markdown.AppendLine();
        markdown.AppendLine("Step time and tokens/s exclude the first 5 steps (allocation and kernel warm-up). Peak memory is the");
        markdown.AppendLine("process's resident high-water mark, reset before each run; it includes the loaded libtorch code,");
        markdown.AppendLine("so the difference between runs says more than the absolute values. Memory growth after warm-up is the");
        markdown.AppendLine("resident size at the end of training minus after the warm-up steps, each read after a full garbage");
        markdown.AppendLine("collection; the first run of a process also pays there for pools that later runs reuse, so a leak shows as");
        markdown.AppendLine("growth that rises with `--steps`. Tensors leaked is exact: TorchSharp's count of live tensors at the end");
        markdown.AppendLine("of training minus after the warm-up steps, 0 when every step frees what it made.");
        if (runs.Any(run => run.PeakDeviceBytes is not null))
        {
            markdown.AppendLine();
            markdown.AppendLine("Peak device memory is the CUDA device's memory in use (`cudaMemGetInfo`, sampled after every step): the");
            markdown.AppendLine("CUDA context plus libtorch's caching allocator, which keeps freed blocks, so it is the reserved peak. The");
            markdown.AppendLine("cache is not given back within a process (TorchSharp 0.107 has no `empty_cache`): a later run's figure is");
            markdown.AppendLine("at least the earlier run's, which is why the mixed run goes first.");
        }
        if (seeds is not null)
        {
            markdown.AppendLine();
            markdown.AppendLine($"## Fidelity over {seeds.Seeds} seeds");
            markdown.AppendLine();
            markdown.Append(MarkdownTable(seeds.Rows()));
            markdown.AppendLine();
            markdown.AppendLine(seeds.Verdict());
        }
        markdown.AppendLine();
        markdown.AppendLine("![training loss and loss scale](loss.png) ([SVG](loss.svg))");
        markdown.AppendLine();
        markdown.AppendLine("## Held-out problems");
        markdown.AppendLine();
        markdown.Append(MarkdownTable(Examples(runs, digits, 12)));
        if (precisionPlan.Length > 0)
        {
            markdown.AppendLine();
            markdown.AppendLine("## Precision plan (generated at compile time)");
            markdown.AppendLine();
            markdown.AppendLine("```");
            markdown.AppendLine(precisionPlan.TrimEnd());
            markdown.AppendLine("```");
        }
        string path = Path.Combine(folder, "report.md");
        File.WriteAllText(path, markdown.ToString());
        return path;
    }

    internal static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    internal static string SpeedRatio(double speedup) =>
        speedup >= 1 ? F(speedup, "F2") + "x faster" : F(1 / speedup, "F2") + "x slower";

    private static string Percent(double fraction) => F(100 * fraction, "+0.00;-0.00;0.00") + " %";

    private static string Megabytes(long bytes) => F(bytes / (1024.0 * 1024.0), "N0") + " MB";
}

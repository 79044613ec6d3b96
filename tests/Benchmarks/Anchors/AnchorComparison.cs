using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// Joins PrecisionDsl's anchor lines (<see cref="AnchorSteps"/>, <see cref="DeviceMemory"/>) with the PyTorch anchors'
/// (eng/cuda-bundle/anchor_*.py) into the Markdown tables of issues #15 and #17: step time mixed / PyTorch AMP
/// (target ≤ 0.90) and peak memory mixed / PyTorch AMP (≤ 1.0) and mixed / plain TorchSharp fp32 (≤ 0.6 where
/// activations dominate; the weight-dominated MLP ≤ 1.25, what persistent half copies cost by construction).
/// A missing side shows as n/a, so a partial run still prints what it measured.
/// </summary>
public static class AnchorComparison
{
    public const double StepTarget = 0.90, MemoryTargetVsPyTorch = 1.0, MemoryTargetVsFp32 = 0.6, MlpMemoryTargetVsFp32 = 1.25;

    public static int Run(IReadOnlyList<string> files, TextWriter output)
    {
        var missing = files.Where(file => !File.Exists(file)).ToArray();
        if (files.Count == 0 || missing.Length > 0)
        {
            Console.Error.WriteLine(files.Count == 0 ? "compare: name the JSON-line files to join" : $"compare: no such file: {string.Join(", ", missing)}");
            return 2;
        }
        output.Write(Markdown(files.SelectMany(File.ReadLines)));
        return 0;
    }

    /// <summary>The tables for the JSON lines of both sides, in any order.</summary>
    public static string Markdown(IEnumerable<string> lines)
    {
        var all = JsonLines.Read(lines).ToList();
        var ours = all.Where(IsOurs).ToList();
        var theirs = all.Where(line => !IsOurs(line)).ToList();
        var text = new StringBuilder();
        foreach (var env in all.Where(line => Text(line, "anchor") == "env"))
            text.AppendLine($"- {(IsOurs(env) ? "PrecisionDsl" : "PyTorch")}: {string.Join(", ", env.Where(p => p.Key is not ("anchor" or "source")).Select(p => $"{p.Key} {p.Value}"))}");
        text.AppendLine();
        StepTimes(text, ours, theirs);
        Memory(text, ours, theirs);
        foreach (var problem in all.Where(line => Text(line, "anchor") is "error" or "skipped"))
            text.AppendLine($"- {(IsOurs(problem) ? "PrecisionDsl" : "PyTorch")} {Text(problem, "anchor")}: {problem.ToJsonString()}");
        return text.ToString();
    }

    private static void StepTimes(StringBuilder text, List<JsonObject> ours, List<JsonObject> theirs)
    {
        string half = HalfName(ours.Concat(theirs));
        text.AppendLine($"### Step time, ms (median); mixed = {half}");
        text.AppendLine();
        text.AppendLine($"| workload | PrecisionDsl fp32 | PrecisionDsl {half} | PyTorch fp32 | PyTorch {half} AMP | PrecisionDsl / PyTorch AMP (target ≤ {StepTarget:F2}) |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        var rows = new List<(string Name, Func<List<JsonObject>, string, double?> Read)>
        {
            ("MLP inference", (lines, kind) => Field(lines, "mlp_infer", $"{kind}_ms")),
            ("MLP training step", (lines, kind) => Field(lines, "mlp_train", $"{kind}_ms")),
            ("transformer block training step", (lines, kind) => Field(lines, "block_train", $"{kind}_ms")),
        };
        foreach (string label in TinyGptLabels(ours, theirs))
            rows.Add(($"TinyGpt {label}", (lines, kind) => TinyGptField(lines, label, kind)));
        foreach (var (name, read) in rows)
            text.AppendLine($"| {name} | {Ms(read(ours, "fp32"))} | {Ms(read(ours, half))} | {Ms(read(theirs, "fp32"))} | {Ms(read(theirs, half))} | {Ratio(read(ours, half), read(theirs, half), StepTarget)} |");
        text.AppendLine();

        // Per-parameter optimizers on both sides: TorchSharp's AdamW vs PyTorch's AdamW(foreach=False).
        var perParameter = TinyGptLabels(ours, theirs)
            .Where(label => TinyGptField(ours, label, half + "_noforeach") is not null || TinyGptField(theirs, label, half + "_noforeach") is not null)
            .ToList();
        if (perParameter.Count == 0) return;
        text.AppendLine("Per-parameter AdamW on both sides (TorchSharp's AdamW; PyTorch `AdamW(foreach=False)`):");
        text.AppendLine();
        text.AppendLine($"| workload | PrecisionDsl fp32 | PrecisionDsl {half} | PyTorch fp32 | PyTorch {half} AMP | PrecisionDsl / PyTorch AMP |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (string label in perParameter)
        {
            double? ourHalf = TinyGptField(ours, label, half + "_noforeach"), theirHalf = TinyGptField(theirs, label, half + "_noforeach");
            text.AppendLine($"| TinyGpt {label}, per-parameter AdamW | {Ms(TinyGptField(ours, label, "fp32_noforeach"))} | {Ms(ourHalf)} | {Ms(TinyGptField(theirs, label, "fp32_noforeach"))} | {Ms(theirHalf)} | {Ratio(ourHalf, theirHalf, null)} |");
        }
        text.AppendLine();
    }

    private static void Memory(StringBuilder text, List<JsonObject> ours, List<JsonObject> theirs)
    {
        var memory = ours.Concat(theirs).Where(line => Text(line, "anchor") == "device_memory").ToList();
        if (memory.Count == 0) return;
        string half = HalfName(memory);
        var measures = memory.Select(line => Text(line, "measure")).Distinct().ToArray();
        text.AppendLine($"### Peak memory of a training step, MiB ({string.Join(", ", measures)}; each variant in its own process)");
        text.AppendLine();
        text.AppendLine($"| model | plain TorchSharp fp32 | PrecisionDsl fp32 | PrecisionDsl {half} | PyTorch fp32 | PyTorch {half} AMP | PrecisionDsl / PyTorch AMP (≤ {MemoryTargetVsPyTorch:F1}) | PrecisionDsl {half} / plain fp32 (≤ {MemoryTargetVsFp32:F1}; mlp ≤ {MlpMemoryTargetVsFp32:F2}) |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string model in memory.Select(line => Text(line, "model")!).Distinct())
        {
            double? Peak(List<JsonObject> side, string variant) => side
                .Where(line => Text(line, "anchor") == "device_memory" && Text(line, "model") == model && Text(line, "variant") == variant)
                .Select(line => Number(line, "peak_mib")).FirstOrDefault();
            double? plain = Peak(ours, "fp32_noforeach"), mixed = Peak(ours, half), theirMixed = Peak(theirs, half);
            text.AppendLine($"| {model} | {Mib(plain)} | {Mib(Peak(ours, "fp32"))} | {Mib(mixed)} | {Mib(Peak(theirs, "fp32"))} | {Mib(theirMixed)} | {Ratio(mixed, theirMixed, MemoryTargetVsPyTorch)} | {Ratio(mixed, plain, model == "mlp" ? MlpMemoryTargetVsFp32 : MemoryTargetVsFp32)} |");
        }
        text.AppendLine();
    }

    private static bool IsOurs(JsonObject line) => Text(line, "source") == JsonLines.Source;

    /// <summary>fp16 where either side measured it (CUDA), else bf16.</summary>
    private static string HalfName(IEnumerable<JsonObject> lines) =>
        lines.Any(line => line.Any(pair => pair.Key.StartsWith("fp16", StringComparison.Ordinal)) || Text(line, "variant") == "fp16") ? "fp16" : "bf16";

    private static IEnumerable<string> TinyGptLabels(List<JsonObject> ours, List<JsonObject> theirs) =>
        ours.Concat(theirs).Where(line => Text(line, "anchor") == "tinygpt_scaling")
            .OrderBy(line => Number(line, "config")).Select(line => Text(line, "label")!).Distinct();

    private static double? TinyGptField(List<JsonObject> lines, string label, string variant) => lines
        .Where(line => Text(line, "anchor") == "tinygpt_scaling" && Text(line, "label") == label && Text(line, "variant") == variant)
        .Select(line => Number(line, "ms")).FirstOrDefault();

    private static double? Field(List<JsonObject> lines, string anchor, string field) =>
        lines.Where(line => Text(line, "anchor") == anchor).Select(line => Number(line, field)).FirstOrDefault(value => value is not null);

    private static string? Text(JsonObject line, string key) => line[key] is JsonValue value && value.TryGetValue(out string? text) ? text : null;

    private static double? Number(JsonObject line, string key) => line[key] is JsonValue value && value.TryGetValue(out double number) ? number : null;

    private static string Ms(double? value) => value is { } ms ? ms.ToString("F2", CultureInfo.InvariantCulture) : "n/a";

    private static string Mib(double? value) => value is { } mib ? mib.ToString("F0", CultureInfo.InvariantCulture) : "n/a";

    private static string Ratio(double? numerator, double? denominator, double? target)
    {
        if (numerator is not { } a || denominator is not { } b || b <= 0) return "n/a";
        string ratio = (a / b).ToString("F2", CultureInfo.InvariantCulture);
        return target is { } limit ? $"{ratio} ({(a / b <= limit ? "met" : "not met")})" : ratio;
    }
}

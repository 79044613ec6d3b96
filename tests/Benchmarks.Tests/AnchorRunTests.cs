using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using PrecisionDsl.Benchmarks.Anchors;
using Xunit;

namespace PrecisionDsl.Benchmarks.Tests;

/// <summary>The anchor workloads seed the global RNG: one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "global RNG";
}

[Collection(GlobalRngCollection.Name)]
public class AnchorRunTests
{
    private static JsonObject[] Run(params string[] args)
    {
        var output = new StringWriter();
        Assert.Equal(0, AnchorSteps.Run(AnchorOptions.Parse(["--device", "cpu", "--iters", "2", "--warmup", "1", .. args]), output, TextWriter.Null));
        Assert.EndsWith("ANCHOR DONE", output.ToString().TrimEnd());
        return JsonLines.Read(output.ToString().Split('\n')).ToArray();
    }

    private static double Number(JsonObject line, string key) => line[key]!.GetValue<double>();

    [Fact]
    public void Every_workload_of_the_PyTorch_anchors_runs_fp32_and_mixed_with_both_optimizers()
    {
        var lines = Run();

        Assert.Equal(["env", "mlp_infer", "mlp_train", "block_train", "tinygpt_scaling", "tinygpt_scaling", "tinygpt_scaling", "tinygpt_scaling"],
            lines.Select(line => line["anchor"]!.GetValue<string>()));
        Assert.All(lines, line => Assert.Equal(JsonLines.Source, line["source"]!.GetValue<string>()));

        var inference = lines[1];
        Assert.InRange(Number(inference, "fp32_ms"), 1e-3, 1e4);
        Assert.InRange(Number(inference, "bf16_ms"), 1e-3, 1e4);
        // bf16 rounding (native bf16 kernels where the CPU has them), not a different model, whose error would be ~1.
        Assert.InRange(Number(inference, "bf16_max_rel_err"), 1e-6, 0.1);

        foreach (var training in lines[2..4])
        {
            foreach (string variant in new[] { "fp32", "bf16", "fp32_noforeach", "bf16_noforeach" })
                Assert.InRange(Number(training, $"{variant}_ms"), 1e-3, 1e4);
            // Same weights and batch: after 3 steps the variants' losses agree to bf16 precision.
            Assert.Equal(Number(training, "fp32_last_loss"), Number(training, "bf16_last_loss"), 0.05);
            Assert.Equal(Number(training, "fp32_last_loss"), Number(training, "fp32_noforeach_last_loss"), 1e-4);
        }

        var tinyGpt = lines[4..];
        Assert.Equal(["fp32", "bf16", "fp32_noforeach", "bf16_noforeach"], tinyGpt.Select(line => line["variant"]!.GetValue<string>()));
        Assert.All(tinyGpt, line => Assert.Equal("L2 d64 h4 b128 t11", line["label"]!.GetValue<string>()));
        Assert.Equal(Number(tinyGpt[0], "ms"), Number(tinyGpt[1], "fp32_ms"));        // fused AdamW: the fp32 step
        Assert.Equal(Number(tinyGpt[2], "ms"), Number(tinyGpt[3], "fp32_ms"));        // TorchSharp AdamW: its own fp32 step
        Assert.True(tinyGpt[1].ContainsKey("final_scale") && !tinyGpt[0].ContainsKey("final_scale"));
        Assert.InRange(Number(tinyGpt[1], "forward_max_rel_err"), 1e-6, 0.1);
    }

    [Fact]
    public void Once_the_budget_is_spent_the_remaining_workloads_are_reported_skipped()
    {
        var lines = Run("--budget-s", "0.000001");

        var skipped = lines.Where(line => line["anchor"]!.GetValue<string>() == "skipped").Select(line => line["workload"]!.GetValue<string>());
        Assert.Equal(["mlp_infer", "mlp_train", "block_train", "tinygpt config 0"], skipped);
    }

    [Fact]
    public void The_joined_table_shows_a_PrecisionDsl_only_run_with_PyTorch_not_available()
    {
        var output = new StringWriter();
        AnchorSteps.Run(AnchorOptions.Parse(["--device", "cpu", "--iters", "1", "--warmup", "1"]), output, TextWriter.Null);

        string row = AnchorComparison.Markdown(output.ToString().Split('\n')).Split('\n').Single(line => line.StartsWith("| TinyGpt L2 d64 h4 b128 t11 |", StringComparison.Ordinal));
        var cells = row.Split('|', StringSplitOptions.TrimEntries)[2..^1];
        Assert.True(double.Parse(cells[0], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.True(double.Parse(cells[1], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(["n/a", "n/a", "n/a"], cells[2..]);
    }
}

[Collection(GlobalRngCollection.Name)]
public class DeviceMemoryTests
{
    [Fact]
    public void A_memory_child_reports_the_context_the_setup_and_a_peak_above_them()
    {
        var output = new StringWriter();
        Assert.Equal(0, DeviceMemory.RunChild("L2", "bf16", AnchorOptions.Parse(["--device", "cpu"]), output));

        var line = JsonLines.Read(output.ToString().Split('\n')).Single();
        Assert.Equal(("device_memory", "L2", "bf16", "VmHWM"),
            (line["anchor"]!.GetValue<string>(), line["model"]!.GetValue<string>(), line["variant"]!.GetValue<string>(), line["measure"]!.GetValue<string>()));
        double context = line["context_mib"]!.GetValue<double>(), setup = line["setup_mib"]!.GetValue<double>(), peak = line["peak_mib"]!.GetValue<double>();
        Assert.True(context > 0 && setup >= context * 0.5 && peak >= setup, $"context {context}, setup {setup}, peak {peak}");
        Assert.Equal(102_348, line["params"]!.GetValue<long>());
    }

    [Fact]
    public void The_parent_runs_every_variant_in_a_child_process_and_forwards_its_line()
    {
        var output = new StringWriter();
        Assert.Equal(0, DeviceMemory.RunAll(AnchorOptions.Parse(["--device", "cpu", "--models", "L2"]), output, TextWriter.Null));

        var lines = JsonLines.Read(output.ToString().Split('\n')).ToArray();
        Assert.Equal(["fp32_noforeach", "fp32", "bf16", "bf16_noforeach"], lines.Select(line => line["variant"]!.GetValue<string>()));
        Assert.All(lines, line => Assert.Equal(("device_memory", "L2"), (line["anchor"]!.GetValue<string>(), line["model"]!.GetValue<string>())));
        // Each child is a process of its own: its context is measured before any model, so none starts from another's peak.
        Assert.All(lines, line => Assert.True(line["context_mib"]!.GetValue<double>() < line["peak_mib"]!.GetValue<double>()));
    }

    [Theory]
    [InlineData("L5", "bf16", "L5")]
    [InlineData("mlp", "fp64", "fp64")]
    public void An_unknown_model_or_variant_is_named(string model, string variant, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => DeviceMemory.RunChild(model, variant, AnchorOptions.Parse(["--device", "cpu"]), TextWriter.Null));
        Assert.Contains(named, error.Message);
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// The PyTorch anchors' workloads (eng/cuda-bundle/anchor_mlp_block.py, anchor_tinygpt.py) in PrecisionDsl, timed the
/// same way — warm-up, then the median of N iterations, variants interleaved every iteration, the device synchronised
/// before each clock read — and printed in their JSON-line format, so <see cref="AnchorComparison"/> can put both in
/// one table. Run both in one session on one machine: only ratios measured side by side mean anything.
/// </summary>
public static class AnchorSteps
{
    public static int Run(AnchorOptions options, TextWriter output, TextWriter progress)
    {
        var clock = Stopwatch.StartNew();
        JsonLines.Emit(output, "env", new Dictionary<string, object?>
        {
            ["device"] = options.OnCuda ? "cuda" : "cpu",
            ["cpu"] = Machine.CpuModel(),
            ["mixed"] = options.MixedName,
            ["size"] = options.Large ? "large" : "small",
            // The CPU's kernel choices (a self-test) say nothing about a CUDA run, which always runs native kernels.
            ["kernels"] = options.OnCuda ? "native" : string.Join("; ", PrecisionPolicy.KernelChoices.Select(choice => choice.ToString())),
            ["commit"] = Environment.GetEnvironmentVariable("PDSL_COMMIT"),
        });

        var workloads = new List<(string Name, Action Run)>
        {
            ("mlp_infer", () => MlpInference(options, output)),
            ("mlp_train", () => Training(TrainWorkload.Mlp(options), options, output)),
            ("block_train", () => Training(TrainWorkload.Block(options), options, output)),
        };
        workloads.AddRange(options.Configs.Select(index => ($"tinygpt config {index}", (Action)(() => TinyGpt(index, options, output)))));
        foreach (var (name, run) in workloads)
        {
            if (clock.Elapsed.TotalSeconds > options.BudgetSeconds)
            {
                JsonLines.Emit(output, "skipped", [new("workload", name), new("reason", "budget")]);
                continue;
            }

            var started = clock.Elapsed;
            try
            {
                run();
            }
            catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException)
            {
                // Out of device memory and the like: report it and go on with the next workload.
                JsonLines.Emit(output, "error", [new("workload", name), new("message", $"{e.GetType().Name}: {e.Message}")]);
            }
            finally
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            progress.WriteLine($"{name}: {(clock.Elapsed - started).TotalSeconds:F0} s");
        }

        output.WriteLine("ANCHOR DONE");
        return 0;
    }

    /// <summary>anchor_mlp_block.py's inference forward: the fp32 [Forward] method vs the generated forward, no_grad.</summary>
    private static void MlpInference(AnchorOptions options, TextWriter output)
    {
        var (inputs, inner, outputs, batch) = TrainWorkload.MlpShape(options);
        manual_seed(11);
        using var fp32 = new AnchorMlp(inputs, inner, outputs);
        manual_seed(11);
        using var mixed = new AnchorMlp(inputs, inner, outputs);
        foreach (var model in new[] { fp32, mixed })
        {
            model.to(options.Device);
            model.eval();
        }
        using var x = randn(batch, inputs, device: options.Device);
        using var noGrad = no_grad();
        var times = Interleave(
            [
                _ => { using var scope = NewDisposeScope(); fp32.ForwardFp32(x); },
                _ => { using var scope = NewDisposeScope(); mixed.call(x); },
            ],
            options.Warmup ?? 5, options.Iterations ?? 20, options);

        double error;
        using (NewDisposeScope())
        {
            var reference = fp32.ForwardFp32(x);
            var result = mixed.call(x).to(ScalarType.Float32);
            error = (result - reference).abs().max().item<float>() / reference.abs().max().item<float>();
        }
        string half = options.MixedName;
        JsonLines.Emit(output, "mlp_infer", new Dictionary<string, object?>
        {
            ["fp32_ms"] = Median(times[0]), ["fp32_min_ms"] = times[0].Min(),
            [$"{half}_ms"] = Median(times[1]), [$"{half}_min_ms"] = times[1].Min(),
            [$"{half}_max_rel_err"] = error,
            [$"speedup_{half}"] = Median(times[0]) / Median(times[1]),
        });
    }

    /// <summary>anchor_mlp_block.py's training rows: one line with every variant's fields, as the PyTorch anchor prints them.</summary>
    private static void Training(TrainWorkload workload, AnchorOptions options, TextWriter output)
    {
        var variants = workload.AllVariants(options);
        try
        {
            var results = new TrainStepResult[variants.Count];
            var times = Interleave(variants.Select((variant, v) => (Action<bool>)(_ => results[v] = variant.Step())).ToArray(),
                options.Warmup ?? 5, options.Iterations ?? 20, options);
            var fields = new Dictionary<string, object?>();
            for (int v = 0; v < variants.Count; v++)
            {
                string kind = variants[v].Name;
                fields[$"{kind}_ms"] = Median(times[v]);
                fields[$"{kind}_min_ms"] = times[v].Min();
                fields[$"{kind}_last_loss"] = results[v].Loss;
                if (variants[v].Scaler is { } scaler)
                {
                    fields[$"{kind}_final_scale"] = scaler.CurrentScale;
                    fields[$"speedup_{kind}"] = Median(times[BaselineOf(variants, v)]) / Median(times[v]);
                }
            }
            JsonLines.Emit(output, workload.Name, fields);
        }
        finally
        {
            foreach (var variant in variants) variant.Dispose();
        }
    }

    /// <summary>anchor_tinygpt.py's rows: one line per variant, with the loss-scale skips during the timed steps.</summary>
    private static void TinyGpt(int index, AnchorOptions options, TextWriter output)
    {
        var shape = TinyGptShape.All[index];
        var workload = TrainWorkload.TinyGpt(shape, options);
        var variants = workload.AllVariants(options);
        try
        {
            int warmup = options.Warmup ?? 10, iterations = options.Iterations ?? 30;
            var results = new TrainStepResult[variants.Count];
            var skipped = new int[variants.Count];
            var times = Interleave(variants.Select((variant, v) => (Action<bool>)(timed =>
            {
                results[v] = variant.Step();
                if (timed && !results[v].Stepped) skipped[v]++;
            })).ToArray(), warmup, iterations, options);
            long parameters = variants[0].Model.parameters().Sum(p => p.numel());

            for (int v = 0; v < variants.Count; v++)
            {
                double baseline = Median(times[BaselineOf(variants, v)]), median = Median(times[v]);
                var fields = new Dictionary<string, object?>
                {
                    ["config"] = index, ["label"] = shape.Label, ["layers"] = shape.Layers, ["width"] = shape.Width,
                    ["heads"] = shape.Heads, ["batch"] = shape.Batch, ["ctx"] = shape.Context, ["vocab"] = TinyGptShape.Vocabulary,
                    ["params"] = parameters, ["variant"] = variants[v].Name, ["ms"] = median, ["min_ms"] = times[v].Min(),
                    ["fp32_ms"] = baseline, ["ratio_over_fp32"] = median / baseline, ["iters"] = iterations, ["warmup"] = warmup,
                    ["last_loss"] = results[v].Loss, ["skipped_in_timed"] = skipped[v],
                    ["tokens_per_s"] = shape.Batch * shape.Context / (median / 1000.0),
                };
                if (variants[v].Scaler is { } scaler)
                {
                    fields["final_scale"] = scaler.CurrentScale;
                    fields["forward_max_rel_err"] = workload.ForwardRelativeError(variants[v].Model);
                }
                JsonLines.Emit(output, "tinygpt_scaling", fields);
            }
        }
        finally
        {
            foreach (var variant in variants) variant.Dispose();
        }
    }

    /// <summary>The fp32 variant a variant is compared with: fp32 for the fused optimizer, fp32_noforeach for TorchSharp's.</summary>
    private static int BaselineOf(IReadOnlyList<TrainVariant> variants, int v)
    {
        string baseline = variants[v].Name.EndsWith("_noforeach", StringComparison.Ordinal) ? "fp32_noforeach" : "fp32";
        return variants.Select((variant, i) => (variant, i)).First(pair => pair.variant.Name == baseline).i;
    }

    /// <summary>
    /// Times every step once per iteration, in turn; the first <paramref name="warmup"/> iterations are not kept. A step
    /// is told whether it is timed.
    /// </summary>
    private static List<double>[] Interleave(IReadOnlyList<Action<bool>> steps, int warmup, int iterations, AnchorOptions options)
    {
        var times = steps.Select(_ => new List<double>(iterations)).ToArray();
        var watch = new Stopwatch();
        for (int i = 0; i < warmup + iterations; i++)
        {
            for (int v = 0; v < steps.Count; v++)
            {
                Synchronize(options);
                watch.Restart();
                steps[v](i >= warmup);
                Synchronize(options);
                if (i >= warmup) times[v].Add(watch.Elapsed.TotalMilliseconds);
            }
        }
        return times;
    }

    private static void Synchronize(AnchorOptions options)
    {
        if (options.OnCuda) cuda.synchronize();
    }

    internal static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

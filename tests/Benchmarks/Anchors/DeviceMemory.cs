using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyGpt;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// Peak memory of a training step, each model and variant in its own process, as issue #17's table reads it: on CUDA
/// the device memory in use (<c>cudaMemGetInfo</c>, total - free: the CUDA context, libtorch's caching allocator,
/// which keeps what a step reserved at its peak, and other processes; TorchSharp 0.107 has no allocator statistics)
/// read after setup and after each of 3 warm-up + 10 steps; on CPU the resident high-water mark (VmHWM).
/// eng/cuda-bundle/anchor_common.py (the anchors' --memory) measures PyTorch the same way, and <see cref="AnchorComparison"/> joins the two.
/// </summary>
public static class DeviceMemory
{
    private const int Steps = 13;

    /// <summary>Runs every (model, variant) pair in a child process and prints each child's JSON line.</summary>
    public static int RunAll(AnchorOptions options, TextWriter output, TextWriter progress)
    {
        var models = options.Models ?? (options.Large ? ["mlp", "L6", "L8"] : ["mlp", "L2"]);
        // fp32_noforeach is the plain TorchSharp fp32 step (TorchSharp's AdamW): the issue's baseline.
        string[] variants = ["fp32_noforeach", "fp32", options.MixedName, options.MixedName + "_noforeach"];
        int failures = 0;
        foreach (string model in models)
        {
            foreach (string variant in variants)
            {
                var (exitCode, childOutput) = ChildProcess.Run(["device-memory-child", model, variant, .. options.ToArguments()]);
                var line = JsonLines.Read(childOutput.Split('\n')).FirstOrDefault();
                if (exitCode != 0 || line is null)
                {
                    failures++;
                    JsonLines.Emit(output, "error", [new("workload", $"device_memory {model} {variant}"), new("message", $"child exited {exitCode}")]);
                    continue;
                }
                output.WriteLine(line.ToJsonString());
                progress.WriteLine($"device memory {model} {variant}: peak {line["peak_mib"]} MiB");
            }
        }
        return failures == 0 ? 0 : 1;
    }

    /// <summary>In the child: one model and variant; prints one <c>device_memory</c> JSON line (MiB).</summary>
    public static int RunChild(string model, string variant, AnchorOptions options, TextWriter output)
    {
        bool onCuda = options.OnCuda;
        // The context (and libtorch's CPU code pages) before any model: what every variant pays.
        using (zeros(1, device: options.Device)) { }
        long context = Used(onCuda);
        var workload = model == "mlp"
            ? TrainWorkload.Mlp(options)
            : TrainWorkload.TinyGpt(TinyGptShape.All.FirstOrDefault(shape => shape.Id == model)
                ?? throw new ArgumentException($"model '{model}': expected mlp or one of {string.Join(", ", TinyGptShape.All.Select(s => s.Id))}"), options);
        bool mixed = variant.StartsWith(options.MixedName, StringComparison.Ordinal);
        if (!mixed && !variant.StartsWith("fp32", StringComparison.Ordinal))
            throw new ArgumentException($"variant '{variant}': expected fp32, {options.MixedName}, or either with _noforeach");
        using var run = workload.Variant(variant, mixed, torchSharpAdamW: variant.EndsWith("_noforeach", StringComparison.Ordinal), options.Device);
        long setup = Used(onCuda), peak = setup;
        double loss = double.NaN;
        for (int step = 0; step < Steps; step++)
        {
            loss = run.Step().Loss;
            if (onCuda) cuda.synchronize();
            peak = Math.Max(peak, Used(onCuda));
        }
        if (!onCuda) peak = MemoryProbe.Status("VmHWM:");

        JsonLines.Emit(output, "device_memory", new Dictionary<string, object?>
        {
            ["model"] = model, ["variant"] = variant, ["measure"] = onCuda ? "cudaMemGetInfo" : "VmHWM",
            ["context_mib"] = Mib(context), ["setup_mib"] = Mib(setup), ["peak_mib"] = Mib(peak),
            ["params"] = run.Model.parameters().Sum(p => p.numel()), ["steps"] = Steps, ["last_loss"] = loss,
        });
        return 0;
    }

    private static long Used(bool onCuda) =>
        onCuda ? CudaMemory.UsedBytes() ?? throw new InvalidOperationException("cudaMemGetInfo is not available (libcudart not found)")
        : MemoryProbe.Status("VmRSS:");

    private static double Mib(long bytes) => bytes / (1024.0 * 1024.0);
}

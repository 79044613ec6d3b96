using System;
using System.Globalization;
using System.IO;
using System.Linq;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// Peak memory of a training step, mixed vs fp32. BenchmarkDotNet's memory diagnoser sees only the
/// managed heap, and libtorch allocates natively, so each variant runs in a fresh child process and
/// reports the kernel's resident high-water mark (VmHWM) after setup and after a few steps. Run with
/// MALLOC_MMAP_THRESHOLD_=131072 so glibc returns freed tensor memory at once and the peak is the live peak;
/// PDSL_MEMORY_BATCH sets the attention probe's batch (default 16).
/// <para>Two figures per variant. <i>Cold</i>: the first <see cref="Steps"/> steps' peak over the RSS after setup,
/// as measured since the first runs; it also counts what the first step loads once (17-19 MB of libtorch's code
/// pages on the attention block, about the same in every variant, which makes the variants' ratios look closer than
/// their tensors are). <i>Warm</i>: the peak of <see cref="Steps"/> more steps over the RSS just before them (VmHWM
/// reset through /proc/self/clear_refs, as PyTorch-side measurements run warm-up steps first): what a step in
/// steady state adds on top of the persistent buffers (parameters, gradients, optimizer state).</para>
/// </summary>
public static class MemoryProbe
{
    private const int Steps = 2;

    private static readonly (string Name, Func<Func<double>> Prepare)[] Variants =
    [
        ("MLP fp32", () => { var b = new MlpStep(); b.Setup(); return b.Fp32; }),
        ("MLP bf16 generated", () => { var b = new MlpStep(); b.Setup(); return b.GeneratedMixed; }),
        ("MLP bf16 hand-written", () => { var b = new MlpStep(); b.Setup(); return b.HandWrittenMixed; }),
        // With AdamW's 8 bytes of state per parameter, the (#17) comparison: fp32 16 bytes per parameter.
        ("MLP fp32 AdamW", () => { var b = new MlpStep { Optimizer = MlpStep.Optimizers.AdamW }; b.Setup(); return b.Fp32; }),
        ("MLP bf16 generated AdamW", () => { var b = new MlpStep { Optimizer = MlpStep.Optimizers.AdamW }; b.Setup(); return b.GeneratedMixed; }),
        ("MLP bf16 generated fused AdamW", () => { var b = new MlpStep { Optimizer = MlpStep.Optimizers.FusedAdamW }; b.Setup(); return b.GeneratedMixed; }),
        ("GptBlock fp32", () => { var b = new GptBlockStep(); b.Setup(); return b.Fp32; }),
        ("GptBlock bf16 generated", () => { var b = new GptBlockStep(); b.Setup(); return b.GeneratedMixed; }),
        ("GptBlock bf16 hand-written", () => { var b = new GptBlockStep(); b.Setup(); return b.HandWrittenMixed; }),
        // Activation-heavy (context 256): what the generated forward's liveness pass frees early shows here.
        ("Attention fp32 plain", () => new AttentionStep().PlainFp32()),
        ("Attention fp32 generated", () => new AttentionStep().GeneratedFp32()),
        ("Attention bf16 generated", () => new AttentionStep().GeneratedBf16()),
    ];

    /// <summary>Runs every variant in its own process and prints a Markdown table.</summary>
    public static int RunAll()
    {
        Console.WriteLine($"| variant | RSS after setup | peak RSS over {Steps} steps | peak - setup (cold) | peak - RSS before, {Steps} more steps (warm) |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (name, _) in Variants)
        {
            var (exitCode, output) = ChildProcess.Run(["memory-child", name]);
            string[] fields = output.Trim().Split(' ');
            if (exitCode != 0 || fields.Length != 4) return Fail($"{name}: child exited {exitCode}");
            long[] bytes = Array.ConvertAll(fields, field => long.Parse(field, CultureInfo.InvariantCulture));
            (long setup, long peak, long warmBase, long warmPeak) = (bytes[0], bytes[1], bytes[2], bytes[3]);
            string warm = warmBase < 0 ? "n/a" : Mb(warmPeak - warmBase);
            Console.WriteLine($"| {name} | {Mb(setup)} | {Mb(peak)} | {Mb(peak - setup)} | {warm} |");
        }
        return 0;
    }

    /// <summary>
    /// In the child: set up one variant, record RSS, run the steps (cold), then again from a reset high-water mark
    /// (warm); print "setupBytes coldPeakBytes warmBaseBytes warmPeakBytes" (the warm pair -1 where the reset is not supported).
    /// </summary>
    public static int RunChild(string name)
    {
        var variant = Variants.FirstOrDefault(v => v.Name == name);
        if (variant.Prepare is null) return Fail($"unknown variant '{name}'");
        var step = variant.Prepare();
        GC.Collect();
        long setup = Status("VmRSS:");
        for (int i = 0; i < Steps; i++) step();
        long coldPeak = Status("VmHWM:");
        GC.Collect();
        long warmBase = Status("VmRSS:"), warmPeak = -1;
        if (ResetPeak())
        {
            for (int i = 0; i < Steps; i++) step();
            warmPeak = Status("VmHWM:");
        }
        else
        {
            warmBase = -1;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{setup} {coldPeak} {warmBase} {warmPeak}"));
        return 0;
    }

    /// <summary>Sets VmHWM to the current RSS; false where the kernel does not support it.</summary>
    private static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A byte count from /proc/self/status: VmRSS (resident now) or VmHWM (resident high-water mark).</summary>
    internal static long Status(string key) =>
        long.Parse(File.ReadLines("/proc/self/status").First(line => line.StartsWith(key, StringComparison.Ordinal))[key.Length..]
            .Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;

    private static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):F0} MB");

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 1;
    }
}

using System;
using System.Globalization;

namespace TinyGpt;

public enum SizeChoice { Auto, Tiny, Small, Medium, Large }

/// <summary>
/// A model size and the task it learns. Each sequence packs <see cref="ProblemsPerSequence"/> independent
/// fixed-width addition problems, so the context grows with the size while every problem stays learnable;
/// the operands grow too (3 to 6 digits). The structures match the PyTorch anchor's TinyGpt configs
/// (eng/cuda-bundle), whose contexts 11/64/128/256 these approach (11/59/125/251).
/// </summary>
public sealed record SampleSize(
    string Name, int Layers, int Width, int Heads, int BatchSize, int Digits, int ProblemsPerSequence,
    int Steps, double LearningRate)
{
    // Step counts are sized from the H200 step times (BENCHMARKS.md): medium ~1 minute, large ~2.5 minutes for both
    // runs. Small learns its task in its 400 steps on a CPU (BENCHMARKS.md); medium and large are not yet verified.
    public static readonly SampleSize Tiny = new("tiny", 2, 64, 4, 128, 3, 1, 900, 3e-3);
    public static readonly SampleSize Small = new("small", 4, 256, 4, 128, 4, 4, 400, 1e-3);
    public static readonly SampleSize Medium = new("medium", 6, 512, 8, 64, 5, 7, 1000, 6e-4);
    public static readonly SampleSize Large = new("large", 8, 1024, 16, 32, 6, 12, 800, 3e-4);

    /// <summary>Characters of one problem: two operands, '+', '=' and the answer (one digit longer).</summary>
    public int ProblemLength => 3 * Digits + 3;

    /// <summary>Input positions per sequence: the packed problems without the last character.</summary>
    public int Context => ProblemsPerSequence * ProblemLength - 1;

    public static SampleSize Of(SizeChoice choice) => choice switch
    {
        SizeChoice.Tiny => Tiny,
        SizeChoice.Small => Small,
        SizeChoice.Medium => Medium,
        SizeChoice.Large => Large,
        _ => throw new ArgumentOutOfRangeException(nameof(choice), choice, "a concrete size"),
    };

    /// <summary>How long the default run of both precisions may train on a CPU whose half kernels are fast.</summary>
    public static readonly TimeSpan CpuTrainingBudget = TimeSpan.FromMinutes(3);

    /// <summary>
    /// The size the hardware pays for, and why: mixed precision only saves time where half kernels are fast,
    /// and only once the step is compute-bound rather than launch-bound (on an H200 the tiny step is 1.4x
    /// slower mixed, large 3.5x faster). On a CPU with native half Linear kernels, small is chosen only when
    /// <paramref name="timeStep"/> (milliseconds per step of each precision) shows mixed faster there and both runs'
    /// <paramref name="steps"/> (default: the size's) fit <see cref="CpuTrainingBudget"/>: a CPU's core count
    /// decides that, and on 2 cores small's 400 steps take about 12 minutes in fp32.
    /// </summary>
    public static (SampleSize Size, string Reason) Choose(
        bool cuda, bool cpuNativeHalfLinear, int? steps, Func<SampleSize, (double MixedMilliseconds, double Fp32Milliseconds)> timeStep)
    {
        if (cuda) return (Large, "CUDA: half kernels are fast and the large step is compute-bound (H200: 3.5x faster mixed)");
        if (!cpuNativeHalfLinear)
            return (Tiny, "this CPU has no fast half kernels (products run widened at about fp32 speed), so a larger model would only take longer");

        var (mixedMs, fp32Ms) = timeStep(Small);
        var training = TimeSpan.FromMilliseconds((steps ?? Small.Steps) * (mixedMs + fp32Ms));
        string measured = string.Create(CultureInfo.InvariantCulture,
            $"this CPU runs half Linear kernels natively and a timed step of small took {mixedMs:F0} ms mixed, {fp32Ms:F0} ms fp32");
        if (mixedMs >= fp32Ms) return (Tiny, measured + ": mixed does not gain at small here, so the quicker tiny");
        string minutes = string.Create(CultureInfo.InvariantCulture, $"{training.TotalMinutes:F1} minutes");
        return training <= CpuTrainingBudget
            ? (Small, $"{measured}: mixed gains and both runs train in about {minutes}")
            : (Tiny, $"{measured}, but both runs would train for about {minutes} (over {CpuTrainingBudget.TotalMinutes:F0}), so tiny");
    }

    /// <summary>Width/heads/batch/layers/context overrides; the context holds as many whole problems as fit.</summary>
    public SampleSize With(int? layers, int? width, int? heads, int? batchSize, int? context)
    {
        int problems = context is { } positions ? Math.Max(1, (positions + 1) / ProblemLength) : ProblemsPerSequence;
        var size = this with
        {
            Layers = layers ?? Layers, Width = width ?? Width, Heads = heads ?? Heads, BatchSize = batchSize ?? BatchSize,
            ProblemsPerSequence = problems,
        };
        if (size.Width % size.Heads != 0)
            throw new ArgumentException($"width {size.Width} is not a multiple of heads {size.Heads}");
        return size == this ? this : size with { Name = Name + " (custom)" };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Layers} layers, width {Width}, {Heads} heads, batch {BatchSize}, context {Context} ({ProblemsPerSequence} x {Digits}-digit addition)");
}
